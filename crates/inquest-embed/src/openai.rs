//! Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM,
//! Ollama, llama.cpp).

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_trait::async_trait;
use inquest_ports::{Embedder, ErrorKind, StoreError, StoreResult};

use crate::{EmbedError, EmbedSettings};

/// Texts per request.
const BATCH: usize = 64;

/// Embedder over HTTP.
#[derive(Clone)]
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    dim: usize,
    timeout: Duration,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder").field("model", &self.model).field("dim", &self.dim).finish()
    }
}

impl OpenAiEmbedder {
    /// Connect; when no dimension is configured, one probe request finds it.
    pub async fn connect(settings: &EmbedSettings) -> Result<Self, EmbedError> {
        let base = settings
            .base_url
            .clone()
            .ok_or_else(|| EmbedError::Settings("INQUEST_EMBED_BASE_URL is not set".into()))?;
        let key = settings.api_key.clone().unwrap_or_else(|| "none".into());
        let config = OpenAIConfig::new().with_api_base(base.trim_end_matches('/')).with_api_key(key);
        let mut e = Self {
            client: Client::with_config(config),
            model: settings.model.clone(),
            dim: settings.dim.unwrap_or(0),
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
        };
        if e.dim == 0 {
            let probe =
                e.request(vec!["dimension probe".into()]).await.map_err(|x| EmbedError::Remote(x.to_string()))?;
            e.dim = probe.first().map_or(0, Vec::len);
            if e.dim == 0 {
                return Err(EmbedError::Remote("the endpoint returned an empty embedding".into()));
            }
        }
        Ok(e)
    }

    async fn request(&self, texts: Vec<String>) -> StoreResult<Vec<Vec<f32>>> {
        let n = texts.len();
        let req = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts),
            ..Default::default()
        };
        let resp = match tokio::time::timeout(self.timeout, self.client.embeddings().create(req)).await {
            Err(_) => {
                return Err(StoreError::new(ErrorKind::Timeout, "openai-embeddings", "embed", "request timed out"));
            }
            Ok(Err(e)) => return Err(StoreError::new(ErrorKind::Unavailable, "openai-embeddings", "embed", e)),
            Ok(Ok(r)) => r,
        };
        let mut data = resp.data;
        data.sort_by_key(|d| d.index);
        if data.len() != n {
            return Err(StoreError::new(
                ErrorKind::Internal,
                "openai-embeddings",
                "embed",
                format!("asked {n} embeddings, got {}", data.len()),
            ));
        }
        Ok(data.into_iter().map(|d| d.embedding).collect())
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }
    fn dim(&self) -> usize {
        self.dim
    }
    async fn embed(&self, texts: &[String]) -> StoreResult<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.request(chunk.to_vec()).await?);
        }
        Ok(out)
    }
}
