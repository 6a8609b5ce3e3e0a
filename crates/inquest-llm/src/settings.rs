//! LLM endpoint settings: a plain struct, filled by the caller (the binary converts
//! its `[llm]` settings); this crate reads no environment.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An API key that never prints (`Debug` and `Display` show `[secret]`) and is never
/// serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    /// The key itself, for the HTTP header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

/// Which request field carries the output limit: OpenAI's current
/// `max_completion_tokens` (reasoning models reject the other) or the older
/// `max_tokens` (some servers, e.g. llama-cpp-python, obey only this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    #[default]
    MaxCompletionTokens,
    MaxTokens,
}

/// Settings of the chat endpoint used to write reports.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:8080/v1`. None: no LLM, template reports.
    pub base_url: Option<String>,
    pub model: String,
    pub api_key: Option<ApiKey>,
    /// Per-attempt request timeout.
    pub timeout_secs: u64,
    /// Retries after the first attempt (timeouts, 429, 5xx, connection errors).
    pub max_retries: u32,
    /// First backoff delay; doubled at every retry.
    pub backoff_initial_ms: u64,
    pub max_tokens_field: MaxTokensField,
    pub max_output_tokens: u32,
    pub temperature: f32,
    /// USD per 1000 prompt tokens, for the cost estimate in `model_info`.
    pub price_per_1k_input: Option<f64>,
    /// USD per 1000 completion tokens.
    pub price_per_1k_output: Option<f64>,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "gpt-4o-mini".into(),
            api_key: None,
            timeout_secs: 120,
            max_retries: 2,
            backoff_initial_ms: 500,
            max_tokens_field: MaxTokensField::default(),
            max_output_tokens: 1500,
            temperature: 0.2,
            price_per_1k_input: None,
            price_per_1k_output: None,
        }
    }
}

impl LlmSettings {
    /// `openai` for OpenAI's own API, `local` for a loopback server,
    /// `openai-compatible` otherwise.
    pub fn endpoint_kind(&self) -> &'static str {
        match self.base_url.as_deref() {
            Some(u) if u.contains("api.openai.com") => "openai",
            Some(u) if u.contains("://127.0.0.1") || u.contains("://localhost") || u.contains("://[::1]") => "local",
            Some(_) => "openai-compatible",
            None => "none",
        }
    }

    /// Estimated cost in USD when both prices are configured.
    pub fn estimated_cost(&self, prompt_tokens: u32, completion_tokens: u32) -> Option<f64> {
        let (i, o) = (self.price_per_1k_input?, self.price_per_1k_output?);
        Some(f64::from(prompt_tokens) / 1000.0 * i + f64::from(completion_tokens) / 1000.0 * o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_prints_and_the_endpoint_kind_and_cost_follow_the_settings() {
        let s = LlmSettings {
            base_url: Some("http://127.0.0.1:8080/v1".into()),
            api_key: Some(ApiKey::new("sk-very-secret-value")),
            price_per_1k_input: Some(0.5),
            price_per_1k_output: Some(1.5),
            ..LlmSettings::default()
        };
        assert_eq!(s.endpoint_kind(), "local");
        assert_eq!(s.estimated_cost(2000, 1000), Some(2.5));
        let shown = format!("{s:?} {}", s.api_key.as_ref().map(ToString::to_string).unwrap_or_default());
        assert!(!shown.contains("very-secret"), "{shown}");
        for (url, kind) in [("https://api.openai.com/v1", "openai"), ("http://llm.internal/v1", "openai-compatible")] {
            assert_eq!(LlmSettings { base_url: Some(url.into()), ..LlmSettings::default() }.endpoint_kind(), kind);
        }
        assert_eq!(LlmSettings::default().endpoint_kind(), "none");
        assert_eq!(LlmSettings::default().estimated_cost(1, 1), None);
    }
}
