//! The citation check and the report's fixed structure. Pure: the model's text
//! goes in, the report to save comes out. Citations of unknown ids are removed with
//! their sentence; the ranking stated is always the engine's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::LazyLock;

use inquest_domain::redact::redact;
use inquest_domain::{EvidenceId, Hypothesis, HypothesisType, service_name_of};
use regex::Regex;
use serde::Serialize;

use crate::prompt::SECTIONS;

#[allow(clippy::unwrap_used)]
static LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[?\b[Ee](\d{1,4})\b\]?").unwrap());
#[allow(clippy::unwrap_used)]
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b").unwrap()
});

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CitationCheck {
    /// Distinct evidence labels cited that resolve.
    pub resolved: Vec<String>,
    /// Cited ids that are not among the evidence given.
    pub unknown: Vec<String>,
    /// Sentences removed because they cited an unknown id.
    pub removed_sentences: usize,
    /// Sections the model did not write (filled with a notice).
    pub missing_sections: Vec<String>,
}

/// Everything the check needs to know about the investigation.
#[derive(Debug, Clone)]
pub struct CheckInput<'a> {
    /// Evidence ids in prompt order: `E1` is `evidence[0]`.
    pub evidence: &'a [EvidenceId],
    /// Other ids that may appear without being evidence (incident, hypotheses).
    pub allowed_ids: &'a [uuid::Uuid],
    /// The engine's ranking.
    pub hypotheses: &'a [Hypothesis],
}

/// Split a line into sentences, keeping their ending punctuation and spacing.
fn sentences(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1).is_some_and(|n| n.is_ascii_whitespace()) {
            out.push(&line[start..=i + 1]);
            start = i + 2;
        }
    }
    if start < line.len() {
        out.push(&line[start..]);
    }
    out
}

/// Unknown citations in one sentence (labels beyond the table, uuids not given).
fn unknown_in(s: &str, input: &CheckInput<'_>) -> Vec<String> {
    let mut bad = Vec::new();
    for c in LABEL.captures_iter(s) {
        let n: usize = c[1].parse().unwrap_or(0);
        if n == 0 || n > input.evidence.len() {
            bad.push(format!("E{}", &c[1]));
        }
    }
    for m in UUID.find_iter(s) {
        let known = m
            .as_str()
            .parse::<uuid::Uuid>()
            .is_ok_and(|u| input.evidence.iter().any(|e| e.0 == u) || input.allowed_ids.contains(&u));
        if !known {
            bad.push(m.as_str().to_string());
        }
    }
    bad
}

/// Remove sentences citing unknown ids; record the citations that resolve.
fn check_text(text: &str, input: &CheckInput<'_>, report: &mut CitationCheck) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut kept = String::new();
        let mut dropped = false;
        for s in sentences(line) {
            let bad = unknown_in(s, input);
            if bad.is_empty() {
                kept.push_str(s);
                for c in LABEL.captures_iter(s) {
                    let l = format!("E{}", &c[1]);
                    if !report.resolved.contains(&l) {
                        report.resolved.push(l);
                    }
                }
            } else {
                dropped = true;
                report.removed_sentences += 1;
                for b in bad {
                    if !report.unknown.contains(&b) {
                        report.unknown.push(b);
                    }
                }
            }
        }
        let bare = kept.trim().trim_start_matches(['-', '*', '>', ' ']).trim();
        if dropped && bare.is_empty() {
            continue;
        }
        out.push(kept.trim_end().to_string());
    }
    out.join("\n").trim().to_string()
}

/// Replace `[E3]` by `[E3: `<uuid>`]` so that the saved report names real evidence ids.
fn expand_labels(text: &str, evidence: &[EvidenceId]) -> String {
    LABEL
        .replace_all(text, |c: &regex::Captures<'_>| {
            let n: usize = c[1].parse().unwrap_or(0);
            match n.checked_sub(1).and_then(|i| evidence.get(i)) {
                Some(id) => format!("[E{n}: `{id}`]"),
                None => c[0].to_string(),
            }
        })
        .into_owned()
}

/// The model's markdown split by level-2 headings into the six known sections;
/// text under unknown headings joins the previous section.
pub fn split_sections(markdown: &str) -> BTreeMap<usize, String> {
    let mut out: BTreeMap<usize, String> = BTreeMap::new();
    let mut current: Option<usize> = None;
    for line in markdown.lines() {
        let heading = line
            .trim_start()
            .strip_prefix('#')
            .map(|h| h.trim_start_matches('#').trim().trim_matches('*').trim().to_lowercase());
        if let Some(h) = heading {
            if let Some(i) = SECTIONS.iter().position(|s| h.starts_with(&s.to_lowercase())) {
                current = Some(i);
                out.entry(i).or_default();
                continue;
            }
            if line.trim_start().starts_with("# ") && current.is_none() {
                continue; // a title line of the model's own
            }
        }
        let entry = out.entry(current.unwrap_or(0)).or_default();
        entry.push_str(line);
        entry.push('\n');
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The engine's statement of the likely cause: the first line of that section.
pub fn engine_cause_line(hypotheses: &[Hypothesis]) -> String {
    match hypotheses.first() {
        Some(top) if top.hypothesis_type == HypothesisType::Unknown => format!(
            "**Engine ranking: no decisive cause** (confidence {}); the hypotheses below are leads, not answers.",
            pct(top.confidence)
        ),
        Some(top) => format!(
            "**Engine ranking, #1: {}** ({}, confidence {}, on `{}`).",
            top.title,
            top.hypothesis_type,
            pct(top.confidence),
            top.service_key().unwrap_or("?")
        ),
        None => "**Engine ranking: no hypothesis could be formed.**".to_string(),
    }
}

/// The cause a saved report states: the first non-empty line of its
/// "Likely cause" section.
pub fn stated_cause(markdown: &str) -> Option<String> {
    let sections = split_sections(markdown);
    sections.get(&1)?.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
}

/// Check the model's text and assemble the report in its fixed structure.
/// `header`, `actions` (the recommended actions, under the next steps) and `runbooks`
/// are deterministic blocks written by the caller; `evidence_table` lists every
/// labelled row.
pub fn assemble(
    model_markdown: &str,
    input: &CheckInput<'_>,
    header: &str,
    evidence_table: &str,
    actions: &str,
    runbooks: &str,
) -> (String, CitationCheck) {
    let mut check = CitationCheck::default();
    let model_markdown = redact(model_markdown);
    let sections = split_sections(&model_markdown);
    let mut md = String::from(header);
    for (i, name) in SECTIONS.iter().enumerate() {
        let _ = writeln!(md, "## {name}\n");
        let body = sections.get(&i).map(|t| check_text(t, input, &mut check)).unwrap_or_default();
        match i {
            1 => {
                let _ = writeln!(md, "{}\n", engine_cause_line(input.hypotheses));
            }
            2 => {
                let _ = writeln!(md, "| rank | type | hypothesis | service | confidence |");
                let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
                for h in input.hypotheses.iter().skip(1) {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} |",
                        h.rank,
                        h.hypothesis_type,
                        h.title.replace('|', "\\|"),
                        service_name_of(h.service_key().unwrap_or("?")),
                        pct(h.confidence)
                    );
                }
                let _ = writeln!(md);
            }
            _ => {}
        }
        if body.is_empty() {
            check.missing_sections.push((*name).to_string());
            let _ = writeln!(md, "_The model wrote nothing for this section._\n");
        } else {
            let _ = writeln!(md, "{}\n", expand_labels(&body, input.evidence));
        }
        if i == 3 {
            md.push_str(evidence_table);
            md.push('\n');
        }
        if i == 4 && !actions.is_empty() {
            md.push_str(actions);
            md.push('\n');
        }
        if i == 5 {
            md.push_str(runbooks);
            md.push('\n');
        }
    }
    let _ = writeln!(md, "## Citation check\n");
    let _ = writeln!(
        md,
        "- {} evidence id(s) cited, all resolved against this investigation's evidence",
        check.resolved.len()
    );
    if check.removed_sentences > 0 {
        let _ = writeln!(
            md,
            "- {} sentence(s) removed: they cited ids not in the evidence ({})",
            check.removed_sentences,
            check.unknown.join(", ")
        );
    }
    if !check.missing_sections.is_empty() {
        let _ = writeln!(md, "- sections the model left empty: {}", check.missing_sections.join(", "));
    }
    (md, check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inquest_domain::IncidentId;
    use serde_json::json;

    fn hyp(rank: i32, t: HypothesisType, title: &str, svc: &str) -> Hypothesis {
        Hypothesis {
            hypothesis_id: inquest_domain::HypothesisId::derived(&["h", title]),
            incident_id: IncidentId::derived(&["i"]),
            rank,
            hypothesis_type: t,
            title: title.into(),
            confidence: 0.8,
            evidence_ids: vec![],
            details: json!({ "service_key": svc }),
        }
    }

    fn ids(n: usize) -> Vec<EvidenceId> {
        (0..n).map(|i| EvidenceId::derived(&["e", &i.to_string()])).collect()
    }

    #[test]
    fn unknown_citations_are_removed_with_their_sentence() {
        let ev = ids(3);
        let hs = vec![hyp(1, HypothesisType::Release, "catalog 3.9.0", "p/s/catalog")];
        let input = CheckInput { evidence: &ev, allowed_ids: &[], hypotheses: &hs };
        let stranger = EvidenceId::derived(&["not", "given"]);
        let model = format!(
            "## Summary\nLatency doubled [E1]. The database is down [E9]. Also see {stranger}.\n## Likely cause\nThe deploy [E2][E3].\n## Other hypotheses\n- Traffic [E7]\n## Evidence\nok [E1]\n## Next steps\nRoll back.\n## Runbooks\nNone.\n"
        );
        let (md, check) = assemble(&model, &input, "# Report\n\n", "| table |\n", "| actions |\n", "- runbook\n");
        assert_eq!(check.resolved, vec!["E1", "E2", "E3"]);
        assert_eq!(check.unknown, vec!["E9".to_string(), stranger.to_string(), "E7".to_string()]);
        assert_eq!(check.removed_sentences, 3);
        assert!(md.contains("Latency doubled [E1: `"));
        assert!(!md.contains("database is down"));
        assert!(!md.contains("Traffic"));
        assert!(md.contains(&format!("[E2: `{}`]", ev[1])));
        assert!(md.contains("3 sentence(s) removed"));
        let (steps, actions, runbooks) = (md.find("## Next steps"), md.find("| actions |"), md.find("## Runbooks"));
        assert!(steps < actions && actions < runbooks, "the actions sit under the next steps: {md}");
    }

    #[test]
    fn the_stated_cause_is_the_engines_even_when_the_model_disagrees() {
        let ev = ids(2);
        let hs = vec![
            hyp(1, HypothesisType::Release, "catalog 3.9.0 deployment", "p/s/catalog"),
            hyp(2, HypothesisType::Db, "catalog-db saturation", "p/s/catalog-db"),
        ];
        let input = CheckInput { evidence: &ev, allowed_ids: &[], hypotheses: &hs };
        let model = "# My title\n## Likely Cause\nThe database is to blame [E2].\n## Summary\nx [E1]\n";
        let (md, check) = assemble(model, &input, "", "", "", "");
        let cause = stated_cause(&md).expect("a likely cause section");
        assert!(cause.contains("catalog 3.9.0 deployment"), "{cause}");
        assert!(!cause.contains("database"));
        // The fixed structure: all six sections, in order, whatever the model wrote.
        let positions: Vec<usize> =
            SECTIONS.iter().map(|s| md.find(&format!("## {s}\n")).expect("section present")).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{md}");
        assert_eq!(check.missing_sections, vec!["Other hypotheses", "Evidence", "Next steps", "Runbooks"]);
        assert!(md.contains("| 2 | db | catalog-db saturation | catalog-db |"));
    }

    #[test]
    fn secrets_echoed_by_the_model_are_redacted_and_allowed_ids_pass() {
        let ev = ids(1);
        let inc = uuid::Uuid::from_u128(7);
        let input = CheckInput { evidence: &ev, allowed_ids: &[inc], hypotheses: &[] };
        let model = format!("## Summary\nIncident {inc} [E1]; the diff sets PASSWORD=\"hunter2-prod\".\n");
        let (md, check) = assemble(&model, &input, "", "", "", "");
        assert!(!md.contains("hunter2"));
        assert!(check.unknown.is_empty());
        assert_eq!(sentences("a. b! c? d"), vec!["a. ", "b! ", "c? ", "d"]);
    }
}
