//! Text embeddings behind one trait. `HashEmbedder` is the deterministic default
//! that needs no model files: hashed word unigrams and bigrams, L2-normalised.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::StoreResult;

#[async_trait]
pub trait Embedder: Send + Sync {
    /// Model name, recorded with every stored vector.
    fn model(&self) -> &str;
    fn dim(&self) -> usize;
    async fn embed(&self, texts: &[String]) -> StoreResult<Vec<Vec<f32>>>;
}

/// Feature-hashing embedder: similar wording gives similar vectors.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
}

impl HashEmbedder {
    pub const MODEL: &'static str = "inquest-hash-v1";

    pub fn new(dim: usize) -> Self {
        Self { dim: dim.max(8) }
    }

    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let tokens: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| t.len() > 1)
            .map(|t| t.to_lowercase())
            .filter(|t| !STOP_WORDS.contains(&t.as_str()))
            .collect();
        let mut v = vec![0f32; self.dim];
        let mut add = |feature: &str, weight: f32| {
            let digest = Sha256::digest(feature.as_bytes());
            let idx = u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8])) as usize % self.dim;
            let sign = if digest[8] & 1 == 0 { 1.0 } else { -1.0 };
            v[idx] += sign * weight;
        };
        for t in &tokens {
            add(t, 1.0);
        }
        for pair in tokens.windows(2) {
            add(&format!("{} {}", pair[0], pair[1]), 0.5);
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self::new(256)
    }
}

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "this", "that", "are", "was", "were", "into", "on", "in", "of", "to", "is",
    "it", "be", "as", "at", "by", "an", "or",
];

#[async_trait]
impl Embedder for HashEmbedder {
    fn model(&self) -> &str {
        Self::MODEL
    }
    fn dim(&self) -> usize {
        self.dim
    }
    async fn embed(&self, texts: &[String]) -> StoreResult<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

/// A point to store, its payload stamped with the model that made the vector.
pub fn vector_point(
    id: uuid::Uuid,
    vector: Vec<f32>,
    mut payload: serde_json::Map<String, serde_json::Value>,
    model: &str,
) -> inquest_domain::VectorPoint {
    payload.insert("embedding_model".into(), serde_json::Value::from(model));
    inquest_domain::VectorPoint { id, vector, payload }
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_text_scores_higher_than_unrelated_text() {
        let e = HashEmbedder::default();
        let q = e.embed_one("connection pool timeout to postgres");
        let near = e.embed_one("raise postgres connection pool timeout");
        let far = e.embed_one("update README typo in docs");
        assert!(cosine(&q, &near) > cosine(&q, &far) + 0.2);
        assert_eq!(e.embed_one("same text"), e.embed_one("same text"));
    }
}
