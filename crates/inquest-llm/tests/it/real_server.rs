//! Against a real local OpenAI-compatible server (llama.cpp via xllamacpp with
//! SmolLM2-135M, started by `scripts/ci.d/30-llm.sh`): checks the request, the
//! response handling, the citation check and the report's structure, never prose.

use inquest_fixtures::FixtureCase;
use inquest_llm::{LlmReport, LlmSettings, MaxTokensField, prompt::SECTIONS, stated_cause};

use crate::common::*;

/// The server's base URL, or None (skip) locally; under CI a missing server fails.
pub fn url() -> Option<String> {
    match std::env::var("INQUEST_TEST_LLM_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("INQUEST_TEST_LLM_URL is not set under CI (scripts/ci.d/30-llm.sh starts the server)")
        }
        _ => {
            eprintln!(
                "skipping: INQUEST_TEST_LLM_URL is not set (run scripts/ci.d/30-llm.sh to start a local llama.cpp server)"
            );
            None
        }
    }
}

pub fn settings(url: &str) -> LlmSettings {
    LlmSettings {
        base_url: Some(url.to_string()),
        model: "smollm2-135m".into(),
        timeout_secs: 300,
        max_retries: 1,
        max_output_tokens: 256,
        max_tokens_field: MaxTokensField::MaxTokens,
        temperature: 0.0,
        ..LlmSettings::default()
    }
}

#[tokio::test]
async fn a_real_local_model_writes_a_checked_report() -> anyhow::Result<()> {
    let Some(url) = url() else { return Ok(()) };
    let case = FixtureCase::read(&fixture_dir("release-catalog-cache-ttl"))?;
    let (_s, stores) = loaded(&case).await?;
    let started = std::time::Instant::now();
    let (inv, report) = run(&stores, &case, &LlmReport::new(settings(&url))).await?;
    eprintln!("real llm report in {:.1} s: {}", started.elapsed().as_secs_f64(), report.model_info);
    let info = &report.model_info;
    assert_eq!(info["kind"], "llm", "{info}");
    assert!(info["prompt_tokens"].as_u64().unwrap_or(0) > 100, "{info}");
    assert!(info["completion_tokens"].as_u64().unwrap_or(0) > 0, "{info}");
    let md = &report.report_markdown;
    let positions: Vec<usize> =
        SECTIONS.iter().map(|s| md.find(&format!("\n## {s}\n")).unwrap_or(usize::MAX)).collect();
    assert!(positions.iter().all(|p| *p != usize::MAX) && positions.windows(2).all(|w| w[0] < w[1]), "{md}");
    assert!(stated_cause(md).unwrap_or_default().contains(&inv.hypotheses[0].title));
    assert!(md.contains("## Citation check"));
    assert!(!md.contains("hunter2"));
    // Whatever the model cited, only ids of this investigation's evidence remain.
    let n = inv.evidence.len();
    let check = &info["citation_check"];
    for l in check["resolved"].as_array().into_iter().flatten() {
        let k: usize = l.as_str().unwrap_or("E0")[1..].parse().unwrap_or(0);
        assert!(k >= 1 && k <= n, "{l}");
    }
    assert!(report.evidence_ids.iter().all(|id| inv.evidence.iter().any(|e| e.evidence_id == *id)));
    Ok(())
}
