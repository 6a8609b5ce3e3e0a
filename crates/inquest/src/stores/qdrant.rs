//! Qdrant: the semantic port, when `qdrant.url` is set. Its collections are sized
//! for the configured embedder.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::{ServiceUrl, Settings};
use inquest_ports::{SemanticStore, StoreError};
use inquest_store_qdrant::QdrantStore;

use super::{Backend, Context, Parts, Port, report_server};

pub struct Qdrant;

fn url(settings: &Settings) -> ServiceUrl {
    settings.qdrant.url.clone().unwrap_or_else(|| ServiceUrl::new(""))
}

fn store(settings: &Settings) -> Result<QdrantStore, StoreError> {
    QdrantStore::new(url(settings).expose(), settings.qdrant.api_key.as_ref().map(|k| k.expose().to_string()))
}

#[async_trait]
impl Backend for Qdrant {
    fn name(&self) -> &'static str {
        "qdrant"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.qdrant.url.is_some() { vec![Port::Semantic] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        let store = store(cx.settings).with_context(|| format!("qdrant at {}", url(cx.settings)))?;
        parts.semantic = Some(Arc::new(store));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let url = url(cx.settings);
        let result = match store(cx.settings) {
            Ok(s) => s.check_connectivity().await,
            Err(e) => Err(e),
        };
        report_server(Port::Semantic, &format!("qdrant {url}"), &format!("qdrant at {url}"), result)
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let url = url(cx.settings);
        let store = store(cx.settings).with_context(|| format!("qdrant at {url}"))?;
        let dim = cx.embedder().await.dim();
        for c in inquest_domain::collections::ALL {
            store.ensure_collection(c, dim).await.with_context(|| format!("qdrant at {url}: collection {c}"))?;
        }
        println!("qdrant {url}: collections {} ready ({dim} dimensions)", inquest_domain::collections::ALL.join(", "));
        Ok(())
    }
}
