//! The SLO and invariant store's own `redb` file (`<data dir>/ops.redb`), when no
//! Postgres is configured.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_ops::OpsStore;
use inquest_store_embedded::EmbeddedOpsStore;

use super::{Backend, Context, Parts, Port, plain};

pub struct OpsFile;

pub fn ops_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("ops.redb")
}

#[async_trait]
impl Backend for OpsFile {
    fn name(&self) -> &'static str {
        "ops file"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![Port::Ops] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        let path = ops_path(cx.settings);
        let store =
            EmbeddedOpsStore::open(&path).with_context(|| format!("opening the ops store at {}", path.display()))?;
        parts.ops = Some(Arc::new(store));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = ops_path(cx.settings);
        let label = Port::Ops.label();
        let result = match EmbeddedOpsStore::open(&path) {
            Ok(store) => store.check_connectivity().await.and_then(|()| store.schema_version()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                println!("{label}embedded {} (schema version {v}): ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, "the ops store"));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
                false
            }
        }
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let path = ops_path(cx.settings);
        let store =
            EmbeddedOpsStore::open(&path).with_context(|| format!("opening the ops store at {}", path.display()))?;
        println!("ops store {} is at schema version {}", path.display(), store.schema_version()?);
        Ok(())
    }
}
