//! Which report writer and embedder the binary uses: the LLM and a real embedding
//! model when configured (`[llm]`, `[embed]`), the template report and the hash
//! embedder otherwise. The clients' crates take plain structs converted here.

use std::path::PathBuf;
use std::sync::Arc;

use inquest_config::Settings;
use inquest_core::ReportWriter;
use inquest_embed::embedder_from_settings;
use inquest_llm::LlmReport;
use inquest_ports::Embedder;

/// The LLM report writer when an endpoint is configured; it saves the template
/// report (marked with a `fallback_reason`) when none is or when it fails.
pub fn report_writer(settings: &Settings) -> Arc<dyn ReportWriter> {
    let writer = LlmReport::new(llm_settings(&settings.llm));
    if writer.is_configured() {
        crate::logging::notice(
            "reports: written by the LLM endpoint in [llm] base_url (INQUEST_LLM_BASE_URL), citations checked",
        );
    }
    Arc::new(writer)
}

/// The configured embedder; says which one it is (`logging::notice`).
pub async fn embedder(settings: &Settings) -> Arc<dyn Embedder> {
    let (e, message) = embedder_from_settings(&embed_settings(&settings.embed)).await;
    crate::logging::notice(&message);
    e
}

pub fn llm_settings(s: &inquest_config::LlmSettings) -> inquest_llm::LlmSettings {
    use inquest_config::MaxTokensField as Field;
    inquest_llm::LlmSettings {
        base_url: s.base_url.as_ref().map(|u| u.expose().to_string()),
        model: s.model.clone(),
        api_key: s.api_key.as_ref().map(|k| inquest_llm::ApiKey::new(k.expose())),
        timeout_secs: s.timeout_secs,
        max_retries: s.max_retries,
        backoff_initial_ms: s.backoff_ms,
        max_tokens_field: match s.max_tokens_field {
            Field::MaxCompletionTokens => inquest_llm::MaxTokensField::MaxCompletionTokens,
            Field::MaxTokens => inquest_llm::MaxTokensField::MaxTokens,
        },
        max_output_tokens: s.max_output_tokens,
        temperature: s.temperature,
        price_per_1k_input: s.price_per_1k_input,
        price_per_1k_output: s.price_per_1k_output,
    }
}

fn embed_settings(s: &inquest_config::EmbedSettings) -> inquest_embed::EmbedSettings {
    inquest_embed::EmbedSettings {
        model_dir: s.model_dir.clone(),
        // Where `pip install --target` in the README puts the files.
        default_model_dir: std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/inquest/minilm")),
        base_url: s.base_url.as_ref().map(|u| u.expose().to_string()),
        model: s.model.clone(),
        api_key: s.api_key.as_ref().map(|k| k.expose().to_string()),
        dim: s.dim,
        timeout_secs: s.timeout_secs,
    }
}
