//! Factor weights learned per project from human feedback: confirmed and rejected
//! hypotheses of earlier incidents become pairs ("this one should have ranked above
//! that one") over their stored factor vectors, and one multiplier per factor is fit
//! to those pairs (pairwise logistic loss on the weighted-mean score), pulled toward
//! the built-in weights and bounded. Pure but for `gather`, which reads the judged
//! incidents through the records port.

use std::collections::{BTreeMap, BTreeSet};

use inquest_domain::*;
use inquest_ports::{StoreError, Stores};
use serde::{Deserialize, Serialize};

use crate::factors::{self, Factor};
use crate::feedback::{Verdict, verdicts};
use crate::hypotheses::Candidate;

/// Fewer pairs than this leave the built-in weights in place.
pub const MIN_PAIRS: usize = 10;
/// A learned weight stays within `[default / BOUND, default * BOUND]`.
pub const BOUND: f64 = 4.0;
/// Gradient steps of the fit.
const STEPS: usize = 300;
const LEARNING_RATE: f64 = 0.5;
/// Scores are means in `[0, 1]` whose differences are small: the logistic sees them
/// scaled by this, so a 0.05 lead counts as a clear win.
const SHARPNESS: f64 = 20.0;
/// Strength of the pull toward the built-in weights (on `ln(learned / default)`).
const L2: f64 = 0.05;

/// One hypothesis of a judged incident, with its factors as they were stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedHypothesis {
    pub hypothesis_id: HypothesisId,
    pub rank: i32,
    pub factors: Vec<Factor>,
    pub verdict: Option<Verdict>,
}

/// An earlier incident with at least one standing verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub incident_id: IncidentId,
    pub incident_start: Timestamp,
    /// The ranked hypotheses (`unknown` left out: it is scored apart).
    pub hypotheses: Vec<JudgedHypothesis>,
}

/// One factor's learned weight beside its built-in one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedWeight {
    pub factor: String,
    pub default_weight: f64,
    pub learned_weight: f64,
    /// `learned_weight / default_weight`, applied wherever the factor appears.
    pub multiplier: f64,
    /// Training pairs in which the factor took part.
    pub pairs: usize,
}

/// The weights an investigation ranks with, and what they were learned from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Only feedback given before this time, on incidents that started before it.
    pub before: Option<Timestamp>,
    /// Judged incidents the pairs came from.
    pub incidents: usize,
    pub pairs: usize,
    /// False when there were fewer than `min_pairs` pairs: every weight is the default.
    pub learned: bool,
    pub min_pairs: usize,
    pub bound: f64,
    pub factors: Vec<LearnedWeight>,
}

impl Default for Weights {
    fn default() -> Self {
        Self::defaults(None, 0, 0, &BTreeMap::new())
    }
}

impl Weights {
    fn defaults(
        before: Option<Timestamp>,
        incidents: usize,
        pairs: usize,
        per_factor: &BTreeMap<String, usize>,
    ) -> Self {
        let factors = factors::DEFAULT_WEIGHTS
            .iter()
            .map(|(name, w)| LearnedWeight {
                factor: name.to_string(),
                default_weight: *w,
                learned_weight: *w,
                multiplier: 1.0,
                pairs: per_factor.get(*name).copied().unwrap_or(0),
            })
            .collect();
        Self { before, incidents, pairs, learned: false, min_pairs: MIN_PAIRS, bound: BOUND, factors }
    }

    /// The multiplier of factor `name` (1 when nothing was learned for it).
    pub fn multiplier(&self, name: &str) -> f64 {
        self.factors.iter().find(|w| w.factor == name).map(|w| w.multiplier).unwrap_or(1.0)
    }

    /// The factors with their learned weights: `weight` is the learned one and
    /// `default_weight` the built-in one, set only where they differ.
    pub fn reweigh(&self, fs: &mut [Factor]) {
        for f in fs {
            let base = f.base_weight();
            let m = self.multiplier(&f.name);
            if (m - 1.0).abs() < 1e-9 {
                f.weight = base;
                f.default_weight = None;
            } else {
                f.weight = round3(base * m);
                f.default_weight = Some(base);
            }
        }
    }

    /// Rescore the candidates (`unknown` aside) with the learned weights.
    pub fn apply(&self, candidates: &mut [Candidate]) {
        if !self.learned {
            return;
        }
        for c in candidates.iter_mut().filter(|c| c.hypothesis_type != HypothesisType::Unknown) {
            self.reweigh(&mut c.factors);
            c.score = factors::combine(&c.factors);
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A training pair: `better` should score above `worse` (indices into one incident).
type Pair = (usize, usize);

/// The pairs of one judged incident: each confirmed hypothesis above every other
/// one; each rejected hypothesis below every unjudged one ranked under it.
pub fn pairs_of(j: &Judged) -> Vec<Pair> {
    let h = &j.hypotheses;
    let mut out = Vec::new();
    for (c, _) in h.iter().enumerate().filter(|(_, x)| x.verdict == Some(Verdict::Confirmed)) {
        for (x, hx) in h.iter().enumerate() {
            if x != c && hx.verdict != Some(Verdict::Confirmed) {
                out.push((c, x));
            }
        }
    }
    for (r, hr) in h.iter().enumerate().filter(|(_, x)| x.verdict == Some(Verdict::Rejected)) {
        for (x, hx) in h.iter().enumerate() {
            if hx.verdict.is_none() && hx.rank > hr.rank {
                out.push((x, r));
            }
        }
    }
    out
}

/// One hypothesis as the fit sees it: (factor index, built-in weight, value).
type Row = Vec<(usize, f64, f64)>;

fn score(row: &Row, theta: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &(k, w, v) in row {
        let w = w * theta[k].exp();
        num += w * v;
        den += w;
    }
    if den <= 0.0 { 0.0 } else { num / den }
}

/// d score / d theta_k for every k, added into `out` times `scale`.
fn add_gradient(row: &Row, theta: &[f64], scale: f64, out: &mut [f64]) {
    let s = score(row, theta);
    let den: f64 = row.iter().map(|&(k, w, _)| w * theta[k].exp()).sum();
    if den <= 0.0 {
        return;
    }
    for &(k, w, v) in row {
        out[k] += scale * w * theta[k].exp() * (v - s) / den;
    }
}

/// Fit the weights to the judged incidents (deterministic: the same judged
/// incidents give the same weights). Below `MIN_PAIRS` pairs, the defaults.
pub fn fit(before: Option<Timestamp>, judged: &[Judged]) -> Weights {
    let names: Vec<&str> = factors::DEFAULT_WEIGHTS.iter().map(|(n, _)| *n).collect();
    let index = |n: &str| names.iter().position(|x| *x == n);
    let mut rows: Vec<Row> = Vec::new();
    let mut pairs: Vec<Pair> = Vec::new();
    let mut per_factor: BTreeMap<String, usize> = BTreeMap::new();
    let mut incidents = 0;
    for j in judged {
        let ps = pairs_of(j);
        if ps.is_empty() {
            continue;
        }
        incidents += 1;
        let offset = rows.len();
        for h in &j.hypotheses {
            rows.push(h.factors.iter().filter_map(|f| index(&f.name).map(|k| (k, f.base_weight(), f.value))).collect());
        }
        for (a, b) in ps {
            let seen: BTreeSet<usize> = rows[offset + a].iter().chain(&rows[offset + b]).map(|r| r.0).collect();
            for k in seen {
                *per_factor.entry(names[k].to_string()).or_default() += 1;
            }
            pairs.push((offset + a, offset + b));
        }
    }
    let mut w = Weights::defaults(before, incidents, pairs.len(), &per_factor);
    if pairs.len() < MIN_PAIRS {
        return w;
    }
    let bound = BOUND.ln();
    let mut theta = vec![0.0; names.len()];
    let n = pairs.len() as f64;
    for _ in 0..STEPS {
        let mut grad: Vec<f64> = theta.iter().map(|t| 2.0 * L2 * t).collect();
        for &(a, b) in &pairs {
            let d = score(&rows[a], &theta) - score(&rows[b], &theta);
            // d/dd of ln(1 + e^(-SHARPNESS d)) = -SHARPNESS * sigmoid(-SHARPNESS d)
            let g = -SHARPNESS / (1.0 + (SHARPNESS * d).exp()) / n;
            add_gradient(&rows[a], &theta, g, &mut grad);
            add_gradient(&rows[b], &theta, -g, &mut grad);
        }
        for (t, g) in theta.iter_mut().zip(&grad) {
            *t = (*t - LEARNING_RATE * g).clamp(-bound, bound);
        }
    }
    w.learned = true;
    for (lw, t) in w.factors.iter_mut().zip(&theta) {
        lw.multiplier = round3(t.exp());
        lw.learned_weight = round3(lw.default_weight * lw.multiplier);
    }
    w
}

/// One incident as training data: its hypotheses with the verdicts standing at
/// `before` (only feedback given before then; a retraction given by then undoes what
/// it retracts). `None` when the incident started at or after `before` or has no
/// standing verdict.
pub fn judge(
    incident: &Incident,
    events: &[FeedbackEvent],
    hypotheses: &[Hypothesis],
    before: Timestamp,
) -> Option<Judged> {
    if incident.window_start >= before {
        return None;
    }
    let given: Vec<FeedbackEvent> = events.iter().filter(|e| e.created_at < before).cloned().collect();
    let standing = verdicts(&given);
    if standing.is_empty() {
        return None;
    }
    let mut hs: Vec<JudgedHypothesis> = hypotheses
        .iter()
        .filter(|h| h.hypothesis_type != HypothesisType::Unknown)
        .map(|h| JudgedHypothesis {
            hypothesis_id: h.hypothesis_id,
            rank: h.rank,
            factors: h.details.get("factors").cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
            verdict: standing.get(&h.hypothesis_id).copied(),
        })
        .collect();
    hs.sort_by_key(|h| h.rank);
    Some(Judged { incident_id: incident.incident_id, incident_start: incident.window_start, hypotheses: hs })
}

/// The training data of judgements already read (`feedback::earlier_judgements`),
/// oldest first.
pub fn judged_of(judgements: &[crate::feedback::Judgement], before: Timestamp) -> Vec<Judged> {
    judgements.iter().filter_map(|j| judge(&j.incident, &j.events, &j.hypotheses, before)).collect()
}

/// The weights learned from the feedback given before `before`.
pub async fn learned_weights(
    stores: &Stores,
    before: Timestamp,
    exclude: Option<IncidentId>,
) -> Result<Weights, StoreError> {
    let judgements = crate::feedback::earlier_judgements(stores, before, exclude).await?;
    Ok(fit(Some(before), &judged_of(&judgements, before)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::FeedbackInput;
    use chrono::{Duration, TimeZone, Utc};
    use serde_json::json;

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 9, 1, 10, 0, 0).single().unwrap_or_default()
    }

    /// A hypothesis whose factors are `isolation` and `anomaly_strength` at these values.
    fn jh(n: usize, rank: i32, isolation: f64, anomaly: f64, verdict: Option<Verdict>) -> JudgedHypothesis {
        JudgedHypothesis {
            hypothesis_id: HypothesisId::derived(&["h", &n.to_string()]),
            rank,
            factors: vec![factors::isolation(1.0 - isolation, 1.0, "s"), factors::anomaly_strength(anomaly, 4.0, "s")],
            verdict,
        }
    }

    /// Incidents whose confirmed cause is the isolated service while a louder victim
    /// ranked first: isolation separates them, anomaly strength misleads.
    fn isolation_wins(n: usize) -> Vec<Judged> {
        (0..n)
            .map(|i| Judged {
                incident_id: IncidentId::derived(&["i", &i.to_string()]),
                incident_start: t0() + Duration::hours(i as i64),
                hypotheses: vec![
                    jh(3 * i, 1, 0.1, 1.0, Some(Verdict::Rejected)),
                    jh(3 * i + 1, 2, 0.9, 0.5, Some(Verdict::Confirmed)),
                    jh(3 * i + 2, 3, 0.2, 0.5, None),
                ],
            })
            .collect()
    }

    fn score_of(w: &Weights, h: &JudgedHypothesis) -> f64 {
        let mut fs = h.factors.clone();
        w.reweigh(&mut fs);
        factors::combine(&fs)
    }

    #[test]
    fn a_factor_that_separates_confirmed_from_rejected_gains_weight() {
        let judged = isolation_wins(6);
        let w = fit(Some(t0()), &judged);
        assert!(w.learned);
        assert_eq!(w.incidents, 6);
        // Per incident: the confirmed one above the two others, the unjudged one above the rejected.
        assert_eq!(w.pairs, 6 * 3);
        assert!(w.multiplier("isolation") > 1.2, "{w:?}");
        assert!(w.multiplier("anomaly_strength") < 0.9, "{w:?}");
        assert_eq!(w.multiplier("timing"), 1.0, "a factor absent from the pairs keeps its default");
        let lw =
            w.factors.iter().find(|f| f.factor == "isolation").map(|f| (f.default_weight, f.learned_weight, f.pairs));
        assert_eq!(lw.map(|x| x.0), Some(1.5));
        assert!(lw.is_some_and(|x| x.1 > 1.5 && x.2 == 18));
        // With the learned weights, the confirmed hypothesis now ranks first.
        let h = &judged[0].hypotheses;
        assert!(factors::combine(&h[0].factors) > factors::combine(&h[1].factors), "the defaults got it wrong");
        assert!(score_of(&w, &h[1]) > score_of(&w, &h[0]));
        // Deterministic.
        assert_eq!(fit(Some(t0()), &judged), w);
    }

    #[test]
    fn learned_weights_stay_within_the_bounds() {
        // Overwhelming, one-sided evidence still cannot push past BOUND either way.
        let w = fit(None, &isolation_wins(200));
        for f in &w.factors {
            assert!(f.multiplier <= BOUND + 1e-9 && f.multiplier >= 1.0 / BOUND - 1e-9, "{f:?}");
            assert!(f.learned_weight <= f.default_weight * BOUND + 1e-6, "{f:?}");
        }
    }

    #[test]
    fn too_few_pairs_keep_the_defaults() {
        let w = fit(None, &isolation_wins(3));
        assert_eq!(w.pairs, 9);
        assert!(!w.learned);
        assert!(w.factors.iter().all(|f| f.multiplier == 1.0 && f.learned_weight == f.default_weight));
        let mut c = vec![Candidate {
            hypothesis_type: HypothesisType::Dependency,
            service_key: "s".into(),
            culprit: None,
            title: "x".into(),
            factors: isolation_wins(1)[0].hypotheses[0].factors.clone(),
            score: 0.123,
            evidence_ids: vec![],
        }];
        w.apply(&mut c);
        assert_eq!(c[0].score, 0.123, "unlearned weights leave scores alone");
        assert!(c[0].factors.iter().all(|f| f.default_weight.is_none()));
    }

    #[test]
    fn reweighing_keeps_the_default_beside_the_learned_weight_and_reads_it_back() {
        let w = fit(None, &isolation_wins(6));
        let mut fs = isolation_wins(1)[0].hypotheses[1].factors.clone();
        w.reweigh(&mut fs);
        let iso = fs.iter().find(|f| f.name == "isolation").cloned().unwrap_or_else(|| Factor::new("x", 0.0, 0.0, ""));
        assert_eq!(iso.default_weight, Some(1.5));
        assert!(iso.weight > 1.5);
        // Stored and read back, a reweighed factor learns from its default, not from the learned weight.
        let back: Vec<Factor> = serde_json::from_value(json!(fs)).unwrap_or_default();
        assert_eq!(back, fs);
        assert_eq!(back[0].base_weight(), 1.5);
        // An old row without `default_weight` still parses.
        let old: Factor =
            serde_json::from_value(json!({"name": "timing", "value": 0.5, "weight": 3.0, "explanation": "e"}))
                .unwrap_or_else(|_| Factor::new("x", 0.0, 0.0, ""));
        assert_eq!((old.weight, old.default_weight), (3.0, None));
        // Default weights put back the built-in weight.
        Weights::default().reweigh(&mut fs);
        assert!(fs.iter().all(|f| f.default_weight.is_none()));
        assert_eq!(fs.iter().find(|f| f.name == "isolation").map(|f| f.weight), Some(1.5));
    }

    fn incident(start: Timestamp) -> Incident {
        Incident {
            incident_id: IncidentId::derived(&["judged"]),
            service_id: ServiceId::derived(&["s"]),
            status: IncidentStatus::Open,
            trigger_type: "custom".into(),
            severity: 2,
            window_start: start,
            window_end: start + Duration::minutes(30),
            created_at: start,
            updated_at: start,
            resolved_at: None,
            resolution_kind: None,
            resolution_summary: None,
            resolved_hypothesis_id: None,
        }
    }

    fn stored(n: &str, rank: i32, t: HypothesisType) -> Hypothesis {
        Hypothesis {
            hypothesis_id: HypothesisId::derived(&[n]),
            incident_id: IncidentId::derived(&["judged"]),
            rank,
            hypothesis_type: t,
            title: n.into(),
            confidence: 0.5,
            evidence_ids: vec![],
            details: json!({ "service_key": "c/n/s", "factors": [factors::isolation(0.0, 1.0, "s")] }),
        }
    }

    #[test]
    fn only_feedback_given_before_the_incident_counts_and_a_retraction_undoes_it() {
        let inc = incident(t0());
        let hs = vec![
            stored("a", 1, HypothesisType::Dependency),
            stored("b", 2, HypothesisType::Infra),
            stored("u", 3, HypothesisType::Unknown),
        ];
        let ev = |input: FeedbackInput, at: Timestamp| {
            input.into_event(inc.incident_id, ActorType::User, Some("oncall".into()), at)
        };
        let confirm = ev(FeedbackInput::Confirm { hypothesis: hs[1].hypothesis_id }, t0() + Duration::minutes(40));
        let investigated = t0() + Duration::hours(2);
        let j = judge(&inc, std::slice::from_ref(&confirm), &hs, investigated);
        let j = j.unwrap_or_else(|| panic!("the confirmation counts"));
        assert_eq!(j.hypotheses.len(), 2, "unknown is left out");
        assert_eq!(j.hypotheses[1].verdict, Some(Verdict::Confirmed));
        assert_eq!(pairs_of(&j), vec![(1, 0)]);
        assert_eq!(j.hypotheses[1].factors.len(), 1);
        // Feedback given after the investigated incident started does not count.
        assert!(judge(&inc, std::slice::from_ref(&confirm), &hs, t0() + Duration::minutes(35)).is_none());
        // Nor does an incident that started at or after it.
        assert!(judge(&inc, std::slice::from_ref(&confirm), &hs, t0()).is_none());
        // A retraction given before the investigated incident undoes the confirmation...
        let undo = ev(FeedbackInput::Retract { event: confirm.feedback_event_id }, t0() + Duration::minutes(50));
        assert!(judge(&inc, &[confirm.clone(), undo.clone()], &hs, investigated).is_none());
        // ...but one given after it does not reach back.
        assert!(judge(&inc, &[confirm, undo], &hs, t0() + Duration::minutes(45)).is_some());
    }

    #[test]
    fn retracting_every_verdict_restores_the_default_weights() {
        let mut judged = isolation_wins(6);
        assert!(fit(None, &judged).learned);
        // What `judge` gives once every verdict is retracted: no verdicts, no pairs.
        for j in &mut judged {
            for h in &mut j.hypotheses {
                h.verdict = None;
            }
        }
        let w = fit(None, &judged);
        assert_eq!((w.pairs, w.incidents, w.learned), (0, 0, false));
        assert_eq!(w.factors, Weights::default().factors);
    }

    #[test]
    fn a_rejection_alone_ranks_it_below_the_unjudged_ones_under_it() {
        let j = Judged {
            incident_id: IncidentId::derived(&["r"]),
            incident_start: t0(),
            hypotheses: vec![
                jh(1, 1, 0.1, 0.9, None),
                jh(2, 2, 0.1, 0.9, Some(Verdict::Rejected)),
                jh(3, 3, 0.1, 0.9, None),
            ],
        };
        assert_eq!(pairs_of(&j), vec![(2, 1)]);
    }
}
