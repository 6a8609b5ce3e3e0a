//! Reports written by an LLM over any OpenAI-compatible endpoint (OpenAI, vLLM,
//! Ollama, llama.cpp), with checked citations and the engine's ranking enforced;
//! the template report when no endpoint is configured or it fails.

pub mod check;
mod client;
pub mod prompt;
mod settings;
mod writer;

pub use check::{CheckInput, CitationCheck, assemble, stated_cause};
pub use client::{Completion, LlmClient};
pub use settings::{ApiKey, LlmSettings, MaxTokensField};
pub use writer::LlmReport;

/// Errors of the LLM client.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("llm settings: {0}")]
    Settings(String),
    #[error("llm request timed out after {0} s")]
    Timeout(u64),
    #[error("llm endpoint unreachable: {0}")]
    Transport(String),
    #[error("llm endpoint error: {message}")]
    Api { message: String, retryable: bool },
    #[error("llm answer could not be read: {0}")]
    BadAnswer(String),
    #[error("llm answered with no text")]
    EmptyAnswer,
}

impl LlmError {
    /// Worth another attempt: timeouts, transport errors, 429 and 5xx.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Transport(_) | Self::EmptyAnswer => true,
            Self::Api { retryable, .. } => *retryable,
            Self::Settings(_) | Self::BadAnswer(_) => false,
        }
    }
}
