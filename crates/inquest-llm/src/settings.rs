//! LLM endpoint settings: a plain serde struct, filled from `INQUEST_LLM_*` variables
//! or by a configuration layer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::LlmError;

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

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ApiKey)
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

impl std::str::FromStr for MaxTokensField {
    type Err = LlmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "max_completion_tokens" => Ok(Self::MaxCompletionTokens),
            "max_tokens" => Ok(Self::MaxTokens),
            other => Err(LlmError::Settings(format!(
                "INQUEST_LLM_MAX_TOKENS_FIELD: unknown value '{other}' (expected max_completion_tokens or max_tokens)"
            ))),
        }
    }
}

/// Settings of the chat endpoint used to write reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:8080/v1`. None: no LLM, template reports.
    pub base_url: Option<String>,
    pub model: String,
    #[serde(skip_serializing)]
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
    /// Defaults overridden by `INQUEST_LLM_*` environment variables.
    pub fn from_env() -> Result<Self, LlmError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Same as `from_env`, reading variables through `get` (testable).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, LlmError> {
        let mut s = Self::default();
        let val = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        fn num<T: std::str::FromStr>(k: &str, v: String) -> Result<T, LlmError> {
            v.parse().map_err(|_| LlmError::Settings(format!("{k}: '{v}' is not a valid number")))
        }
        s.base_url = val("INQUEST_LLM_BASE_URL");
        if let Some(v) = val("INQUEST_LLM_MODEL") {
            s.model = v;
        }
        s.api_key = val("INQUEST_LLM_API_KEY").map(ApiKey);
        if let Some(v) = val("INQUEST_LLM_TIMEOUT_SECS") {
            s.timeout_secs = num("INQUEST_LLM_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = val("INQUEST_LLM_MAX_RETRIES") {
            s.max_retries = num("INQUEST_LLM_MAX_RETRIES", v)?;
        }
        if let Some(v) = val("INQUEST_LLM_BACKOFF_MS") {
            s.backoff_initial_ms = num("INQUEST_LLM_BACKOFF_MS", v)?;
        }
        if let Some(v) = val("INQUEST_LLM_MAX_TOKENS_FIELD") {
            s.max_tokens_field = v.parse()?;
        }
        if let Some(v) = val("INQUEST_LLM_MAX_OUTPUT_TOKENS") {
            s.max_output_tokens = num("INQUEST_LLM_MAX_OUTPUT_TOKENS", v)?;
        }
        if let Some(v) = val("INQUEST_LLM_TEMPERATURE") {
            s.temperature = num("INQUEST_LLM_TEMPERATURE", v)?;
        }
        if let Some(v) = val("INQUEST_LLM_PRICE_PER_1K_INPUT") {
            s.price_per_1k_input = Some(num("INQUEST_LLM_PRICE_PER_1K_INPUT", v)?);
        }
        if let Some(v) = val("INQUEST_LLM_PRICE_PER_1K_OUTPUT") {
            s.price_per_1k_output = Some(num("INQUEST_LLM_PRICE_PER_1K_OUTPUT", v)?);
        }
        Ok(s)
    }

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
    fn env_vars_fill_the_settings_and_the_key_never_prints() {
        let vars = |k: &str| {
            match k {
                "INQUEST_LLM_BASE_URL" => Some("http://127.0.0.1:8080/v1"),
                "INQUEST_LLM_MODEL" => Some("smollm2"),
                "INQUEST_LLM_API_KEY" => Some("sk-very-secret-value"),
                "INQUEST_LLM_TIMEOUT_SECS" => Some("7"),
                "INQUEST_LLM_MAX_TOKENS_FIELD" => Some("max_tokens"),
                "INQUEST_LLM_PRICE_PER_1K_INPUT" => Some("0.5"),
                "INQUEST_LLM_PRICE_PER_1K_OUTPUT" => Some("1.5"),
                _ => None,
            }
            .map(str::to_string)
        };
        let s = LlmSettings::from_vars(vars).expect("valid settings");
        assert_eq!(s.base_url.as_deref(), Some("http://127.0.0.1:8080/v1"));
        assert_eq!(s.timeout_secs, 7);
        assert_eq!(s.max_tokens_field, MaxTokensField::MaxTokens);
        assert_eq!(s.endpoint_kind(), "local");
        assert_eq!(s.estimated_cost(2000, 1000), Some(2.5));
        let shown = format!("{s:?} {}", serde_json::to_string(&s).expect("serialises"));
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    fn bad_values_are_errors() {
        let e = LlmSettings::from_vars(|k| (k == "INQUEST_LLM_MAX_TOKENS_FIELD").then(|| "tokens".to_string()));
        assert!(e.is_err());
        let e = LlmSettings::from_vars(|k| (k == "INQUEST_LLM_TIMEOUT_SECS").then(|| "soon".to_string()));
        assert!(e.is_err());
        assert_eq!(LlmSettings::from_vars(|_| None).expect("defaults").endpoint_kind(), "none");
    }
}
