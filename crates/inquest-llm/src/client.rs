//! Chat completions against any OpenAI-compatible endpoint, with a per-attempt
//! timeout and retries with exponential backoff.

use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest,
};
use tracing::{debug, warn};

use crate::{LlmError, LlmSettings, MaxTokensField};

/// One answer of the model, with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    pub attempts: u32,
}

/// Client of one chat endpoint.
#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    settings: LlmSettings,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient").field("settings", &self.settings).finish()
    }
}

impl LlmClient {
    /// A client for `settings.base_url`; an error when none is configured.
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        let base = settings
            .base_url
            .clone()
            .ok_or_else(|| LlmError::Settings("no llm endpoint configured (INQUEST_LLM_BASE_URL)".into()))?;
        // Local servers accept any key; async-openai sends one in every case.
        let key = settings.api_key.as_ref().map_or("none", |k| k.expose()).to_string();
        let config = OpenAIConfig::new().with_api_base(base.trim_end_matches('/')).with_api_key(key);
        Ok(Self { client: Client::with_config(config), settings })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The request the client sends (system + user message, output limit in the
    /// configured field).
    pub fn request(&self, system: &str, user: &str) -> CreateChatCompletionRequest {
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(system).into(),
            ChatCompletionRequestUserMessage::from(user).into(),
        ];
        let mut req = CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages,
            temperature: Some(self.settings.temperature),
            ..Default::default()
        };
        match self.settings.max_tokens_field {
            MaxTokensField::MaxCompletionTokens => req.max_completion_tokens = Some(self.settings.max_output_tokens),
            #[allow(deprecated)]
            MaxTokensField::MaxTokens => req.max_tokens = Some(self.settings.max_output_tokens),
        }
        req
    }

    /// Ask the model; retries retryable failures with exponential backoff.
    pub async fn complete(&self, system: &str, user: &str) -> Result<Completion, LlmError> {
        let req = self.request(system, user);
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let started = Instant::now();
        let mut delay = Duration::from_millis(self.settings.backoff_initial_ms);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = match tokio::time::timeout(timeout, self.client.chat().create(req.clone())).await {
                Err(_) => Err(LlmError::Timeout(timeout.as_secs())),
                Ok(Err(e)) => Err(classify(e)),
                Ok(Ok(resp)) => {
                    let text = resp
                        .choices
                        .first()
                        .and_then(|c| c.message.content.clone())
                        .filter(|t| !t.trim().is_empty())
                        .ok_or(LlmError::EmptyAnswer);
                    text.map(|text| Completion {
                        text,
                        model: resp.model.clone(),
                        prompt_tokens: resp.usage.as_ref().map_or(0, |u| u.prompt_tokens),
                        completion_tokens: resp.usage.as_ref().map_or(0, |u| u.completion_tokens),
                        latency_ms: started.elapsed().as_millis() as u64,
                        attempts: attempt,
                    })
                }
            };
            match outcome {
                Ok(c) => {
                    debug!(
                        attempts = attempt,
                        latency_ms = c.latency_ms,
                        prompt_tokens = c.prompt_tokens,
                        "llm answered"
                    );
                    return Ok(c);
                }
                Err(e) if e.retryable() && attempt <= self.settings.max_retries => {
                    warn!(attempt, error = %e, delay_ms = delay.as_millis() as u64, "llm request failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn classify(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Reqwest(err) => LlmError::Transport(err.to_string()),
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            LlmError::Api {
                message: format!("status {status}: {}", api.api_error.message),
                retryable: status == 429 || status >= 500,
            }
        }
        OpenAIError::JSONDeserialize(err, _) => LlmError::BadAnswer(err.to_string()),
        other => LlmError::Api { message: other.to_string(), retryable: false },
    }
}
