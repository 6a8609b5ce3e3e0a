//! The PromQL poller of `inquest serve` (`[telemetry.poll]`): one task per service, on
//! the service's interval, runs every query template over `GET /api/v1/query_range`,
//! writes the new points to the metrics port and feeds them to the anomaly detectors
//! (`inquest_ingest::poll`); an anomaly raised or recovered is an alert of source
//! `anomaly` into the same intake as Alertmanager's. A Prometheus that is down is
//! logged and counted, and the next poll tries again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use inquest_config::{PollQuery, PollSettings, ServiceUrl, Settings};
use inquest_core::semantics::Catalogue;
use inquest_domain::stats::Baseline;
use inquest_domain::{AnomalyFeature, ProjectId, Timestamp, service_key_of};
use inquest_ingest::poll::{
    Anomaly, BASELINE_KEY, Bad, Detector, DetectorConfig, PollError, RangeSeries, Transition, baseline_features,
    fingerprint, name_series, parse_query_range, points_after, render, restore_baselines,
};
use inquest_intake::Outcome;
use inquest_intake::model::{Alert, AlertSource, AlertStatus, Severity};
use inquest_intake_service::Ingest;
use inquest_ports::MetricStore;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Every `outcome` of `inquest_polls_total`: `ok`, or why the query failed.
pub const POLL_OUTCOMES: [&str; 6] = ["ok", "unreachable", "http_error", "refused", "malformed", "store"];

/// The poller's counters on `/metrics`.
#[derive(Clone)]
pub struct PollMetrics {
    /// `inquest_polls_total{service,outcome}`: one per query run.
    pub polls: IntCounterVec,
    /// `inquest_poll_points_written_total{service}`.
    pub points: IntCounterVec,
    /// `inquest_poll_anomalies_total{service,transition}`: `raised`, `resolved`.
    pub anomalies: IntCounterVec,
}

impl PollMetrics {
    pub fn new(registry: &Registry, services: &[String]) -> Result<PollMetrics> {
        let polls = IntCounterVec::new(
            Opts::new("inquest_polls_total", "PromQL range queries run by the poller, by service and outcome"),
            &["service", "outcome"],
        )?;
        let points = IntCounterVec::new(
            Opts::new("inquest_poll_points_written_total", "Points the poller wrote to the metrics store"),
            &["service"],
        )?;
        let anomalies = IntCounterVec::new(
            Opts::new("inquest_poll_anomalies_total", "Anomalies the poller raised and resolved"),
            &["service", "transition"],
        )?;
        for c in [&polls, &points, &anomalies] {
            registry.register(Box::new(c.clone())).context("registering the poller metrics")?;
        }
        for s in services {
            for o in POLL_OUTCOMES {
                polls.with_label_values(&[s.as_str(), o]);
            }
            points.with_label_values(&[s.as_str()]);
            for t in ["raised", "resolved"] {
                anomalies.with_label_values(&[s.as_str(), t]);
            }
        }
        Ok(PollMetrics { polls, points, anomalies })
    }
}

/// The running poller: its tasks, stopped together.
pub struct Poller {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Poller {
    /// Stop polling; a poll in flight ends first (its writes are not cut in half).
    pub async fn stop(self, deadline: tokio::time::Instant) {
        let _ = self.stop.send(true);
        let tasks = async {
            for t in self.tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout_at(deadline, tasks).await.is_err() {
            tracing::warn!("a poll was still running at the end of the grace period");
        }
    }
}

/// What every service's task shares.
struct Shared {
    settings: PollSettings,
    url: ServiceUrl,
    client: reqwest::Client,
    metrics: Arc<dyn MetricStore>,
    ingest: Arc<Ingest>,
    project: ProjectId,
    counters: PollMetrics,
    catalogue: Arc<Catalogue>,
    config: DetectorConfig,
}

/// Start one task per configured service, or nothing when `telemetry.poll.url` is unset.
/// Baselines kept by an earlier run are read back first (a store down: they are rebuilt).
pub async fn start(
    settings: &Settings,
    registry: &Registry,
    metrics: Arc<dyn MetricStore>,
    ingest: Arc<Ingest>,
) -> Result<Option<Poller>> {
    let p = settings.telemetry.poll.clone();
    let Some(url) = p.url.clone() else { return Ok(None) };
    let names: Vec<String> = p.services.iter().map(|s| s.name.trim().to_string()).collect();
    let counters = PollMetrics::new(registry, &names)?;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &p.bearer_token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .context("telemetry.poll.bearer_token: not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(p.timeout_secs))
        .default_headers(headers)
        .build()
        .context("building the poller's HTTP client")?;
    let metrics = metrics.scoped(&p.project);
    let priors = match metrics.anomaly_features(BASELINE_KEY).await {
        Ok(features) => restore_baselines(&features),
        Err(e) => {
            tracing::warn!(error = %e, "poller baselines not read back: they are rebuilt from the next polls");
            HashMap::new()
        }
    };
    let config = DetectorConfig {
        z_threshold: p.z_threshold,
        sustained: p.sustained_points,
        min_baseline: p.min_baseline_points,
        max_baseline: p.baseline_points,
    };
    let shared = Arc::new(Shared {
        project: p.project.clone(),
        url,
        client,
        metrics,
        ingest,
        counters,
        catalogue: Catalogue::bundled(),
        config,
        settings: p.clone(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for s in &p.services {
        let service = s.name.trim().to_string();
        let key = service_key_of(&service);
        let priors: HashMap<String, Baseline> =
            priors.iter().filter(|((k, _), _)| *k == key).map(|((_, m), b)| (m.clone(), *b)).collect();
        let interval = Duration::from_secs(p.interval_of(s));
        tasks.push(tokio::spawn(run_service(shared.clone(), service, interval, priors, stop_rx.clone())));
    }
    tracing::info!(
        url = %shared.url,
        project = %shared.project,
        services = p.services.len(),
        queries = p.queries.len(),
        "poller started"
    );
    Ok(Some(Poller { stop, tasks }))
}

/// One service's detectors, by series name.
struct ServiceState {
    service: String,
    key: String,
    detectors: HashMap<String, Detector>,
    priors: HashMap<String, Baseline>,
}

async fn run_service(
    shared: Arc<Shared>,
    service: String,
    interval: Duration,
    priors: HashMap<String, Baseline>,
    mut stop: watch::Receiver<bool>,
) {
    let key = service_key_of(&service);
    let mut state = ServiceState { service, key, detectors: HashMap::new(), priors };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        poll_once(&shared, &mut state, Utc::now()).await;
    }
}

/// Why one query failed, as its `outcome` label.
fn outcome_of(e: &Failure) -> &'static str {
    match e {
        Failure::Unreachable(_) => "unreachable",
        Failure::Status(..) => "http_error",
        Failure::Answer(PollError::Refused { .. }) => "refused",
        Failure::Answer(PollError::Malformed { .. }) => "malformed",
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("prometheus unreachable: {0}")]
    Unreachable(String),
    #[error("prometheus answered {0}: {1}")]
    Status(u16, String),
    #[error(transparent)]
    Answer(PollError),
}

/// `GET <url>/api/v1/query_range` for `[start, end]` at `step` seconds.
async fn query_range(shared: &Shared, query: &str, start: i64, end: i64) -> Result<Vec<RangeSeries>, Failure> {
    let url = format!("{}/api/v1/query_range", shared.url.expose().trim_end_matches('/'));
    let step = shared.settings.step_secs.to_string();
    let (start, end) = (start.to_string(), end.to_string());
    let r = shared
        .client
        .get(&url)
        .query(&[("query", query), ("start", &start), ("end", &end), ("step", &step)])
        .send()
        .await
        .map_err(|e| Failure::Unreachable(e.without_url().to_string()))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| Failure::Unreachable(e.without_url().to_string()))?;
    // Prometheus answers a bad query with 400/422 and its JSON error: read it for the message.
    match parse_query_range(&body) {
        Ok(series) if status.is_success() => Ok(series),
        Err(e @ PollError::Refused { .. }) => Err(Failure::Answer(e)),
        Err(e) if status.is_success() => Err(Failure::Answer(e)),
        _ => Err(Failure::Status(status.as_u16(), String::from_utf8_lossy(&body).chars().take(200).collect())),
    }
}

/// The direction that is bad for a template's metric: its `bad`, else the catalogue's.
fn bad_of(q: &PollQuery, catalogue: &Catalogue) -> Bad {
    if let Some(b) = q.bad.as_deref().and_then(Bad::parse) {
        return b;
    }
    match catalogue.lookup(&q.name).bad {
        inquest_core::semantics::Bad::Up => Bad::Up,
        inquest_core::semantics::Bad::Down => Bad::Down,
        inquest_core::semantics::Bad::Either => Bad::Either,
    }
}

/// One alert the poll sends, and the anomaly behind it when it fires.
struct Raised {
    alert: Alert,
    metric: String,
    anomaly: Option<Anomaly>,
}

/// Poll every template once for the service at `now`.
async fn poll_once(shared: &Shared, state: &mut ServiceState, now: Timestamp) {
    let s = &shared.settings;
    let step = i64::try_from(s.step_secs).unwrap_or(i64::MAX).max(1);
    let end = now.timestamp().div_euclid(step) * step;
    let start = end - i64::try_from(s.range_secs).unwrap_or(i64::MAX);
    let service = state.service.clone();
    let count = |outcome: &str| shared.counters.polls.with_label_values(&[service.as_str(), outcome]).inc();
    let mut alerts: Vec<Raised> = Vec::new();
    let mut features: Vec<AnomalyFeature> = Vec::new();
    for q in &s.queries {
        let query = render(&q.promql, &service);
        let series = match query_range(shared, &query, start, end).await {
            Ok(series) => series,
            Err(e) => {
                count(outcome_of(&e));
                tracing::warn!(service = %service, query = %q.name, error = %e, "poll failed");
                continue;
            }
        };
        let names = name_series(&q.name, &series);
        let bad = bad_of(q, &shared.catalogue);
        let mut points = Vec::new();
        for (one, name) in series.iter().zip(&names) {
            let last = state.detectors.get(name).and_then(Detector::last);
            points.extend(points_after(&state.key, name, one, last));
        }
        if !points.is_empty() {
            // Points not written are not looked at: the next poll reads them again.
            if let Err(e) = shared.metrics.insert_points(&points).await {
                count("store");
                tracing::warn!(service = %service, query = %q.name, error = %e, "poll points not written");
                continue;
            }
            shared.counters.points.with_label_values(&[service.as_str()]).inc_by(points.len() as u64);
        }
        count("ok");
        for (one, name) in series.iter().zip(names) {
            let detector = state
                .detectors
                .entry(name.clone())
                .or_insert_with(|| Detector::new(shared.config, bad).with_prior(state.priors.get(&name).copied()));
            let before = detector.last();
            let transitions = detector.observe(&one.points);
            let mut ongoing = None;
            let mut changed = false;
            for t in transitions {
                match t {
                    Transition::Raised(a) => {
                        changed = true;
                        alerts.push(firing(q, &service, &name, bad, a));
                    }
                    Transition::Ongoing(a) => ongoing = Some(a),
                    Transition::Recovered { ts, value, z } => {
                        changed = true;
                        alerts.push(resolved(q, &service, &name, bad, (ts, value, z)));
                    }
                }
            }
            // Still anomalous and nothing new said: the repeat keeps the alert firing (it deduplicates).
            if !changed && let Some(a) = ongoing.filter(|_| detector.raised()) {
                alerts.push(firing(q, &service, &name, bad, a));
            }
            if detector.last() != before
                && let (Some(b), Some(ts)) = (detector.baseline(), detector.last())
            {
                features.extend(baseline_features(&state.key, &name, &b, ts));
            }
        }
    }
    if !features.is_empty()
        && let Err(e) = shared.metrics.write_anomaly_features(&features).await
    {
        tracing::warn!(service = %service, error = %e, "poller baselines not written");
    }
    if alerts.is_empty() {
        return;
    }
    let (sent, raised): (Vec<Alert>, Vec<(String, Option<Anomaly>)>) =
        alerts.into_iter().map(|r| (r.alert, (r.metric, r.anomaly))).unzip();
    let applied = match shared.ingest.ingest(&shared.project, sent.clone(), now).await {
        Ok(applied) => applied,
        Err(e) => {
            tracing::warn!(service = %service, alerts = sent.len(), error = %e, "anomaly alerts not taken by the intake");
            return;
        }
    };
    let mut onsets = Vec::new();
    for ((alert, (metric, anomaly)), a) in sent.iter().zip(raised).zip(&applied) {
        let transition = if alert.status == AlertStatus::Firing { "raised" } else { "resolved" };
        if a.outcome != Outcome::Deduplicated || alert.status == AlertStatus::Resolved {
            shared.counters.anomalies.with_label_values(&[service.as_str(), transition]).inc();
        }
        tracing::info!(
            service = %service,
            metric = %metric,
            fingerprint = %a.fingerprint,
            incident_id = ?a.incident_id,
            outcome = ?a.outcome,
            transition,
            "anomaly"
        );
        // The onset and score of a newly raised anomaly, under its incident: the
        // dashboard's onset marker and later analysis read them.
        if let (Some(incident), Some(an), Outcome::Opened | Outcome::Attached) = (a.incident_id, anomaly, a.outcome) {
            for (feature, value) in [("poll_robust_z", an.z), ("poll_points", an.points as f64)] {
                onsets.push(AnomalyFeature {
                    incident_id: incident.to_string(),
                    ts: an.onset,
                    service_key: state.key.clone(),
                    feature_name: format!("{metric}.{feature}"),
                    feature_value: value,
                });
            }
        }
    }
    if !onsets.is_empty()
        && let Err(e) = shared.metrics.write_anomaly_features(&onsets).await
    {
        tracing::warn!(service = %service, error = %e, "anomaly onset not written");
    }
}

fn labels(q: &PollQuery, service: &str, metric: &str, bad: Bad) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("alertname".to_string(), "Anomaly".to_string()),
        ("service".to_string(), service.to_string()),
        ("metric".to_string(), metric.to_string()),
        ("query".to_string(), q.name.clone()),
        ("bad".to_string(), bad.as_str().to_string()),
    ])
}

fn round(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.4}") }
}

fn firing(q: &PollQuery, service: &str, metric: &str, bad: Bad, a: Anomaly) -> Raised {
    let dir = if a.z >= 0.0 { "above" } else { "below" };
    let message = format!(
        "{metric} of {service} is {} {dir} its baseline median {} (robust z {:.1}, {} points in a row)",
        round(a.value),
        round(a.baseline.median),
        a.z,
        a.points
    );
    let annotations = BTreeMap::from([
        ("summary".to_string(), message.clone()),
        ("value".to_string(), round(a.value)),
        ("robust_z".to_string(), format!("{:.2}", a.z)),
        ("baseline_median".to_string(), round(a.baseline.median)),
        ("baseline_mad".to_string(), round(a.baseline.mad)),
        ("onset".to_string(), a.onset.to_rfc3339()),
        ("promql".to_string(), render(&q.promql, service)),
    ]);
    let alert = Alert {
        fingerprint: fingerprint(service, metric),
        source: AlertSource::Anomaly,
        service: service.to_string(),
        severity: Severity::parse(&q.severity).unwrap_or(Severity::High),
        message,
        status: AlertStatus::Firing,
        labels: labels(q, service, metric, bad),
        annotations,
        starts_at: a.onset,
        ends_at: None,
    };
    Raised { alert, metric: metric.to_string(), anomaly: Some(a) }
}

fn resolved(q: &PollQuery, service: &str, metric: &str, bad: Bad, (ts, value, z): (DateTime<Utc>, f64, f64)) -> Raised {
    let message = format!("{metric} of {service} is back to {} (robust z {z:.1})", round(value));
    let alert = Alert {
        fingerprint: fingerprint(service, metric),
        source: AlertSource::Anomaly,
        service: service.to_string(),
        severity: Severity::parse(&q.severity).unwrap_or(Severity::High),
        message: message.clone(),
        status: AlertStatus::Resolved,
        labels: labels(q, service, metric, bad),
        annotations: BTreeMap::from([("summary".to_string(), message)]),
        starts_at: ts,
        ends_at: Some(ts),
    };
    Raised { alert, metric: metric.to_string(), anomaly: None }
}
