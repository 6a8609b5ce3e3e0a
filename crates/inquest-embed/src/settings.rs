//! Embedder settings: a plain serde struct, filled from `INQUEST_EMBED_*` variables
//! or by a configuration layer.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::EmbedError;

/// Which embedder serves the semantic store, and where its model lives.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedSettings {
    /// Folder of the all-MiniLM-L6-v2 files (or the `pip install --target` folder).
    /// Default: `~/.cache/inquest/minilm` when it holds the files.
    pub model_dir: Option<PathBuf>,
    /// An OpenAI-compatible API (`.../v1`); when set it wins over the local model.
    pub base_url: Option<String>,
    /// Model name sent to the endpoint.
    pub model: String,
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// Vector size of the endpoint's model; probed when unset.
    pub dim: Option<usize>,
    pub timeout_secs: u64,
}

impl std::fmt::Debug for EmbedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedSettings")
            .field("model_dir", &self.model_dir)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[secret]"))
            .field("dim", &self.dim)
            .finish()
    }
}

impl Default for EmbedSettings {
    fn default() -> Self {
        Self {
            model_dir: None,
            base_url: None,
            model: "text-embedding-3-small".into(),
            api_key: None,
            dim: None,
            timeout_secs: 60,
        }
    }
}

impl EmbedSettings {
    pub fn from_env() -> Result<Self, EmbedError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, EmbedError> {
        let val = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut s = Self {
            model_dir: val("INQUEST_EMBED_MODEL_DIR").map(PathBuf::from),
            base_url: val("INQUEST_EMBED_BASE_URL"),
            api_key: val("INQUEST_EMBED_API_KEY"),
            ..Self::default()
        };
        if let Some(m) = val("INQUEST_EMBED_MODEL") {
            s.model = m;
        }
        if let Some(d) = val("INQUEST_EMBED_DIM") {
            s.dim =
                Some(d.parse().map_err(|_| EmbedError::Settings(format!("INQUEST_EMBED_DIM: '{d}' is not a number")))?);
        }
        if let Some(t) = val("INQUEST_EMBED_TIMEOUT_SECS") {
            s.timeout_secs = t
                .parse()
                .map_err(|_| EmbedError::Settings(format!("INQUEST_EMBED_TIMEOUT_SECS: '{t}' is not a number")))?;
        }
        Ok(s)
    }

    /// The model folder to try: the configured one, else `~/.cache/inquest/minilm`.
    pub fn local_dir(&self) -> Option<PathBuf> {
        self.model_dir
            .clone()
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/inquest/minilm")))
    }
}
