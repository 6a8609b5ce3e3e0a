//! Neo4j: the topology port, when `neo4j.url` is set.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::{ServiceUrl, Settings};
use inquest_ports::StoreError;
use inquest_store_neo4j::Neo4jStore;

use super::{Backend, Context, Parts, Port, report_server};

pub struct Neo4j;

fn url(settings: &Settings) -> ServiceUrl {
    settings.neo4j.url.clone().unwrap_or_else(|| ServiceUrl::new(""))
}

async fn connect(settings: &Settings) -> Result<Neo4jStore, StoreError> {
    let n = &settings.neo4j;
    let user = n.user.as_deref().unwrap_or("neo4j");
    let password = n.password.as_ref().map(|p| p.expose()).unwrap_or_default();
    Neo4jStore::connect(url(settings).expose(), user, password).await
}

#[async_trait]
impl Backend for Neo4j {
    fn name(&self) -> &'static str {
        "neo4j"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.neo4j.url.is_some() { vec![Port::Topology] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        parts.topology = Some(match connect(cx.settings).await {
            Ok(store) => Arc::new(store),
            // A Neo4j that is down at start-up still lets investigations run: every
            // topology call then reports the connection error as an evidence gap.
            Err(e) => {
                tracing::warn!(store = "neo4j", url = %url(cx.settings), error = %e, "topology store unreachable; investigations will record a gap");
                Arc::new(inquest_ports::DownTopology::new(e))
            }
        });
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let url = url(cx.settings);
        let result = match connect(cx.settings).await {
            Ok(s) => inquest_ports::TopologyStore::check_connectivity(&s).await,
            Err(e) => Err(e),
        };
        report_server(Port::Topology, &format!("neo4j {url}"), &format!("neo4j at {url}"), result)
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let url = url(cx.settings);
        let store = connect(cx.settings).await.with_context(|| format!("connecting to neo4j at {url}"))?;
        store.migrate().await.with_context(|| format!("migrating neo4j at {url}"))?;
        println!("neo4j {url}: constraints up to date");
        Ok(())
    }
}
