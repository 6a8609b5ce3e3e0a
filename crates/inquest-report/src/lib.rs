//! The deterministic template report: summary, ranked hypotheses with their factor
//! breakdowns, the evidence behind each (id and ref), gaps and runbooks.

use std::collections::HashMap;
use std::fmt::Write;

use async_trait::async_trait;
use inquest_core::{Investigation, ReportDraft, ReportWriter};
use inquest_domain::*;
use serde_json::json;

/// How many hypotheses get a full section.
const DETAILED: usize = 5;

/// Writes the report from a fixed template; no model involved.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateReport;

impl TemplateReport {
    pub const GENERATOR: &'static str = "inquest-report/template-v1";
}

#[async_trait]
impl ReportWriter for TemplateReport {
    async fn write(&self, inv: &Investigation) -> ReportDraft {
        ReportDraft { markdown: render(inv), model_info: json!({ "kind": "template", "generator": Self::GENERATOR }) }
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Escape a value for a markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The recommended actions as a markdown table (empty without recommendations); the
/// LLM report shows the same table under its next steps.
pub fn recommended_actions(inv: &Investigation) -> String {
    let mut md = String::new();
    if inv.recommendations.is_empty() {
        return md;
    }
    let _ = writeln!(md, "| rank | action | for hypothesis | risk | expected time to recover | runbook |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for r in &inv.recommendations {
        let rank = inv.hypotheses.iter().find(|h| h.hypothesis_id == r.hypothesis_id).map(|h| h.rank).unwrap_or(0);
        let runbook = match &r.runbook {
            Some(b) => match &b.source_url {
                Some(url) => format!("[{}]({url})", cell(&b.title)),
                None => cell(&b.title),
            },
            None => "none".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {} (`{}`) | {rank} | {}: {} | {} min ({}) | {runbook} |",
            r.rank,
            cell(&r.summary),
            r.action_type,
            r.risk_level,
            cell(&r.risk_reason),
            r.expected_ttr_minutes,
            cell(&r.ttr_basis),
        );
    }
    md
}

/// Render the markdown report of an investigation.
pub fn render(inv: &Investigation) -> String {
    let mut md = String::new();
    let inc = &inv.incident;
    let service = service_name_of(&inv.service_key);
    let evidence: HashMap<EvidenceId, &EvidenceArtifact> = inv.evidence.iter().map(|e| (e.evidence_id, e)).collect();
    let _ = writeln!(md, "# Incident report: {} on {service}\n", inc.trigger_type.replace('_', " "));
    let _ = writeln!(md, "- **Incident**: `{}` (severity {}, status {})", inc.incident_id, inc.severity, inc.status);
    let _ = writeln!(md, "- **Service**: `{}`", inv.service_key);
    let _ = writeln!(md, "- **Window**: {} to {}", inc.window_start.to_rfc3339(), inc.window_end.to_rfc3339());
    match inv.onset {
        Some(o) => {
            let _ = writeln!(md, "- **Anomaly onset**: {}", o.to_rfc3339());
        }
        None => {
            let _ = writeln!(md, "- **Anomaly onset**: not detected");
        }
    }
    let _ = writeln!(md);

    let _ = writeln!(md, "## Summary\n");
    match inv.hypotheses.first() {
        Some(top) if top.hypothesis_type == HypothesisType::Unknown => {
            let _ = writeln!(
                md,
                "Nothing in the evidence is decisive (confidence {}). The strongest candidate{} is not convincing enough to name a culprit; treat the hypotheses below as leads, not answers.\n",
                pct(top.confidence),
                inv.hypotheses
                    .get(1)
                    .map(|h| format!(", \"{}\" at {},", h.title, pct(h.confidence)))
                    .unwrap_or_default(),
            );
        }
        Some(top) => {
            let _ = writeln!(
                md,
                "Most likely cause: **{}** ({}, confidence {}), on `{}`.\n",
                top.title,
                top.hypothesis_type,
                pct(top.confidence),
                top.service_key().unwrap_or("?")
            );
            if let Some(f) = top_factors(top).first() {
                let _ = writeln!(md, "Strongest reason: {f}.\n");
            }
        }
        None => {
            let _ = writeln!(md, "No hypothesis could be formed.\n");
        }
    }
    if !inv.gaps.is_empty() {
        let _ = writeln!(
            md,
            "> Evidence is incomplete: {} store(s) did not answer (see Evidence gaps); confidence is lowered accordingly.\n",
            inv.gaps.len()
        );
    }

    let _ = writeln!(md, "## Ranked hypotheses\n");
    let _ = writeln!(md, "| rank | type | hypothesis | service | confidence |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    for h in &inv.hypotheses {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            h.rank,
            h.hypothesis_type,
            cell(&h.title),
            service_name_of(h.service_key().unwrap_or("?")),
            pct(h.confidence)
        );
    }
    let _ = writeln!(md);

    for h in inv.hypotheses.iter().take(DETAILED) {
        let _ = writeln!(md, "### {}. {} ({}, {})\n", h.rank, h.title, h.hypothesis_type, pct(h.confidence));
        let _ = writeln!(md, "| factor | value | weight | why |");
        let _ = writeln!(md, "| --- | --- | --- | --- |");
        for f in h.details.get("factors").and_then(|v| v.as_array()).into_iter().flatten() {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {} | {} |",
                f.get("name").and_then(|v| v.as_str()).unwrap_or("?"),
                f.get("value").and_then(|v| v.as_f64()).unwrap_or(0.0),
                weight_cell(f),
                cell(f.get("explanation").and_then(|v| v.as_str()).unwrap_or(""))
            );
        }
        let _ = writeln!(md);
        if !h.evidence_ids.is_empty() {
            let _ = writeln!(md, "Evidence:");
            for id in &h.evidence_ids {
                if let Some(e) = evidence.get(id) {
                    let _ = writeln!(md, "- `{id}` {}: `{}`", e.kind, e.reference);
                }
            }
            let _ = writeln!(md);
        }
    }

    if !inv.gaps.is_empty() {
        let _ = writeln!(md, "## Evidence gaps\n");
        for g in &inv.gaps {
            let _ = writeln!(
                md,
                "- `{}` {} ({}) could not answer `{}`: {}",
                g.evidence_id, g.port, g.backend, g.operation, g.message
            );
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Evidence\n");
    let _ = writeln!(md, "| evidence id | kind | source | ref |");
    let _ = writeln!(md, "| --- | --- | --- | --- |");
    for e in &inv.evidence {
        let _ = writeln!(md, "| `{}` | {} | {} | `{}` |", e.evidence_id, e.kind, e.source, cell(&e.reference));
    }
    let _ = writeln!(md);

    if !inv.recommendations.is_empty() {
        let _ = writeln!(md, "## Recommended actions\n");
        md.push_str(&recommended_actions(inv));
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Suggested runbooks\n");
    if inv.runbooks.is_empty() {
        let _ = writeln!(md, "No runbook matched this incident.");
    }
    for r in &inv.runbooks {
        let _ = match &r.source_url {
            Some(url) => writeln!(md, "- [{}]({url}) (similarity {:.2}, `{}`)", r.title, r.score, r.evidence_id),
            None => writeln!(md, "- {} (similarity {:.2}, `{}`)", r.title, r.score, r.evidence_id),
        };
    }
    md
}

/// A factor's weight, with its default beside it when feedback taught another one.
fn weight_cell(f: &serde_json::Value) -> String {
    let w = f.get("weight").and_then(|v| v.as_f64()).unwrap_or(0.0);
    match f.get("default_weight").and_then(|v| v.as_f64()) {
        Some(d) if (d - w).abs() > 1e-9 => format!("{w} (learned; default {d})"),
        _ => w.to_string(),
    }
}

/// Explanations of a hypothesis' factors, largest contribution first.
fn top_factors(h: &Hypothesis) -> Vec<String> {
    let mut fs: Vec<(f64, String)> = h
        .details
        .get("factors")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .map(|f| {
            let v = f.get("value").and_then(|v| v.as_f64()).unwrap_or(0.0);
            let w = f.get("weight").and_then(|v| v.as_f64()).unwrap_or(0.0);
            (v * w, f.get("explanation").and_then(|v| v.as_str()).unwrap_or("").to_string())
        })
        .collect();
    fs.sort_by(|a, b| b.0.total_cmp(&a.0));
    fs.into_iter().map(|f| f.1).collect()
}
