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

/// The judged incidents: those that started strictly before `before` (never
/// `exclude`), with only the feedback given before `before` and still standing
/// (a retraction given by then undoes what it retracts).
pub async fn gather(
    stores: &Stores,
    before: Timestamp,
    exclude: Option<IncidentId>,
) -> Result<Vec<Judged>, StoreError> {
    let mut out = Vec::new();
    for incident in stores.records.list_incidents().await? {
        if incident.window_start >= before || Some(incident.incident_id) == exclude {
            continue;
        }
        let events: Vec<FeedbackEvent> = stores
            .records
            .feedback(incident.incident_id)
            .await?
            .into_iter()
            .filter(|e| e.created_at < before)
            .collect();
        let standing = verdicts(&events);
        if standing.is_empty() {
            continue;
        }
        let mut hypotheses: Vec<JudgedHypothesis> = stores
            .records
            .hypotheses(incident.incident_id)
            .await?
            .into_iter()
            .filter(|h| h.hypothesis_type != HypothesisType::Unknown)
            .map(|h| JudgedHypothesis {
                hypothesis_id: h.hypothesis_id,
                rank: h.rank,
                factors: h
                    .details
                    .get("factors")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default(),
                verdict: standing.get(&h.hypothesis_id).copied(),
            })
            .collect();
        hypotheses.sort_by_key(|h| h.rank);
        out.push(Judged { incident_id: incident.incident_id, incident_start: incident.window_start, hypotheses });
    }
    out.sort_by(|a, b| a.incident_start.cmp(&b.incident_start).then(a.incident_id.cmp(&b.incident_id)));
    Ok(out)
}

/// The weights learned from the feedback given before `before`.
pub async fn learned_weights(
    stores: &Stores,
    before: Timestamp,
    exclude: Option<IncidentId>,
) -> Result<Weights, StoreError> {
    Ok(fit(Some(before), &gather(stores, before, exclude).await?))
}
