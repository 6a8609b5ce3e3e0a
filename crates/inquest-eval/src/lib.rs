//! The offline evaluation harness: replays fixture cases, each in a fresh embedded
//! store, and scores the ranking (AC@1, AC@3, Avg@5, MRR, latency).

pub mod datasets;

use std::collections::BTreeMap;
use std::time::Instant;

use inquest_core::feedback::{FeedbackInput, record_feedback};
use inquest_core::{InvestigationConfig, investigate, investigate_and_save};
use inquest_report::TemplateReport;

use inquest_domain::*;
use inquest_fixtures::{FixtureCase, Truth, load_case};
use inquest_store_embedded::EmbeddedStore;
use serde::{Deserialize, Serialize};

/// Why a case could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("case {case}: {message}")]
    Case { case: String, message: String },
}

/// One hypothesis as the harness sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub hypothesis_type: HypothesisType,
    pub service_key: String,
    pub culprit: Option<String>,
    pub confidence: f64,
    pub title: String,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub case_id: String,
    pub truth: Truth,
    /// 1-based rank of the first hypothesis matching the truth.
    pub match_rank: Option<usize>,
    /// 1-based rank of the truth's service among distinct services ranked.
    pub service_rank: Option<usize>,
    /// Investigation time (evidence and ranking, no report), milliseconds.
    pub latency_ms: f64,
    pub ranked: Vec<Ranked>,
}

/// Accuracy over a set of cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub cases: usize,
    pub ac1: f64,
    pub ac3: f64,
    pub avg5: f64,
    pub mrr: f64,
}

impl Accuracy {
    pub fn of(ranks: &[Option<usize>]) -> Self {
        let n = ranks.len().max(1) as f64;
        let ac = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
        Self {
            cases: ranks.len(),
            ac1: ac(1),
            ac3: ac(3),
            avg5: (1..=5).map(ac).sum::<f64>() / 5.0,
            mrr: ranks.iter().map(|r| r.map(|r| 1.0 / r as f64).unwrap_or(0.0)).sum::<f64>() / n,
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Matching hypotheses (type, service and culprit).
    pub hypotheses: Accuracy,
    /// Distinct services ranked (the measure used on public datasets).
    pub services: Accuracy,
    /// Hypothesis accuracy per labelled hypothesis type.
    pub per_type: BTreeMap<String, Accuracy>,
    pub latency: Latency,
    pub cases: Vec<CaseResult>,
}

/// Whether a hypothesis matches the truth: same type and service, and the culprit
/// when the truth names one.
pub fn matches(r: &Ranked, truth: &Truth) -> bool {
    r.hypothesis_type == truth.hypothesis_type
        && (truth.hypothesis_type == HypothesisType::Unknown || r.service_key == truth.service_key)
        && (truth.culprits.is_empty() || r.culprit.as_ref().is_some_and(|c| truth.culprits.contains(c)))
}

/// 1-based rank of `service` among the distinct services of `ranked`.
pub fn service_rank(ranked: &[Ranked], service: &str) -> Option<usize> {
    let mut seen: Vec<&str> = Vec::new();
    for r in ranked {
        if r.hypothesis_type == HypothesisType::Unknown {
            continue;
        }
        if !seen.contains(&r.service_key.as_str()) {
            seen.push(&r.service_key);
        }
        if r.service_key == service {
            return Some(seen.len());
        }
    }
    None
}

pub fn ranked_of(hypotheses: &[Hypothesis]) -> Vec<Ranked> {
    hypotheses
        .iter()
        .map(|h| Ranked {
            hypothesis_type: h.hypothesis_type,
            service_key: h.service_key().unwrap_or_default().to_string(),
            culprit: h.culprit().map(str::to_string),
            confidence: h.confidence,
            title: h.title.clone(),
        })
        .collect()
}

/// Load one case into a fresh in-memory store, investigate it and score the ranking.
pub async fn run_case(case: &FixtureCase, cfg: &InvestigationConfig) -> Result<CaseResult, EvalError> {
    run_case_with(case, cfg, None).await
}

/// `run_case` with another embedder than the store's default (real embeddings).
pub async fn run_case_with(
    case: &FixtureCase,
    cfg: &InvestigationConfig,
    embedder: Option<std::sync::Arc<dyn inquest_ports::Embedder>>,
) -> Result<CaseResult, EvalError> {
    let fail = |message: String| EvalError::Case { case: case.id.clone(), message };
    let store = EmbeddedStore::in_memory().map_err(|e| fail(e.to_string()))?;
    let mut stores = store.stores();
    if let Some(e) = embedder {
        stores.embedder = e;
    }
    load_case(&stores, case).await.map_err(|e| fail(e.to_string()))?;
    let started = Instant::now();
    let inv = investigate(&stores, case.incident_id, cfg, case.batch.incidents[0].window_end)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(score_case(&case.id, &case.truth, &inv.hypotheses, latency_ms))
}

/// Score one case's ranked hypotheses against its truth.
pub fn score_case(case_id: &str, truth: &Truth, hypotheses: &[Hypothesis], latency_ms: f64) -> CaseResult {
    let ranked = ranked_of(hypotheses);
    CaseResult {
        case_id: case_id.to_string(),
        truth: truth.clone(),
        match_rank: ranked.iter().position(|r| matches(r, truth)).map(|p| p + 1),
        service_rank: service_rank(&ranked, &truth.service_key),
        latency_ms,
        ranked,
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    inquest_domain::stats::quantile_sorted(sorted, q)
}

/// Aggregate case results.
pub fn summarize(cases: Vec<CaseResult>) -> EvalReport {
    let ranks: Vec<Option<usize>> = cases.iter().map(|c| c.match_rank).collect();
    let service_ranks: Vec<Option<usize>> = cases.iter().map(|c| c.service_rank).collect();
    let mut per_type: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
    for c in &cases {
        per_type.entry(c.truth.hypothesis_type.to_string()).or_default().push(c.match_rank);
    }
    let mut lat: Vec<f64> = cases.iter().map(|c| c.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    EvalReport {
        hypotheses: Accuracy::of(&ranks),
        services: Accuracy::of(&service_ranks),
        per_type: per_type.into_iter().map(|(k, v)| (k, Accuracy::of(&v))).collect(),
        latency: Latency {
            p50_ms: if lat.is_empty() { 0.0 } else { percentile(&lat, 0.5) },
            p95_ms: if lat.is_empty() { 0.0 } else { percentile(&lat, 0.95) },
            max_ms: lat.last().copied().unwrap_or(0.0),
        },
        cases,
    }
}

/// The same replay with and without feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    pub without: EvalReport,
    pub with: EvalReport,
    /// Feedback events applied in the run with feedback.
    pub feedback_events: usize,
    /// The weights learned from all the replayed feedback, at the end of the run.
    pub weights: inquest_core::learn::Weights,
}

/// Minutes after an investigation at which the replay gives its feedback (an
/// on-call person judging the ranking right away); it reaches only the incidents
/// that start after it.
pub const FEEDBACK_DELAY_MINUTES: i64 = 1;

/// Replay the cases in date order in ONE store, twice: once without feedback, once
/// applying the truth as feedback after each case (confirm the matching hypothesis,
/// reject a wrong top one), so later investigations learn from earlier ones.
pub async fn replay_feedback(cases: &[FixtureCase], cfg: &InvestigationConfig) -> Result<ReplayReport, EvalError> {
    let mut ordered: Vec<&FixtureCase> = cases.iter().collect();
    ordered.sort_by_key(|c| (c.batch.incidents.first().map(|i| i.window_start), c.id.clone()));
    let (without, _, _) = replay(&ordered, cfg, false).await?;
    let (with, feedback_events, weights) = replay(&ordered, cfg, true).await?;
    Ok(ReplayReport { without, with, feedback_events, weights })
}

/// `replay_feedback` per dataset: each imported dataset (its `import.json`) in a
/// store of its own, as one project would hold it; cases without provenance are
/// replayed together as `fixtures`.
pub async fn replay_by_dataset(
    cases: &[FixtureCase],
    cfg: &InvestigationConfig,
) -> Result<BTreeMap<String, ReplayReport>, EvalError> {
    let mut groups: BTreeMap<String, Vec<FixtureCase>> = BTreeMap::new();
    for c in cases {
        let meta = inquest_import::read_meta(&c.dir)
            .map_err(|e| EvalError::Case { case: c.id.clone(), message: e.to_string() })?;
        let name = meta.map(|m| m.dataset).unwrap_or_else(|| "fixtures".into());
        groups.entry(name).or_default().push(c.clone());
    }
    let mut out = BTreeMap::new();
    for (name, group) in groups {
        out.insert(name, replay_feedback(&group, cfg).await?);
    }
    Ok(out)
}

async fn replay(
    cases: &[&FixtureCase],
    cfg: &InvestigationConfig,
    feedback: bool,
) -> Result<(EvalReport, usize, inquest_core::learn::Weights), EvalError> {
    let fail = |case: &str, message: String| EvalError::Case { case: case.to_string(), message };
    let store = EmbeddedStore::in_memory().map_err(|e| fail("-", e.to_string()))?;
    let stores = store.stores();
    let mut results = Vec::new();
    let mut events = 0;
    let mut last = None;
    for case in cases {
        load_case(&stores, case).await.map_err(|e| fail(&case.id, e.to_string()))?;
        let now = case.batch.incidents.first().map(|i| i.window_end).unwrap_or_default();
        let started = Instant::now();
        let (inv, _) = investigate_and_save(&stores, &TemplateReport, case.incident_id, cfg, now)
            .await
            .map_err(|e| fail(&case.id, e.to_string()))?;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let result = score_case(&case.id, &case.truth, &inv.hypotheses, latency_ms);
        if feedback {
            let mut inputs = Vec::new();
            if let Some(rank) = result.match_rank {
                inputs.push(FeedbackInput::Confirm { hypothesis: inv.hypotheses[rank - 1].hypothesis_id });
            }
            if result.match_rank != Some(1)
                && let Some(top) = inv.hypotheses.first()
            {
                inputs.push(FeedbackInput::Reject { hypothesis: top.hypothesis_id });
            }
            for (n, input) in inputs.into_iter().enumerate() {
                let at = now + chrono::Duration::minutes(FEEDBACK_DELAY_MINUTES) + chrono::Duration::seconds(n as i64);
                let event = input.into_event(case.incident_id, ActorType::System, Some("eval-replay".into()), at);
                record_feedback(&stores, &event, at).await.map_err(|e| fail(&case.id, e.to_string()))?;
                events += 1;
                last = Some(at);
            }
        }
        results.push(result);
    }
    let weights = match last {
        Some(at) => inquest_core::learn::learned_weights(&stores, at + chrono::Duration::seconds(1), None)
            .await
            .map_err(|e| fail("-", e.to_string()))?,
        None => inquest_core::learn::Weights::default(),
    };
    Ok((summarize(results), events, weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: HypothesisType, s: &str, c: Option<&str>) -> Ranked {
        Ranked {
            hypothesis_type: t,
            service_key: s.into(),
            culprit: c.map(Into::into),
            confidence: 0.5,
            title: String::new(),
        }
    }

    #[test]
    fn accuracy_counts_ranks() {
        let a = Accuracy::of(&[Some(1), Some(3), None, Some(2)]);
        assert_eq!(a.ac1, 0.25);
        assert_eq!(a.ac3, 0.75);
        assert!((a.mrr - (1.0 + 1.0 / 3.0 + 0.5) / 4.0).abs() < 1e-9);
        assert!((a.avg5 - (0.25 + 0.5 + 0.75 + 0.75 + 0.75) / 5.0).abs() < 1e-9);
    }

    #[test]
    fn matching_needs_type_service_and_culprit() {
        let truth = Truth {
            service_key: "a".into(),
            hypothesis_type: HypothesisType::Release,
            culprits: vec!["deployment:1".into()],
            notes: None,
        };
        assert!(matches(&r(HypothesisType::Release, "a", Some("deployment:1")), &truth));
        assert!(!matches(&r(HypothesisType::Release, "a", Some("deployment:2")), &truth));
        assert!(!matches(&r(HypothesisType::Config, "a", Some("deployment:1")), &truth));
        assert!(!matches(&r(HypothesisType::Release, "b", Some("deployment:1")), &truth));
    }

    #[test]
    fn service_rank_counts_distinct_services_and_skips_unknown() {
        let ranked = vec![
            r(HypothesisType::Release, "a", None),
            r(HypothesisType::Unknown, "z", None),
            r(HypothesisType::Infra, "a", None),
            r(HypothesisType::Dependency, "b", None),
        ];
        assert_eq!(service_rank(&ranked, "b"), Some(2));
        assert_eq!(service_rank(&ranked, "z"), None);
    }
}
