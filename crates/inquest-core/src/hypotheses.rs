//! Candidate hypotheses of every type from gathered evidence, scored by named
//! factors and ranked. Pure: the same evidence always gives the same ranking.

use std::collections::BTreeMap;

use inquest_domain::*;
use inquest_ports::{Direction, Reach};
use serde_json::json;

use crate::factors::{self, Factor};
use crate::signals::{MetricKind, Signal, minutes_between};

/// A deployment in the change window, with what it shipped.
#[derive(Debug, Clone)]
pub struct DeploymentCandidate {
    pub deployment: DeploymentEvent,
    pub service_key: String,
    pub is_rollback: bool,
    /// The revision that ran before it, when its commit range names one.
    pub previous_revision: Option<String>,
    pub files: Vec<(CommitFile, EvidenceId)>,
    pub record_evidence: EvidenceId,
    /// Best similarity of one of its diff chunks with the symptom, and that chunk's evidence.
    pub diff_match: Option<(f32, EvidenceId)>,
}

/// A config change in the change window.
#[derive(Debug, Clone)]
pub struct ConfigCandidate {
    pub change: ConfigChangeEvent,
    /// `None` for a cluster-wide change.
    pub service_key: Option<String>,
    pub record_evidence: EvidenceId,
}

/// A past incident on a service in the blast radius.
#[derive(Debug, Clone)]
pub struct Precedent {
    pub service_key: String,
    pub hypothesis_type: HypothesisType,
    pub evidence: EvidenceId,
}

/// Everything the ranking needs, gathered from the ports.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub incident: Incident,
    pub origin: String,
    pub radius: Vec<Reach>,
    /// The `DEPENDS_ON` edges between the services of the radius (empty when the
    /// topology store gave none: the ranking then judges by distance alone).
    pub depends_on: Vec<DependsOn>,
    pub signals: Vec<(Signal, Option<EvidenceId>)>,
    pub deployments: Vec<DeploymentCandidate>,
    pub config_changes: Vec<ConfigCandidate>,
    pub precedents: Vec<Precedent>,
    pub topology_evidence: Option<EvidenceId>,
    pub gap_evidence: Vec<EvidenceId>,
    /// Priors from human feedback on earlier incidents (`feedback::gather_priors`).
    pub priors: crate::feedback::Priors,
    /// Factor weights learned from feedback on earlier incidents (`learn::learned_weights`).
    pub weights: crate::learn::Weights,
    /// The calls between services, from service-graph series (`edges`); empty without traces.
    pub edges: Vec<(crate::edges::EdgeHealth, Option<EvidenceId>)>,
}

/// A scored candidate before it becomes a stored hypothesis.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub hypothesis_type: HypothesisType,
    pub service_key: String,
    pub culprit: Option<String>,
    pub title: String,
    pub factors: Vec<Factor>,
    pub score: f64,
    pub evidence_ids: Vec<EvidenceId>,
}

/// Strength below which a service is not considered anomalous.
const ANOMALOUS: f64 = 0.15;

struct ServiceView<'a> {
    reach: &'a Reach,
    signals: Vec<&'a (Signal, Option<EvidenceId>)>,
}

impl ServiceView<'_> {
    fn best(&self, pred: impl Fn(MetricKind) -> bool) -> Option<&Signal> {
        self.signals
            .iter()
            .map(|(s, _)| s)
            .filter(|s| pred(s.kind))
            .max_by(|a, b| a.effective_strength().total_cmp(&b.effective_strength()))
    }

    fn strength(&self, pred: impl Fn(MetricKind) -> bool) -> f64 {
        self.best(pred).map(Signal::effective_strength).unwrap_or(0.0)
    }

    fn onset(&self, pred: impl Fn(MetricKind) -> bool) -> Option<Timestamp> {
        self.signals
            .iter()
            .map(|(s, _)| s)
            .filter(|s| pred(s.kind) && s.effective_strength() >= ANOMALOUS)
            .filter_map(|s| s.onset)
            .min()
    }

    fn evidence(&self, pred: impl Fn(MetricKind) -> bool) -> Vec<EvidenceId> {
        self.signals.iter().filter(|(s, _)| pred(s.kind)).filter_map(|(_, e)| *e).collect()
    }
}

fn any(_: MetricKind) -> bool {
    true
}

fn moved(kind: MetricKind) -> bool {
    kind != MetricKind::Other
}

/// What a degraded dependency shows: symptoms and saturation. Request
/// volume is left out: a dependency's traffic moves with its callers', so a traffic
/// shift on it is more often an effect than its own fault.
fn degraded(kind: MetricKind) -> bool {
    kind.is_symptom() || kind.is_saturation() || kind == MetricKind::Connections
}

/// Build and score every candidate, best first, the `unknown` one included.
pub fn build(g: &Gathered) -> Vec<Candidate> {
    // Signals grouped by service once, in their order: a wide radius costs a lookup
    // per service, not a scan of every signal.
    let mut by_service: std::collections::HashMap<&str, Vec<&(Signal, Option<EvidenceId>)>> =
        std::collections::HashMap::new();
    for s in &g.signals {
        by_service.entry(s.0.service_key.as_str()).or_default().push(s);
    }
    let views: BTreeMap<&str, ServiceView<'_>> = g
        .radius
        .iter()
        .map(|r| {
            let signals = by_service.get(r.key.as_str()).cloned().unwrap_or_default();
            (r.key.as_str(), ServiceView { reach: r, signals })
        })
        .collect();
    let gaps = g.gap_evidence.len();
    let quality = factors::evidence_quality(gaps);
    let global_onset = views.values().filter_map(|v| v.onset(moved)).min();
    let onset_of = |key: &str| views.get(key).and_then(|v| v.onset(moved)).or(global_onset);
    let distance_of = |key: &str| views.get(key).map(|v| v.reach.distance).unwrap_or(3);
    let precedent = |key: &str, t: HypothesisType| {
        let on_service: Vec<&Precedent> = g.precedents.iter().filter(|p| p.service_key == key).collect();
        let same = on_service.iter().filter(|p| p.hypothesis_type == t).count();
        (
            factors::precedent(same, on_service.len(), service_name_of(key), t),
            on_service.iter().filter(|p| p.hypothesis_type == t).map(|p| p.evidence).collect::<Vec<_>>(),
        )
    };
    // Best change timing per service, for "unexplained by change".
    let mut change_timing: BTreeMap<String, f64> = BTreeMap::new();
    // What the calls between services say (only for services the edges touch).
    let radius_keys: Vec<&str> = g.radius.iter().map(|r| r.key.as_str()).collect();
    let edge_views = crate::edges::views(g.edges.iter().map(|(e, _)| e), &radius_keys);
    let edge_factor = |key: &str| edge_views.get(key).map(|v| factors::edge_evidence(v, service_name_of(key)));
    // How strongly a service shows the trouble: its own signals, or the calls into it
    // as its callers saw them when those degraded more (a service answering errors
    // quickly can look calm on its own metrics). Shared by every hypothesis that
    // blames the service, so a change on it and its failing as a dependency are
    // judged on the same symptoms.
    let symptom = |key: &str, own: Option<&Signal>| -> Factor {
        let name = service_name_of(key);
        let own_strength = own.map(Signal::effective_strength).unwrap_or(0.0);
        let seen = edge_views.get(key).map(|e| e.inbound_degradation()).unwrap_or(0.0);
        match edge_views.get(key).and_then(|e| e.inbound()).filter(|_| seen > own_strength) {
            Some(e) => Factor::new(
                "anomaly_strength",
                seen,
                3.0,
                format!("calls from {} into {name}: {}", e.caller, e.describe()),
            ),
            None => factors::anomaly_strength(
                own_strength,
                own.map(|s| s.z).unwrap_or(0.0),
                &format!("{name} {}", own.map(|s| s.metric_name.as_str()).unwrap_or("metrics")),
            ),
        }
    };
    let edge_evidence = |key: &str| -> Vec<EvidenceId> {
        let name = service_name_of(key);
        g.edges
            .iter()
            .filter(|(e, _)| e.degraded() && (e.callee_key == key || e.caller == name))
            .filter_map(|(_, ev)| *ev)
            .collect()
    };

    // The dependency graph of the radius: what each service depends on, and how well
    // the services between the incident's service and a deeper one carry its fault.
    let graph = crate::paths::DependencyGraph::new(&g.depends_on);
    let shows = |key: &str| -> f64 {
        match views.get(key) {
            // A service without series can neither confirm nor refute a path.
            Some(v) if !v.signals.is_empty() => {
                let inbound = edge_views.get(key).map(|e| e.inbound_degradation()).unwrap_or(0.0);
                v.strength(degraded).max(inbound)
            }
            _ => 1.0,
        }
    };
    let support = if graph.is_empty() { BTreeMap::new() } else { graph.path_support(&g.origin, shows) };
    // Only for a service with callers between it and the incident's service: a direct
    // dependency's path says nothing, and a constant would dilute the other factors.
    let path_factor = |key: &str| -> Option<Factor> {
        let (value, weakest) = support.get(key)?;
        let weakest = weakest.as_deref()?;
        Some(factors::path_support(*value, Some(service_name_of(weakest)), service_name_of(key)))
    };
    // What a service depends on that degraded too, most strongly: its own dependencies
    // when the graph is known, else every service farther downstream.
    let dependencies_max = |v: &ServiceView<'_>| -> f64 {
        if graph.is_empty() {
            g.radius
                .iter()
                .filter(|r| r.direction == Direction::Downstream && r.distance > v.reach.distance)
                .filter_map(|r| views.get(r.key.as_str()))
                .map(|w| w.strength(degraded))
                .fold(0.0, f64::max)
        } else {
            graph
                .dependencies_of(&v.reach.key)
                .into_iter()
                .filter_map(|k| views.get(k))
                .map(|w| w.strength(degraded))
                .fold(0.0, f64::max)
        }
    };

    let mut out = Vec::new();

    for d in &g.deployments {
        let key = d.service_key.as_str();
        let name = service_name_of(key);
        let view = views.get(key);
        let onset = onset_of(key).unwrap_or(g.incident.window_start);
        let timing = factors::change_timing(minutes_between(d.deployment.started_at, onset));
        let anomaly = symptom(key, view.and_then(|v| v.best(moved)));
        let files: Vec<(FileChangeType, String)> =
            d.files.iter().map(|(f, _)| (f.change_type, f.file_path.clone())).collect();
        let risk = factors::release_risk(&files, d.is_rollback);
        let (prec, prec_ev) = precedent(key, HypothesisType::Release);
        let entry = change_timing.entry(key.to_string()).or_insert(0.0);
        *entry = entry.max(timing.value * risk.value.max(0.3));
        let mut fs = vec![
            timing,
            anomaly,
            factors::topology_distance(distance_of(key), name),
            risk,
            factors::diff_similarity(d.diff_match.map(|m| m.0)),
            prec,
            quality.clone(),
        ];
        fs.extend(edge_factor(key));
        let mut ev = vec![d.record_evidence];
        ev.extend(edge_evidence(key));
        ev.extend(d.files.iter().map(|(_, e)| *e));
        ev.extend(d.diff_match.map(|m| m.1));
        ev.extend(view.map(|v| v.evidence(any)).unwrap_or_default());
        ev.extend(g.topology_evidence);
        ev.extend(prec_ev);
        let version = d
            .deployment
            .image_ref
            .clone()
            .or_else(|| d.deployment.revision.clone())
            .unwrap_or_else(|| d.deployment.deployment_event_id.to_string());
        out.push(candidate(
            HypothesisType::Release,
            key,
            Some(format!("deployment:{}", d.deployment.deployment_event_id)),
            format!(
                "{}deployment of {name} ({version}) at {}",
                if d.is_rollback { "rollback " } else { "" },
                d.deployment.started_at.format("%H:%M UTC")
            ),
            fs,
            ev,
        ));
    }

    for c in &g.config_changes {
        let key = c.service_key.clone().unwrap_or_else(|| g.origin.clone());
        let name = service_name_of(&key).to_string();
        let view = views.get(key.as_str());
        let onset = onset_of(&key).unwrap_or(g.incident.window_start);
        let timing = factors::change_timing(minutes_between(c.change.detected_at, onset));
        let risk = factors::config_risk(&c.change);
        let t = factors::config_hypothesis_type(&c.change);
        let (prec, prec_ev) = precedent(&key, t);
        let entry = change_timing.entry(key.clone()).or_insert(0.0);
        *entry = entry.max(timing.value * risk.value);
        let mut distance = factors::topology_distance(distance_of(&key), &name);
        if c.service_key.is_none() {
            distance = Factor::new("topology_distance", 0.6, 1.0, "cluster-wide change: touches every service");
        }
        let mut fs =
            vec![timing, symptom(&key, view.and_then(|v| v.best(moved))), distance, risk, prec, quality.clone()];
        fs.extend(edge_factor(&key));
        let mut ev = vec![c.record_evidence];
        ev.extend(edge_evidence(&key));
        ev.extend(view.map(|v| v.evidence(any)).unwrap_or_default());
        ev.extend(g.topology_evidence);
        ev.extend(prec_ev);
        let diff = &c.change.diff_payload;
        let field = diff.get("field").and_then(|v| v.as_str()).unwrap_or("?");
        let old = diff.get("old_value").map(short).unwrap_or_default();
        let new = diff.get("new_value").map(short).unwrap_or_default();
        out.push(candidate(
            t,
            &key,
            Some(format!("config_change:{}", c.change.config_change_id)),
            format!(
                "{} on {} ({name}): {field} {old} -> {new} at {}",
                c.change.change_kind,
                c.change.resource_name,
                c.change.detected_at.format("%H:%M UTC")
            ),
            fs,
            ev,
        ));
    }

    // Anomaly-driven hypotheses: one per service and type where something moved.
    // Only services with a change can explain an anomaly by one.
    let changed: Vec<&Reach> = g.radius.iter().filter(|r| change_timing.contains_key(r.key.as_str())).collect();
    for v in views.values() {
        let key = v.reach.key.as_str();
        let name = service_name_of(key);
        // A change on this service, or on a service between it and the incident's
        // service (a caller can break how it uses a dependency), explains its anomaly.
        let on_path = changed
            .iter()
            .filter(|r| {
                r.key == key
                    || (v.reach.direction == Direction::Downstream
                        && r.direction != Direction::Upstream
                        && r.distance < v.reach.distance)
            })
            .filter_map(|r| change_timing.get(r.key.as_str()).map(|t| if r.key == key { *t } else { 0.8 * t }))
            .fold(0.0, f64::max);
        let unexplained = factors::unexplained_by_change(on_path, name);
        let others_onset = |pred: &dyn Fn(&Signal) -> bool| {
            g.signals
                .iter()
                .map(|(s, _)| s)
                .filter(|s| pred(s) && s.effective_strength() >= ANOMALOUS)
                .filter_map(|s| s.onset)
                .min()
        };
        let lead = |own: Option<Timestamp>, others: Option<Timestamp>| match (own, others) {
            (Some(o), Some(x)) => Some(minutes_between(o, x)),
            (Some(_), None) => Some(0.0),
            _ => None,
        };

        // A service's own saturated resources, without a surge in its traffic, point to
        // `infra` on it rather than to it failing as a dependency (databases saturate
        // from their queries: that stays `db`).
        let saturation = v.best(MetricKind::is_saturation);
        let traffic_rise = v
            .best(|k| k == MetricKind::Traffic)
            .filter(|s| s.direction > 0)
            .map(Signal::effective_strength)
            .unwrap_or(0.0);
        let own_share = if v.reach.kind == NodeKind::Service {
            // How clearly it saturated (persistence already weighs in `anomaly_strength`).
            factors::own_saturation_share(
                saturation.map(|s| crate::signals::strength(s.z)).unwrap_or(0.0),
                traffic_rise,
            )
        } else {
            0.0
        };
        let downstream_max = dependencies_max(v);

        // dependency / db: something downstream (or the origin, when it is a database) degraded.
        let is_db = v.reach.kind == NodeKind::Database;
        if v.reach.direction == Direction::Downstream || (is_db && v.reach.direction == Direction::Origin) {
            let own_signals = v.strength(degraded);
            // The calls into it, as its callers saw them, are its symptoms too.
            let seen = edge_views.get(key).map(|e| e.inbound_degradation()).unwrap_or(0.0);
            let inbound = edge_views.get(key).and_then(|e| e.inbound()).filter(|_| seen > own_signals);
            let own = own_signals.max(seen);
            if own >= ANOMALOUS {
                let sym = v.best(degraded);
                let own_onset = v.onset(degraded);
                let others = others_onset(&|s: &Signal| s.service_key != key);
                let t = if is_db { HypothesisType::Db } else { HypothesisType::Dependency };
                let (prec, prec_ev) = precedent(key, t);
                let anomaly = symptom(key, sym);
                let mut fs = vec![
                    anomaly,
                    factors::onset_order(lead(own_onset, others), name),
                    factors::isolation(downstream_max, own, name),
                    unexplained.clone(),
                    Factor::new(
                        "topology_distance",
                        1.0 / (1.0 + 0.25 * f64::from(v.reach.distance)),
                        1.0,
                        format!("{name} is {} hop(s) downstream of the incident's service", v.reach.distance),
                    ),
                    prec,
                    quality.clone(),
                ];
                // Only when it applies: a constant bonus would dilute the other factors.
                if !is_db && own_share >= ANOMALOUS {
                    fs.push(factors::not_resource_bound(own_share, name));
                }
                fs.extend(path_factor(key));
                fs.extend(edge_factor(key));
                let mut ev = v.evidence(moved);
                ev.extend(edge_evidence(key));
                ev.extend(g.topology_evidence);
                ev.extend(prec_ev);
                let what = if is_db { "database" } else { "dependency" };
                let title = match inbound {
                    Some(e) => format!("{what} {name} degraded: calls from {} {}", e.caller, e.describe()),
                    None => format!(
                        "{what} {name} degraded: {} moved {:.1} sigma",
                        sym.map(|s| s.metric_name.as_str()).unwrap_or("?"),
                        sym.map(|s| s.z).unwrap_or(0.0)
                    ),
                };
                out.push(candidate(t, key, None, title, fs, ev));
            }
        }

        // traffic: request volume rose on the incident's service or a caller.
        if matches!(v.reach.direction, Direction::Origin | Direction::Upstream)
            && let Some(s) =
                v.best(|k| k == MetricKind::Traffic).filter(|s| s.direction > 0 && s.effective_strength() >= ANOMALOUS)
        {
            let others = others_onset(&|o: &Signal| o.kind.is_symptom() || o.kind.is_saturation());
            let ratio = if s.baseline_median.abs() > 1e-9 { s.peak_value / s.baseline_median } else { 0.0 };
            let (prec, prec_ev) = precedent(key, HypothesisType::Traffic);
            let fs = vec![
                factors::anomaly_strength(s.effective_strength(), s.z, &format!("{name} {}", s.metric_name)),
                factors::onset_order(lead(s.onset, others), name),
                unexplained.clone(),
                factors::topology_distance(v.reach.distance, name),
                prec,
                quality.clone(),
            ];
            let mut ev = v.evidence(|k| k == MetricKind::Traffic || k.is_symptom());
            ev.extend(g.topology_evidence);
            ev.extend(prec_ev);
            out.push(candidate(
                HypothesisType::Traffic,
                key,
                None,
                format!("traffic surge on {name}: {} at {ratio:.1}x its baseline", s.metric_name),
                fs,
                ev,
            ));
        }

        // infra: a resource saturated on a service in the radius.
        if let Some(s) = saturation.filter(|s| s.effective_strength() >= ANOMALOUS) {
            let others = others_onset(&|o: &Signal| {
                o.kind.is_symptom() || (o.service_key != key && o.kind != MetricKind::Other)
            });
            let (prec, prec_ev) = precedent(key, HypothesisType::Infra);
            let mut fs = vec![
                factors::anomaly_strength(s.effective_strength(), s.z, &format!("{name} {}", s.metric_name)),
                factors::onset_order(lead(s.onset, others), name),
                unexplained.clone(),
                factors::topology_distance(v.reach.distance, name),
                factors::own_saturation(own_share, &s.metric_name, name),
                factors::isolation(downstream_max, s.effective_strength(), name),
                prec,
                quality.clone(),
            ];
            fs.extend(path_factor(key));
            fs.extend(edge_factor(key));
            let mut ev = v.evidence(|k| k.is_saturation() || k.is_symptom());
            ev.extend(edge_evidence(key));
            ev.extend(g.topology_evidence);
            ev.extend(prec_ev);
            out.push(candidate(
                HypothesisType::Infra,
                key,
                None,
                format!("resource saturation on {name}: {} moved {:.1} sigma", s.metric_name, s.z),
                fs,
                ev,
            ));
        }
    }

    crate::feedback::apply_priors(&mut out, g);
    g.weights.apply(&mut out);
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.title.cmp(&b.title)));

    // unknown: how far the best explanation is from decisive.
    let best = out.first().map(|c| c.score).unwrap_or(0.0);
    let max_strength = views.values().map(|v| v.strength(moved)).fold(0.0, f64::max);
    let fs = vec![
        Factor::new(
            "no_decisive_hypothesis",
            1.0 - best,
            2.0,
            match out.first() {
                Some(c) => format!("the best hypothesis scores {best:.2} ({})", c.title),
                None => "no candidate hypothesis could be formed".to_string(),
            },
        ),
        Factor::new(
            "weak_signals",
            1.0 - max_strength,
            1.0,
            format!("the strongest anomaly in the blast radius has strength {max_strength:.2}"),
        ),
        factors::evidence_quality(gaps),
    ];
    let combined = factors::combine(&fs[..2]);
    let mut ev: Vec<EvidenceId> = g.gap_evidence.clone();
    ev.extend(g.topology_evidence);
    let mut unknown = candidate(
        HypothesisType::Unknown,
        &g.origin,
        None,
        "no decisive cause found in the evidence".to_string(),
        fs,
        ev,
    );
    unknown.score = 0.25 + 0.35 * combined;
    out.push(unknown);
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.title.cmp(&b.title)));
    out
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn candidate(
    t: HypothesisType,
    key: &str,
    culprit: Option<String>,
    title: String,
    factors: Vec<Factor>,
    mut evidence_ids: Vec<EvidenceId>,
) -> Candidate {
    let mut seen = std::collections::HashSet::new();
    evidence_ids.retain(|e| seen.insert(*e));
    Candidate {
        hypothesis_type: t,
        service_key: key.to_string(),
        culprit,
        title,
        score: factors::combine(&factors),
        factors,
        evidence_ids,
    }
}

/// Turn ranked candidates into stored hypotheses with stable ids.
pub fn to_hypotheses(incident: IncidentId, ranked: &[Candidate]) -> Vec<Hypothesis> {
    ranked
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let culprit = c.culprit.clone().unwrap_or_default();
            Hypothesis {
                hypothesis_id: HypothesisId::derived(&[
                    "hypothesis",
                    &incident.to_string(),
                    c.hypothesis_type.as_str(),
                    &c.service_key,
                    &culprit,
                ]),
                incident_id: incident,
                rank: i as i32 + 1,
                hypothesis_type: c.hypothesis_type,
                title: c.title.clone(),
                confidence: (c.score.clamp(0.0, 1.0) * 100.0).round() / 100.0,
                evidence_ids: c.evidence_ids.clone(),
                details: json!({
                    "service_key": c.service_key,
                    "culprit": c.culprit,
                    "score": c.score,
                    "factors": c.factors,
                }),
            }
        })
        .collect()
}
