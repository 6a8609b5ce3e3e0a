//! Evidence gathering through the ports. Every store error after the incident has
//! been read becomes an explicit evidence gap; the ranking goes on without it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Duration;

use inquest_domain::*;
use inquest_ports::{CommitWithFiles, Direction, ErrorKind, MetricBaselines, PayloadFilter, Reach, StoreError, Stores};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{instrument, warn};

use crate::InvestigateError;
use crate::baseline::{self, BaselineSource};
use crate::evidence::Collector;
use crate::hypotheses::{self, ConfigCandidate, DeploymentCandidate, Gathered, Precedent};
use crate::semantics::Catalogue;
use crate::signals::{self, ONSET_Z, Signal};

/// How far the investigation looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InvestigationConfig {
    /// Length of the same-time-of-day baseline: the minutes before the window on the
    /// incident's day, and as many around the same time on each earlier day.
    pub baseline_minutes: i64,
    /// How many days back the baseline may reach into the clean history the metrics
    /// store holds (earlier incidents and the minutes around changes left out).
    pub baseline_horizon_days: u32,
    /// How long before the window a change may have happened and still be a suspect.
    pub change_lookback_minutes: i64,
    /// Hops along `DEPENDS_ON` in the blast radius.
    pub topology_depth: u32,
    /// A metric catalogue (TOML, or JSON by extension) consulted before the bundled one.
    pub metric_catalogue: Option<PathBuf>,
}

impl Default for InvestigationConfig {
    fn default() -> Self {
        Self {
            baseline_minutes: 180,
            baseline_horizon_days: 14,
            change_lookback_minutes: 240,
            topology_depth: 5,
            metric_catalogue: None,
        }
    }
}

/// A store that could not answer during the investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceGap {
    pub port: String,
    pub backend: String,
    pub operation: String,
    pub message: String,
    pub evidence_id: EvidenceId,
}

/// A runbook suggested for the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookRef {
    pub title: String,
    pub source_url: Option<String>,
    pub score: f32,
    pub evidence_id: EvidenceId,
    /// The service the runbook is written for, when it names one.
    #[serde(default)]
    pub service_key: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The outcome: ranked hypotheses, every piece of evidence, and the gaps met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Investigation {
    pub incident: Incident,
    pub service_key: String,
    pub onset: Option<Timestamp>,
    pub hypotheses: Vec<Hypothesis>,
    pub evidence: Vec<EvidenceArtifact>,
    pub runbooks: Vec<RunbookRef>,
    /// What to do about the leading hypotheses (also in each one's `details.recommendation`).
    pub recommendations: Vec<crate::recommend::Recommendation>,
    pub gaps: Vec<EvidenceGap>,
    pub signals: Vec<Signal>,
    pub blast_radius: Vec<Reach>,
}

struct Gaps<'a> {
    collector: &'a mut Collector,
    gaps: Vec<EvidenceGap>,
}

impl Gaps<'_> {
    fn record(&mut self, port: &str, e: &StoreError) -> EvidenceId {
        warn!(port, store = %e.store, operation = %e.operation, error = %e.message, "evidence gap");
        let id = self.collector.add(
            EvidenceKind::Gap,
            &e.store,
            format!("gap/{port}/{}", e.operation),
            json!({ "port": port, "operation": e.operation, "error": e.to_string(), "retryable": e.retryable() }),
        );
        if !self.gaps.iter().any(|g| g.evidence_id == id) {
            self.gaps.push(EvidenceGap {
                port: port.to_string(),
                backend: e.store.clone(),
                operation: e.operation.clone(),
                message: e.to_string(),
                evidence_id: id,
            });
        }
        id
    }
}

/// Investigate one incident: gather, rank, and return (nothing is saved here).
#[instrument(skip(stores, cfg), fields(incident_id = %incident_id))]
pub async fn investigate(
    stores: &Stores,
    incident_id: IncidentId,
    cfg: &InvestigationConfig,
    now: Timestamp,
) -> Result<Investigation, InvestigateError> {
    let incident = stores
        .records
        .get_incident(incident_id)
        .await
        .map_err(InvestigateError::Records)?
        .ok_or(InvestigateError::IncidentNotFound(incident_id))?;
    let mut collector = Collector::new(incident_id, now);
    let mut gaps = Gaps { collector: &mut collector, gaps: Vec::new() };

    let services = match stores.records.list_services().await {
        Ok(s) => s,
        Err(e) => {
            gaps.record("records", &e);
            Vec::new()
        }
    };
    let by_id: HashMap<ServiceId, &Service> = services.iter().map(|s| (s.service_id, s)).collect();
    let by_key: HashMap<String, &Service> = services.iter().map(|s| (s.service_key(), s)).collect();
    let origin =
        by_id.get(&incident.service_id).map(|s| s.service_key()).unwrap_or_else(|| incident.service_id.to_string());

    // Blast radius.
    let mut topology_evidence = None;
    let (radius, depends_on) = match stores.topology.blast_radius(&origin, cfg.topology_depth).await {
        Ok(br) => {
            topology_evidence = Some(gaps.collector.add(
                EvidenceKind::TopologyQuery,
                stores.topology.backend(),
                br.reference.clone(),
                json!({ "origin": origin, "nodes": br.nodes, "edges": br.edges }),
            ));
            (br.nodes, br.edges)
        }
        Err(e) => {
            gaps.record("topology", &e);
            (
                vec![Reach { key: origin.clone(), kind: NodeKind::Service, distance: 0, direction: Direction::Origin }],
                Vec::new(),
            )
        }
    };

    // Changes of every service in the radius over the baseline horizon: the recent ones
    // are suspects, all of them mark minutes the baseline leaves out.
    let ws = incident.window_start;
    let radius_ids: Vec<ServiceId> = radius.iter().filter_map(|r| by_key.get(&r.key).map(|s| s.service_id)).collect();
    let change_from = ws - Duration::minutes(cfg.change_lookback_minutes);
    let horizon_from = (ws - Duration::days(i64::from(cfg.baseline_horizon_days))).min(change_from);
    let records_backend = stores.records.backend();
    let mut excluded: Vec<baseline::Range> = Vec::new();
    let mut deployments = Vec::new();
    match stores.records.deployments_between(&radius_ids, horizon_from, incident.window_end).await {
        Ok(list) => {
            excluded.extend(list.iter().map(|d| baseline::change_exclusion(d.started_at)));
            let recent: Vec<DeploymentEvent> = list.into_iter().filter(|d| d.started_at >= change_from).collect();
            // The commit ranges concurrently, and every range's commits in one request:
            // a wide radius with many deployments costs no round trip per deployment.
            let ranges =
                futures::future::join_all(recent.iter().map(|d| stores.records.commit_range(d.deployment_event_id)))
                    .await;
            let mut seen = std::collections::HashSet::new();
            let shas: Vec<String> = ranges
                .iter()
                .flat_map(|r| r.as_ref().ok().and_then(Option::as_ref))
                .flat_map(|r| &r.commit_shas)
                .filter(|sha| seen.insert(sha.as_str()))
                .cloned()
                .collect();
            let commits: Result<HashMap<String, CommitWithFiles>, StoreError> = if shas.is_empty() {
                Ok(HashMap::new())
            } else {
                stores
                    .records
                    .commits(&shas)
                    .await
                    .map(|list| list.into_iter().map(|c| (c.commit.commit_sha.clone(), c)).collect())
            };
            for (d, range) in recent.into_iter().zip(ranges) {
                let service_key = by_id.get(&d.service_id).map(|s| s.service_key()).unwrap_or_default();
                let record_evidence = gaps.collector.add(
                    EvidenceKind::Record,
                    records_backend,
                    format!("deployment_events/{}", d.deployment_event_id),
                    json!({ "service_key": service_key, "started_at": d.started_at, "image_ref": d.image_ref, "revision": d.revision, "deploy_type": d.deploy_type }),
                );
                let mut files = Vec::new();
                let mut is_rollback = false;
                let mut previous_revision = None;
                match range {
                    Ok(Some(range)) => {
                        is_rollback = range.is_rollback;
                        previous_revision = range.previous_revision.clone();
                        match &commits {
                            Ok(commits) => {
                                // In the range's order, as `commits` answers.
                                for c in range.commit_shas.iter().filter_map(|sha| commits.get(sha)).cloned() {
                                    for f in c.files {
                                        let ev = gaps.collector.add(
                                            EvidenceKind::GitDiff,
                                            records_backend,
                                            format!("commit_files/{}", f.id),
                                            json!({ "commit_sha": f.commit_sha, "path": f.file_path, "change_type": f.change_type, "lines_added": f.lines_added, "lines_removed": f.lines_removed, "message": c.commit.message }),
                                        );
                                        files.push((f, ev));
                                    }
                                }
                            }
                            Err(e) => {
                                gaps.record("records", e);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        gaps.record("records", &e);
                    }
                }
                deployments.push(DeploymentCandidate {
                    deployment: d,
                    service_key,
                    is_rollback,
                    previous_revision,
                    files,
                    record_evidence,
                    diff_match: None,
                });
            }
        }
        Err(e) => {
            gaps.record("records", &e);
        }
    }
    let mut config_changes = Vec::new();
    match stores.records.config_changes_between(&radius_ids, horizon_from, incident.window_end).await {
        Ok(list) => {
            excluded.extend(list.iter().map(|c| baseline::change_exclusion(c.detected_at)));
            for c in list.into_iter().filter(|c| c.detected_at >= change_from) {
                let service_key = c.service_id.and_then(|id| by_id.get(&id)).map(|s| s.service_key());
                let record_evidence = gaps.collector.add(
                    EvidenceKind::Record,
                    records_backend,
                    format!("config_change_events/{}", c.config_change_id),
                    json!({ "service_key": service_key, "detected_at": c.detected_at, "source": c.source, "change_kind": c.change_kind, "resource_name": c.resource_name, "diff": c.diff_payload }),
                );
                config_changes.push(ConfigCandidate { change: c, service_key, record_evidence });
            }
        }
        Err(e) => {
            gaps.record("records", &e);
        }
    }

    // Earlier incidents on services of the radius are not normal behaviour either.
    match stores.records.list_incidents().await {
        Ok(list) => {
            excluded.extend(
                list.iter()
                    .filter(|i| i.incident_id != incident_id && i.window_start < ws && i.window_end >= horizon_from)
                    .filter(|i| radius_ids.contains(&i.service_id))
                    .map(|i| baseline::incident_exclusion(i.window_start, i.window_end)),
            );
        }
        Err(e) => {
            gaps.record("records", &e);
        }
    }

    // Metrics of every service in the radius, concurrently: baselines over the clean
    // history (all of it, and the same time of day) and the analysis window.
    let catalogue: Arc<Catalogue> = match &cfg.metric_catalogue {
        Some(path) => Catalogue::with_overrides(path).unwrap_or_else(|e| {
            gaps.record("config", &StoreError::new(ErrorKind::InvalidInput, "config", "metric_catalogue", e));
            Catalogue::bundled()
        }),
        None => Catalogue::bundled(),
    };
    let window_from = ws - signals::onset_lookback();
    let plan = baseline::plan(ws, window_from, cfg.baseline_horizon_days, cfg.baseline_minutes, &excluded);
    let same_time_differs = plan.same_time != plan.history;
    // One call for the whole radius, computed in the store: the cost of a service
    // more is its points, not more round trips.
    let keys: Vec<String> = radius.iter().map(|r| r.key.clone()).collect();
    let range_sets =
        if same_time_differs { vec![plan.history.clone(), plan.same_time.clone()] } else { vec![plan.history.clone()] };
    let fetched = match stores.metrics.radius_metrics(&keys, &range_sets, window_from, incident.window_end).await {
        Ok(mut m) => {
            let mut same_time = if same_time_differs { m.baselines.pop() } else { None };
            let mut history = m.baselines.pop().unwrap_or_default();
            keys.iter()
                .filter_map(|k| {
                    let win = m.windows.remove(k)?;
                    let history = history.remove(k).unwrap_or_else(|| MetricBaselines {
                        reference: win.reference.clone(),
                        baselines: BTreeMap::new(),
                    });
                    let same_time = same_time.as_mut().and_then(|s| s.remove(k));
                    Some((k.clone(), history, same_time, win))
                })
                .collect::<Vec<_>>()
        }
        Err(e) => {
            gaps.record("metrics", &e);
            Vec::new()
        }
    };
    let mut signals_with_ev: Vec<(Signal, Option<EvidenceId>)> = Vec::new();
    let metrics_backend = stores.metrics.backend();
    let metric_kind =
        if metrics_backend == "clickhouse" { EvidenceKind::ClickhouseQuery } else { EvidenceKind::MetricQuery };
    let mut by_source: BTreeMap<BaselineSource, usize> = BTreeMap::new();
    let mut without_history: Vec<String> = Vec::new();
    let mut edges: Vec<(crate::edges::EdgeHealth, Option<EvidenceId>)> = Vec::new();
    // Every service of a radius has the same few metric names: each is looked up once.
    let mut meanings: HashMap<String, crate::semantics::MetricSemantics> = HashMap::new();
    for (key, history, same_time, win) in fetched {
        // A raw counter or bucket is scored through its derived rate or quantile.
        let names: std::collections::HashSet<&str> = win.series.iter().map(|s| s.metric_name.as_str()).collect();
        for series in &win.series {
            if crate::semantics::superseded(&series.metric_name, &names) {
                continue;
            }
            let chosen = baseline::choose(
                history.baselines.get(&series.metric_name),
                same_time.as_ref().and_then(|s| s.baselines.get(&series.metric_name)),
            );
            let meaning = match meanings.get(&series.metric_name) {
                Some(m) => m.clone(),
                None => {
                    let m = catalogue.lookup(&series.metric_name);
                    meanings.insert(series.metric_name.clone(), m.clone());
                    m
                }
            };
            // A service-graph series (calls into this service from a `client`) is judged
            // per edge too, against its history or its own points before the incident.
            let edge =
                crate::edges::assess(&key, &series.metric_name, &meaning, &series.points, ws, chosen.map(|(_, b)| b));
            let is_edge = edge.is_some();
            if let Some(edge) = edge {
                let ev = edge.degraded().then(|| {
                    gaps.collector.add(
                        metric_kind,
                        metrics_backend,
                        format!("{}&metric={}", win.reference, series.metric_name),
                        json!({
                            "service_key": key,
                            "metric_name": edge.metric_name,
                            "caller": edge.caller,
                            "kind": edge.kind,
                            "before": round3(edge.before),
                            "sustained": round3(edge.after),
                            "degradation": round3(edge.degradation),
                        }),
                    )
                });
                edges.push((edge, ev));
            }
            // Without history, the window's own points before the incident are the
            // baseline (datasets with a few rows only), and the gap is said.
            let fallback;
            let mut pre_level_at = Some(ws);
            let (source, b, reference) = match chosen {
                Some((src, b)) => {
                    let reference = match src {
                        BaselineSource::SameTimeOfDay => same_time.as_ref().map(|s| s.reference.as_str()),
                        _ => Some(history.reference.as_str()),
                    };
                    (src, b, reference.unwrap_or_default())
                }
                // An edge series without history was judged as an edge above.
                None if is_edge => continue,
                None => {
                    if !without_history.contains(&key) {
                        without_history.push(key.clone());
                    }
                    let pre: Vec<f64> = series.points.iter().filter(|(t, _)| *t < ws).map(|(_, v)| *v).collect();
                    match inquest_domain::stats::Baseline::from_values(&pre) {
                        Some(b) if pre.len() >= 2 => {
                            fallback = b;
                            pre_level_at = None;
                            (BaselineSource::PreOnset, &fallback, win.reference.as_str())
                        }
                        _ => continue,
                    }
                }
            };
            *by_source.entry(source).or_default() += 1;
            let Some(sig) = signals::detect(&key, &series.metric_name, &meaning, b, &series.points, pre_level_at)
            else {
                continue;
            };
            let baseline_minutes = match source {
                BaselineSource::History => plan.history_minutes(),
                BaselineSource::SameTimeOfDay => plan.same_time_minutes(),
                BaselineSource::PreOnset => signals::onset_lookback().num_minutes(),
            };
            let ev = (sig.z >= ONSET_Z).then(|| {
                gaps.collector.add(
                    metric_kind,
                    metrics_backend,
                    format!("{}&metric={}", win.reference, series.metric_name),
                    json!({
                        "service_key": key,
                        "metric_name": sig.metric_name,
                        "kind": sig.kind,
                        "unit": meaning.unit,
                        "meaning_from": meaning.source,
                        "robust_z": round3(sig.z),
                        "direction": sig.direction,
                        "onset": sig.onset,
                        "baseline_median": round3(sig.baseline_median),
                        "baseline_scale": round3(sig.baseline_scale),
                        "peak_value": round3(sig.peak_value),
                        "baseline_ref": reference,
                        "baseline": { "source": source, "points": b.count, "minutes": baseline_minutes },
                    }),
                )
            });
            signals_with_ev.push((sig, ev));
        }
    }
    gaps.collector.add(
        EvidenceKind::Note,
        metrics_backend,
        format!("baseline_plan?from={}&to={}", horizon_from.to_rfc3339(), window_from.to_rfc3339()),
        json!({
            "horizon_days": cfg.baseline_horizon_days,
            "history_minutes": plan.history_minutes(),
            "same_time_minutes": plan.same_time_minutes(),
            "excluded": plan.excluded,
            "series_by_baseline": by_source,
        }),
    );
    if !without_history.is_empty() {
        let message = format!(
            "no clean history within {} days for {} service(s) ({}); their series are scored against the \
             incident's own pre-onset points",
            cfg.baseline_horizon_days,
            without_history.len(),
            without_history.iter().map(|k| service_name_of(k)).take(5).collect::<Vec<_>>().join(", ")
        );
        gaps.record("metrics", &StoreError::new(ErrorKind::NotFound, metrics_backend, "baseline_history", message));
    }
    let onset =
        signals_with_ev.iter().filter(|(s, _)| signals::strength(s.z) >= 0.15).filter_map(|(s, _)| s.onset).min();

    // Semantic retrieval: diff chunks, runbooks, past incidents similar to the symptom.
    let symptom = symptom_text(&incident, &origin, &signals_with_ev);
    let radius_keys: Vec<Value> = radius.iter().map(|r| Value::from(r.key.clone())).collect();
    let mut runbooks = Vec::new();
    let mut precedents = Vec::new();
    match stores.embedder.embed(std::slice::from_ref(&symptom)).await {
        Ok(mut vectors) if !vectors.is_empty() => {
            let query = vectors.swap_remove(0);
            let semantic_backend = stores.semantic.backend();
            let filter = PayloadFilter::default().any_of("service_key", radius_keys.clone());
            match stores.semantic.search(collections::GIT_DIFF_CHUNKS, &query, &filter, 25).await {
                Ok(hits) => {
                    for hit in hits {
                        let Some(dep) = hit.payload.get("deployment_event_id").and_then(Value::as_str) else {
                            continue;
                        };
                        let Some(cand) =
                            deployments.iter_mut().find(|d| d.deployment.deployment_event_id.to_string() == dep)
                        else {
                            continue;
                        };
                        if cand.diff_match.is_some_and(|(s, _)| s >= hit.score) {
                            continue;
                        }
                        let ev = gaps.collector.add(
                            EvidenceKind::SemanticMatch,
                            semantic_backend,
                            hit.reference(),
                            hit_metadata(&hit),
                        );
                        cand.diff_match = Some((hit.score, ev));
                    }
                }
                Err(e) => {
                    gaps.record("semantic", &e);
                }
            }
            match stores.semantic.search(collections::RUNBOOKS, &query, &PayloadFilter::default(), 3).await {
                Ok(hits) => {
                    for hit in hits.into_iter().filter(|h| h.score > 0.0) {
                        let evidence_id = gaps.collector.add(
                            EvidenceKind::SemanticMatch,
                            semantic_backend,
                            hit.reference(),
                            hit_metadata(&hit),
                        );
                        runbooks.push(RunbookRef {
                            title: hit
                                .payload
                                .get("title")
                                .and_then(Value::as_str)
                                .unwrap_or("untitled runbook")
                                .to_string(),
                            source_url: hit.payload.get("source_url").and_then(Value::as_str).map(str::to_string),
                            score: hit.score,
                            evidence_id,
                            service_key: hit.payload.get("service_key").and_then(Value::as_str).map(str::to_string),
                            tags: hit
                                .payload
                                .get("tags")
                                .and_then(Value::as_array)
                                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                                .unwrap_or_default(),
                        });
                    }
                }
                Err(e) => {
                    gaps.record("semantic", &e);
                }
            }
            match stores.semantic.search(collections::INCIDENT_SUMMARIES, &query, &filter, 50).await {
                Ok(hits) => {
                    for hit in hits {
                        let started = hit
                            .payload
                            .get("started_at")
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse::<Timestamp>().ok());
                        let same_incident =
                            hit.payload.get("incident_id").and_then(Value::as_str) == Some(&incident_id.to_string());
                        if same_incident || started.is_none_or(|t| t >= ws) {
                            continue;
                        }
                        let (Some(key), Some(t)) = (
                            hit.payload.get("service_key").and_then(Value::as_str),
                            hit.payload
                                .get("hypothesis_type")
                                .and_then(Value::as_str)
                                .and_then(|t| t.parse::<HypothesisType>().ok()),
                        ) else {
                            continue;
                        };
                        let evidence = gaps.collector.add(
                            EvidenceKind::SemanticMatch,
                            semantic_backend,
                            hit.reference(),
                            hit_metadata(&hit),
                        );
                        precedents.push(Precedent { service_key: key.to_string(), hypothesis_type: t, evidence });
                    }
                }
                Err(e) => {
                    gaps.record("semantic", &e);
                }
            }
        }
        Ok(_) => {}
        Err(e) => {
            gaps.record("embedder", &e);
        }
    }

    // Anomaly features, written back to the metrics store for later analysis.
    let features: Vec<AnomalyFeature> = signals_with_ev
        .iter()
        .filter(|(s, _)| s.z >= ONSET_Z)
        .flat_map(|(s, _)| {
            let ts = s.onset.unwrap_or(ws);
            [
                AnomalyFeature {
                    incident_id: incident_id.to_string(),
                    ts,
                    service_key: s.service_key.clone(),
                    feature_name: format!("{}.robust_z", s.metric_name),
                    feature_value: s.z,
                },
                AnomalyFeature {
                    incident_id: incident_id.to_string(),
                    ts,
                    service_key: s.service_key.clone(),
                    feature_name: format!("{}.onset_offset_s", s.metric_name),
                    feature_value: (ts - ws).num_seconds() as f64,
                },
            ]
        })
        .collect();
    // Written while what people said of earlier incidents is read (no leakage), once:
    // the priors, the factor weights learned from it, and how long recoveries took.
    let write =
        async { if features.is_empty() { Ok(()) } else { stores.metrics.write_anomaly_features(&features).await } };
    let feedback = async {
        let judgements = crate::feedback::earlier_judgements(stores, ws, Some(incident_id)).await;
        let priors = crate::feedback::priors_of(stores, judgements.as_deref().unwrap_or_default(), ws).await;
        (judgements, priors)
    };
    let (written, (judgements, priors)) = futures::join!(write, feedback);
    if let Err(e) = written {
        gaps.record("metrics", &e);
    }
    let judgements = judgements.unwrap_or_else(|e| {
        gaps.record("records", &e);
        Vec::new()
    });
    let priors = priors.unwrap_or_else(|e| {
        gaps.record("records", &e);
        crate::feedback::Priors::default()
    });
    let weights = crate::learn::fit(Some(ws), &crate::learn::judged_of(&judgements, ws));
    let recoveries = crate::recommend::recoveries_of(&judgements, ws);

    let gap_list = std::mem::take(&mut gaps.gaps);
    let gathered = Gathered {
        incident: incident.clone(),
        origin: origin.clone(),
        radius: radius.clone(),
        depends_on,
        signals: signals_with_ev.clone(),
        deployments,
        config_changes,
        precedents,
        topology_evidence,
        gap_evidence: gap_list.iter().map(|g| g.evidence_id).collect(),
        priors,
        weights,
        edges,
    };
    let ranked = hypotheses::build(&gathered);
    let mut hypotheses = hypotheses::to_hypotheses(incident_id, &ranked);
    let recommendations = crate::recommend::recommend(&gathered, &ranked, &hypotheses, &runbooks, &recoveries);
    // The precedent each hypothesis has in earlier judged incidents (for the response
    // policy's "a confirmed precedent"), when there is any.
    for h in &mut hypotheses {
        let service = h.details.get("service_key").and_then(Value::as_str).map(str::to_string);
        if let Some(service) = service {
            let tally = gathered.priors.judged(&service, h.hypothesis_type);
            if tally.confirmed + tally.rejected > 0
                && let Some(d) = h.details.as_object_mut()
            {
                d.insert("precedent".into(), json!({ "confirmed": tally.confirmed, "rejected": tally.rejected }));
            }
        }
    }
    for r in &recommendations {
        if let Some(h) = hypotheses.iter_mut().find(|h| h.hypothesis_id == r.hypothesis_id)
            && let Some(d) = h.details.as_object_mut()
        {
            d.insert("recommendation".into(), serde_json::to_value(r).unwrap_or(Value::Null));
        }
    }
    Ok(Investigation {
        incident,
        service_key: origin,
        onset,
        hypotheses,
        evidence: collector.into_items(),
        runbooks,
        recommendations,
        gaps: gap_list,
        signals: signals_with_ev.into_iter().map(|(s, _)| s).collect(),
        blast_radius: radius,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn hit_metadata(hit: &SemanticHit) -> Value {
    json!({ "collection": hit.collection, "point_id": hit.id, "score": hit.score, "payload": hit.payload })
}

/// Words describing what the incident looks like, for semantic retrieval.
fn symptom_text(incident: &Incident, origin: &str, signals: &[(Signal, Option<EvidenceId>)]) -> String {
    let mut moved: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (s, _) in signals.iter().filter(|(s, _)| s.z >= ONSET_Z) {
        moved.entry(service_name_of(&s.service_key).to_string()).or_default().push(s.metric_name.replace('_', " "));
    }
    let mut text = format!("{} on {}", incident.trigger_type.replace('_', " "), service_name_of(origin));
    for (svc, metrics) in moved {
        text.push_str(&format!("; {svc}: {}", metrics.join(", ")));
    }
    text
}
