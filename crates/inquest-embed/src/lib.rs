//! Embedders behind `inquest_ports::Embedder`: all-MiniLM-L6-v2 run locally with
//! candle, or an OpenAI-compatible `/v1/embeddings` endpoint; the hash embedder
//! stays the default when neither is available.

mod index;
pub mod minilm;
mod openai;
mod settings;

use std::sync::Arc;

use inquest_ports::{Embedder, HashEmbedder};

pub use index::index_resolved_incident;
pub use minilm::MiniLmEmbedder;
pub use openai::OpenAiEmbedder;
pub use settings::EmbedSettings;

/// Errors of the embedders.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedder settings: {0}")]
    Settings(String),
    #[error("model files: {0}")]
    Files(String),
    #[error("checksum mismatch for {file}: expected {expected}, got {actual}")]
    Checksum { file: String, expected: String, actual: String },
    #[error("model: {0}")]
    Model(String),
    #[error("embedding endpoint: {0}")]
    Remote(String),
}

/// The embedder the settings ask for, and a sentence saying which one it is (and,
/// for the hash fallback, how to get the real model).
pub async fn embedder_from_settings(settings: &EmbedSettings) -> (Arc<dyn Embedder>, String) {
    if settings.base_url.is_some() {
        match OpenAiEmbedder::connect(settings).await {
            Ok(e) => {
                let msg = format!("embeddings: {} over the configured endpoint ({} dims)", e.model(), e.dim());
                return (Arc::new(e), msg);
            }
            Err(err) => {
                return (
                    Arc::new(HashEmbedder::default()),
                    format!("embeddings: the configured endpoint failed ({err}); using the hash embedder"),
                );
            }
        }
    }
    if let Some(dir) = settings.local_dir()
        && (minilm::resolve_model_dir(&dir).is_some() || settings.model_dir.is_some())
    {
        match MiniLmEmbedder::load(&dir) {
            Ok(e) => return (Arc::new(e), format!("embeddings: all-MiniLM-L6-v2 from {}", dir.display())),
            Err(err) => {
                return (
                    Arc::new(HashEmbedder::default()),
                    format!("embeddings: could not load all-MiniLM-L6-v2 ({err}); using the hash embedder"),
                );
            }
        }
    }
    (
        Arc::new(HashEmbedder::default()),
        format!(
            "embeddings: hash embedder (no model files). For real embeddings run `{}` or set INQUEST_EMBED_MODEL_DIR / INQUEST_EMBED_BASE_URL",
            minilm::FETCH_COMMAND
        ),
    )
}
