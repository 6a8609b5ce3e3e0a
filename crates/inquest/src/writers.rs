//! Which report writer and embedder the binary uses: the LLM and a real embedding
//! model when configured (`INQUEST_LLM_*`, `INQUEST_EMBED_*`), the template report
//! and the hash embedder otherwise.

use std::sync::Arc;

use inquest_core::ReportWriter;
use inquest_embed::{EmbedSettings, embedder_from_settings};
use inquest_llm::LlmReport;
use inquest_ports::{Embedder, HashEmbedder, Stores};

/// The LLM report writer when an endpoint is configured; it saves the template
/// report (marked with a `fallback_reason`) when none is or when it fails.
pub fn report_writer() -> Arc<dyn ReportWriter> {
    let writer = LlmReport::from_env();
    if writer.is_configured() {
        eprintln!("reports: written by the LLM endpoint in INQUEST_LLM_BASE_URL, citations checked");
    }
    Arc::new(writer)
}

/// The configured embedder; says on stderr which one it is.
pub async fn embedder() -> Arc<dyn Embedder> {
    match EmbedSettings::from_env() {
        Ok(settings) => {
            let (e, message) = embedder_from_settings(&settings).await;
            eprintln!("{message}");
            e
        }
        Err(err) => {
            eprintln!("embeddings: {err}; using the hash embedder");
            Arc::new(HashEmbedder::default())
        }
    }
}

/// `stores` with the configured embedder.
pub async fn with_embedder(mut stores: Stores) -> Stores {
    stores.embedder = embedder().await;
    stores
}
