//! `LlmReport`: the report written by a model, checked, or the template when no
//! endpoint is configured or it fails. The investigation never fails because of it.

use std::fmt::Write;

use async_trait::async_trait;
use inquest_core::{Investigation, ReportDraft, ReportWriter};
use inquest_domain::redact::redact;
use inquest_report::TemplateReport;
use serde_json::{Value, json};
use tracing::warn;

use crate::check::{CheckInput, assemble};
use crate::prompt::{self, SYSTEM, label, shown_evidence, user_prompt};
use crate::{LlmClient, LlmSettings};

/// Writes reports through a chat model; falls back to `TemplateReport`.
#[derive(Debug, Clone)]
pub struct LlmReport {
    client: Result<LlmClient, String>,
}

impl LlmReport {
    pub const GENERATOR: &'static str = "inquest-llm/report-v1";

    /// A writer for `settings`; with no endpoint it writes template reports, saying why.
    pub fn new(settings: LlmSettings) -> Self {
        Self { client: LlmClient::new(settings).map_err(|e| e.to_string()) }
    }

    /// Whether an endpoint is configured.
    pub fn is_configured(&self) -> bool {
        self.client.is_ok()
    }

    async fn fallback(inv: &Investigation, reason: &str) -> ReportDraft {
        let mut draft = TemplateReport.write(inv).await;
        if let Value::Object(m) = &mut draft.model_info {
            m.insert("fallback_reason".into(), Value::from(reason));
        }
        draft
    }
}

fn header(inv: &Investigation, model: &str) -> String {
    let inc = &inv.incident;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Incident report: {} on {}\n",
        inc.trigger_type.replace('_', " "),
        inquest_domain::service_name_of(&inv.service_key)
    );
    let _ = writeln!(md, "- **Incident**: `{}` (severity {}, status {})", inc.incident_id, inc.severity, inc.status);
    let _ = writeln!(md, "- **Service**: `{}`", inv.service_key);
    let _ = writeln!(md, "- **Window**: {} to {}", inc.window_start.to_rfc3339(), inc.window_end.to_rfc3339());
    let _ = writeln!(md, "- **Anomaly onset**: {}\n", inv.onset.map_or("not detected".to_string(), |o| o.to_rfc3339()));
    let _ = writeln!(
        md,
        "> Written by the model `{model}` from the engine's evidence. The ranking is the engine's; every citation below was checked against this investigation's evidence.\n"
    );
    md
}

fn evidence_table(inv: &Investigation) -> String {
    let mut md = String::from("| label | evidence id | kind | source | ref |\n| --- | --- | --- | --- | --- |\n");
    for (i, e) in shown_evidence(inv).iter().enumerate() {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | `{}` |",
            label(i),
            e.evidence_id,
            e.kind,
            e.source,
            redact(&e.reference).replace('|', "\\|")
        );
    }
    md
}

fn runbooks(inv: &Investigation) -> String {
    if inv.runbooks.is_empty() {
        return "No runbook matched this incident.\n".into();
    }
    let mut md = String::new();
    for r in &inv.runbooks {
        let _ = match &r.source_url {
            Some(url) => writeln!(md, "- [{}]({url}) (similarity {:.2}, `{}`)", r.title, r.score, r.evidence_id),
            None => writeln!(md, "- {} (similarity {:.2}, `{}`)", r.title, r.score, r.evidence_id),
        };
    }
    md
}

#[async_trait]
impl ReportWriter for LlmReport {
    async fn write(&self, inv: &Investigation) -> ReportDraft {
        let client = match &self.client {
            Ok(c) => c,
            Err(reason) => return Self::fallback(inv, reason).await,
        };
        let user = user_prompt(inv);
        let completion = match client.complete(SYSTEM, &user).await {
            Ok(c) => c,
            Err(e) => {
                warn!(incident_id = %inv.incident.incident_id, error = %e, "llm report failed, saving the template report");
                return Self::fallback(inv, &format!("llm endpoint failed: {e}")).await;
            }
        };
        let settings = client.settings();
        let evidence: Vec<_> = shown_evidence(inv).iter().map(|e| e.evidence_id).collect();
        let mut allowed = vec![inv.incident.incident_id.0];
        allowed.extend(inv.hypotheses.iter().map(|h| h.hypothesis_id.0));
        let input = CheckInput { evidence: &evidence, allowed_ids: &allowed, hypotheses: &inv.hypotheses };
        let (markdown, check) = assemble(
            &completion.text,
            &input,
            &header(inv, &settings.model),
            &evidence_table(inv),
            &inquest_report::recommended_actions(inv),
            &runbooks(inv),
        );
        let mut info = json!({
            "kind": "llm",
            "generator": Self::GENERATOR,
            "model": settings.model,
            "response_model": completion.model,
            "endpoint_kind": settings.endpoint_kind(),
            "max_tokens_field": settings.max_tokens_field,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "latency_ms": completion.latency_ms,
            "attempts": completion.attempts,
            "sections": prompt::SECTIONS,
            "citation_check": check,
        });
        if let (Some(cost), Value::Object(m)) =
            (settings.estimated_cost(completion.prompt_tokens, completion.completion_tokens), &mut info)
        {
            m.insert("estimated_cost_usd".into(), json!(cost));
        }
        ReportDraft { markdown, model_info: info }
    }
}
