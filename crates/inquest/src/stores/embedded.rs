//! The embedded store: one `redb` file (`<data dir>/inquest.redb`) serving every
//! evidence port that has no server configured, opened once per command.

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;

use super::{Backend, Context, Parts, Port, embedded_path, plain};

pub struct Embedded;

#[async_trait]
impl Backend for Embedded {
    fn name(&self) -> &'static str {
        "embedded store"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        [
            (Port::Records, settings.postgres.url.is_none()),
            (Port::Metrics, settings.clickhouse.url.is_none()),
            (Port::Topology, settings.neo4j.url.is_none()),
            (Port::Semantic, settings.qdrant.url.is_none()),
        ]
        .into_iter()
        .filter_map(|(port, embedded)| embedded.then_some(port))
        .collect()
    }

    async fn build(&self, cx: &mut Context<'_>, ports: &[Port], parts: &mut Parts) -> Result<()> {
        let path = embedded_path(cx.settings);
        let store = cx.embedded().with_context(|| format!("opening the embedded store at {}", path.display()))?;
        for port in ports {
            match port {
                Port::Records => parts.records = Some(store.clone()),
                Port::Metrics => parts.metrics = Some(store.clone()),
                Port::Topology => parts.topology = Some(store.clone()),
                Port::Semantic => parts.semantic = Some(store.clone()),
                Port::Intake | Port::Access | Port::Ops | Port::Tickets | Port::Oncall | Port::Notify => {}
            }
        }
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, ports: &[Port]) -> bool {
        let path = embedded_path(cx.settings);
        let ok = match cx.embedded() {
            Ok(store) => match store.schema_version() {
                Ok(v) => {
                    println!("embedded store: {} (schema version {v}): ok", path.display());
                    true
                }
                Err(e) => {
                    println!("embedded store: {}: {}", path.display(), plain(&e, "the embedded store"));
                    false
                }
            },
            Err(e) => {
                println!("embedded store: {}: {}", path.display(), plain(&e, "the embedded store"));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
                false
            }
        };
        for port in ports {
            println!("{}embedded", port.label());
        }
        ok
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let path = embedded_path(cx.settings);
        let store = cx.embedded().with_context(|| format!("opening the embedded store at {}", path.display()))?;
        println!("embedded store {} is at schema version {}", path.display(), store.schema_version()?);
        Ok(())
    }
}
