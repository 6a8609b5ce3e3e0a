//! Workers on the embedded job queue: retries with backoff and giving up through
//! `run_once` (with their metrics), giving up at once on an error that is not
//! retryable, giving up on a job whose workers died, the attempt's time limit,
//! concurrent workers, the background records sync.
//! The store-level queue cases (leases, fencing, backoff, durability across
//! reopening) are the `IngestStore` contract in `inquest-contract`, run on redb and Postgres.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, Utc};
use inquest_core::InvestigationConfig;
use inquest_domain::{
    Commit, ConfigChangeEvent, DeploymentCommitRange, DeploymentEvent, DeploymentId, EvidenceArtifact, FeedbackEvent,
    Hypothesis, Incident, IncidentDecision, IncidentReport, Service, ServiceId, Timestamp,
};
use inquest_domain::{IncidentId, ProjectId};
use inquest_intake::model::parse_generic;
use inquest_intake::{JobState, Policy};
use inquest_intake_service::{
    CoreInvestigator, Ingest, Investigated, InvestigationFailed, Investigator, Step, WorkerConfig, run_once,
};
use inquest_ports::{
    CommitWithFiles, DeliveryOutcome, DownTopology, ErrorKind, FeedDelivery, InvestigationRecord, RecordBatch,
    RecordStore, StoreError, StoreResult, Stores,
};
use inquest_report::TemplateReport;
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use inquest_telemetry::{ObservedRecords, ObservedTopology, Timeouts};
use serde_json::json;

use crate::{in_memory, observed_in_memory};

struct Failing;

#[async_trait]
impl Investigator for Failing {
    async fn investigate(&self, _: &ProjectId, incident: IncidentId) -> Result<Investigated, InvestigationFailed> {
        Err(InvestigationFailed { error: format!("records store unreachable for {incident}"), retryable: true })
    }
}

/// Counts investigations per incident, with a little work in between.
#[derive(Default)]
struct Counting(Mutex<BTreeMap<IncidentId, u32>>);

#[async_trait]
impl Investigator for Counting {
    async fn investigate(&self, _: &ProjectId, incident: IncidentId) -> Result<Investigated, InvestigationFailed> {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        *self.0.lock().map_err(|e| e.to_string())?.entry(incident).or_default() += 1;
        Ok(Investigated::default())
    }
}

/// Sleeps `for_` in `investigate`, then succeeds.
struct Sleeping {
    for_: std::time::Duration,
}

#[async_trait]
impl Investigator for Sleeping {
    async fn investigate(&self, _: &ProjectId, _: IncidentId) -> Result<Investigated, InvestigationFailed> {
        tokio::time::sleep(self.for_).await;
        Ok(Investigated::default())
    }
}

/// A records store whose `list_services` (the first call of a records sync) takes
/// `delay`, and whose `save_investigation` fails with `save_error` when set.
struct SlowRecords {
    inner: Arc<dyn RecordStore>,
    delay: std::time::Duration,
    save_error: Option<StoreError>,
}

#[async_trait]
impl RecordStore for SlowRecords {
    fn backend(&self) -> &'static str {
        "slow"
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn RecordStore> {
        Arc::new(SlowRecords {
            inner: self.inner.scoped(project),
            delay: self.delay,
            save_error: self.save_error.clone(),
        })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        self.inner.check_connectivity().await
    }
    async fn apply_batch(&self, batch: &RecordBatch) -> StoreResult<()> {
        self.inner.apply_batch(batch).await
    }
    async fn apply_delivery(&self, delivery: &FeedDelivery) -> StoreResult<DeliveryOutcome> {
        self.inner.apply_delivery(delivery).await
    }
    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.inner.feed_state(feed, key).await
    }
    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>> {
        self.inner.commits_between(from, to, limit).await
    }
    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        tokio::time::sleep(self.delay).await;
        self.inner.list_services().await
    }
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        self.inner.get_incident(id).await
    }
    async fn list_incidents(&self) -> StoreResult<Vec<Incident>> {
        self.inner.list_incidents().await
    }
    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>> {
        self.inner.list_decisions(incident).await
    }
    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>> {
        self.inner.deployments_between(services, from, to).await
    }
    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>> {
        self.inner.config_changes_between(services, from, to).await
    }
    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>> {
        self.inner.commit_range(deployment).await
    }
    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>> {
        self.inner.commits(shas).await
    }
    async fn save_investigation(&self, record: &InvestigationRecord) -> StoreResult<()> {
        if let Some(e) = &self.save_error {
            return Err(e.clone());
        }
        self.inner.save_investigation(record).await
    }
    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>> {
        self.inner.evidence(incident).await
    }
    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>> {
        self.inner.hypotheses(incident).await
    }
    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>> {
        self.inner.reports(incident).await
    }
    async fn append_feedback(&self, event: &FeedbackEvent) -> StoreResult<()> {
        self.inner.append_feedback(event).await
    }
    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>> {
        self.inner.feedback(incident).await
    }
}

/// Post two high alerts per service so each gets an approved incident and a job.
async fn approve(ingest: &Ingest, services: &[&str]) -> Vec<IncidentId> {
    let now = Utc::now();
    let mut alerts = Vec::new();
    for s in services {
        for m in ["errors", "latency"] {
            alerts
                .push(parse_generic(&json!({"service": s, "severity": "high", "message": m}), "", now).expect("alert"));
        }
    }
    let applied = ingest.ingest(&ProjectId::default_project(), alerts, now).await.expect("stored");
    let jobs: Vec<_> = applied.iter().filter_map(|a| a.job_id).collect();
    assert_eq!(jobs.len(), services.len());
    applied.iter().filter(|a| a.job_id.is_some()).filter_map(|a| a.incident_id).collect()
}

#[tokio::test]
async fn failed_jobs_retry_with_backoff_then_give_up_keeping_the_error() {
    let (ingest, _) = in_memory(Policy::default_policy());
    approve(&ingest, &["checkout"]).await;
    let mut cfg = WorkerConfig::new("w1");
    cfg.max_attempts = 3;
    cfg.backoff_base = Duration::milliseconds(50);
    let step = run_once(&ingest, &Failing, &cfg).await.expect("run");
    let Step::Retrying(job, _) = step else { panic!("expected a retry, got {step:?}") };
    // Backed off: not takeable right away.
    assert_eq!(run_once(&ingest, &Failing, &cfg).await.expect("run"), Step::Idle);
    let stored = ingest.store.get_job(job.job_id).await.expect("read").expect("job");
    assert_eq!(stored.state, JobState::Queued);
    assert!(stored.next_run_at > stored.runs[0].finished_at.expect("finished"));
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    assert!(matches!(run_once(&ingest, &Failing, &cfg).await.expect("run"), Step::Retrying(..)));
    tokio::time::sleep(std::time::Duration::from_millis(110)).await;
    let last = run_once(&ingest, &Failing, &cfg).await.expect("run");
    assert!(matches!(last, Step::GaveUp(..)), "{last:?}");
    let stored = ingest.store.get_job(job.job_id).await.expect("read").expect("job");
    assert_eq!(stored.state, JobState::Failed);
    assert_eq!(stored.attempts, 3);
    assert!(stored.last_error.as_deref().expect("error").contains("records store unreachable"));
    // Second backoff is twice the first.
    let gap = |i: usize| stored.runs[i + 1].started_at - stored.runs[i].finished_at.expect("finished");
    assert!(gap(1) >= Duration::milliseconds(100), "{:?}", gap(1));
    assert_eq!(run_once(&ingest, &Failing, &cfg).await.expect("run"), Step::Idle, "a failed job is not retaken");
    let text = ingest.render_metrics(&[inquest_domain::ProjectId::default_project()]).await;
    assert!(text.contains("inquest_job_retries_total 2"), "{text}");
    assert!(text.contains("inquest_job_failures_total 1"), "{text}");
    // The investigator only said a store was unreachable: no store call failed, none is counted.
    assert!(text.contains(r#"inquest_store_errors_total{store="records/embedded"} 0"#), "{text}");
    assert!(text.contains(r#"inquest_store_errors_total{store="ingest/embedded"} 0"#), "{text}");
    assert!(!text.contains("records/postgres"), "{text}");
}

#[tokio::test]
async fn a_job_for_an_incident_that_does_not_exist_fails_after_exactly_one_attempt() {
    let (ingest, _) = in_memory(Policy::default_policy());
    approve(&ingest, &["checkout"]).await;
    // The investigation reads another, empty records store: the incident is not there.
    let elsewhere = EmbeddedStore::in_memory().expect("records store").stores();
    let investigator = CoreInvestigator {
        stores: elsewhere,
        writer: Arc::new(TemplateReport),
        config: InvestigationConfig::default(),
    };
    let mut cfg = WorkerConfig::new("w1");
    cfg.max_attempts = 5;
    let step = run_once(&ingest, &investigator, &cfg).await.expect("run");
    let Step::GaveUp(job, error) = step else { panic!("expected to give up at once, got {step:?}") };
    assert!(error.contains("not found"), "{error}");
    let stored = ingest.store.get_job(job.job_id).await.expect("read").expect("job");
    assert_eq!((stored.state, stored.attempts, stored.runs.len()), (JobState::Failed, 1, 1));
    assert_eq!(stored.last_error.as_deref(), Some(error.as_str()), "the error is kept");
    assert_eq!(run_once(&ingest, &investigator, &cfg).await.expect("run"), Step::Idle, "not taken again");
    let text = ingest.render_metrics(&[inquest_domain::ProjectId::default_project()]).await;
    assert!(text.contains("inquest_job_failures_total 1"), "{text}");
    assert!(text.contains("inquest_job_retries_total 0"), "{text}");
}

#[tokio::test]
async fn a_job_whose_records_store_is_down_is_retried() {
    let (ingest, stores, store_metrics) = observed_in_memory(Policy::default_policy());
    approve(&ingest, &["checkout"]).await;
    let down = StoreError::new(ErrorKind::Unavailable, "postgres", "save_investigation", "connection refused");
    let slow = SlowRecords { inner: stores.records.clone(), delay: std::time::Duration::ZERO, save_error: Some(down) };
    let records = Arc::new(ObservedRecords::new(Arc::new(slow), &store_metrics, Timeouts::default().records));
    let investigator = CoreInvestigator {
        stores: Stores { records, ..stores.clone() },
        writer: Arc::new(TemplateReport),
        config: InvestigationConfig::default(),
    };
    let mut cfg = WorkerConfig::new("w1");
    cfg.max_attempts = 3;
    let step = run_once(&ingest, &investigator, &cfg).await.expect("run");
    let Step::Retrying(job, error) = step else { panic!("an unavailable store is worth a retry, got {step:?}") };
    assert!(error.contains("cannot save the investigation"), "{error}");
    let stored = ingest.store.get_job(job.job_id).await.expect("read").expect("job");
    assert_eq!((stored.state, stored.attempts), (JobState::Queued, 1));
    let text = ingest.render_metrics(&[inquest_domain::ProjectId::default_project()]).await;
    assert!(text.contains("inquest_job_retries_total 1"), "{text}");
    assert!(text.contains("inquest_job_failures_total 0"), "{text}");
    assert!(text.contains(r#"inquest_store_errors_total{store="records/slow"} 1"#), "{text}");
}

#[tokio::test]
async fn a_job_whose_workers_died_on_every_attempt_is_given_up_and_counted() {
    let (ingest, _) = in_memory(Policy::default_policy());
    approve(&ingest, &["checkout"]).await;
    let mut cfg = WorkerConfig::new("w1");
    cfg.max_attempts = 2;
    // Two workers take the job and die: their leases (of no time at all) expire.
    for dead in ["dead-1", "dead-2"] {
        let taken = ingest.store.take_job(dead, Duration::zero(), cfg.max_attempts, Utc::now()).await.expect("take");
        assert!(taken.job.is_some() && taken.gave_up.is_empty(), "{taken:?}");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let counting = Counting::default();
    assert_eq!(run_once(&ingest, &counting, &cfg).await.expect("run"), Step::Idle, "given up, not run a third time");
    assert!(counting.0.lock().expect("lock").is_empty());
    let jobs = ingest.store.list_jobs().await.expect("jobs");
    assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Failed, 2));
    let error = jobs[0].last_error.as_deref().expect("error kept");
    assert!(error.starts_with("attempt 2 of 2: the lease expired"), "{error}");
    assert_eq!(run_once(&ingest, &counting, &cfg).await.expect("run"), Step::Idle);
    let text = ingest.render_metrics(&[inquest_domain::ProjectId::default_project()]).await;
    assert!(text.contains("inquest_job_failures_total 1"), "{text}");
}

#[tokio::test]
async fn the_records_sync_and_the_investigation_share_one_time_limit_inside_the_lease() {
    let records = EmbeddedStore::in_memory().expect("records store").stores().records;
    let slow =
        Arc::new(SlowRecords { inner: records.clone(), delay: std::time::Duration::from_secs(1), save_error: None });
    let ingest =
        Ingest::new(Arc::new(EmbeddedIntakeStore::in_memory().expect("ingest store")), slow, Policy::default_policy());
    // Stored without writing the records store: the worker's sync has the incident to write.
    let now = Utc::now();
    let alerts: Vec<_> = ["errors", "latency"]
        .iter()
        .map(|m| {
            parse_generic(&json!({"service": "checkout", "severity": "high", "message": m}), "", now).expect("alert")
        })
        .collect();
    let applied = ingest.store.ingest(&alerts, &ingest.policy, now).await.expect("stored");
    let incident = applied.iter().find_map(|a| a.job_id.and(a.incident_id)).expect("approved");
    let mut cfg = WorkerConfig::new("w1");
    // 1.6s for the attempt: the 1s sync fits, the 1s investigation after it does not.
    cfg.lease = Duration::seconds(2);
    let step = run_once(&ingest, &Sleeping { for_: std::time::Duration::from_secs(1) }, &cfg).await.expect("run");
    let Step::Retrying(job, error) = step else { panic!("the attempt must stop before its lease ends: {step:?}") };
    assert!(error.contains("the attempt exceeded 1.6s"), "{error}");
    assert!(records.get_incident(incident).await.expect("read").is_some(), "the sync finished within the limit");
    let stored = ingest.store.get_job(job.job_id).await.expect("read").expect("job");
    assert_eq!((stored.state, stored.attempts), (JobState::Queued, 1));
}

#[tokio::test]
async fn a_store_down_during_a_job_is_a_gap_in_the_report_and_a_store_error() {
    let (ingest, stores, store_metrics) = observed_in_memory(Policy::default_policy());
    let incidents = approve(&ingest, &["checkout"]).await;
    let down = StoreError::new(ErrorKind::Unavailable, "neo4j", "connect", "connection refused");
    let topology =
        ObservedTopology::new(Arc::new(DownTopology::new(down)), &store_metrics, Timeouts::default().topology);
    let investigator = CoreInvestigator {
        stores: Stores { topology: Arc::new(topology), ..stores.clone() },
        writer: Arc::new(TemplateReport),
        config: InvestigationConfig::default(),
    };
    let step = run_once(&ingest, &investigator, &WorkerConfig::new("w1")).await.expect("run");
    assert!(matches!(step, Step::Succeeded(_)), "a gap does not fail the job: {step:?}");
    let reports = stores.records.reports(incidents[0]).await.expect("read");
    let report = reports.last().expect("report saved");
    assert!(
        report.report_markdown.contains("## Evidence gaps") && report.report_markdown.contains("neo4j"),
        "the report names the gap:\n{}",
        report.report_markdown
    );
    let text = ingest.render_metrics(&[inquest_domain::ProjectId::default_project()]).await;
    assert!(text.contains(r#"inquest_store_errors_total{store="topology/neo4j"} 1"#), "{text}");
}

#[tokio::test]
async fn concurrent_workers_run_each_job_exactly_once() {
    let (ingest, _) = in_memory(Policy::default_policy());
    let services: Vec<String> = (0..24).map(|i| format!("svc-{i}")).collect();
    let refs: Vec<&str> = services.iter().map(String::as_str).collect();
    let incidents = approve(&ingest, &refs).await;
    let counting = Arc::new(Counting::default());
    let mut handles = Vec::new();
    for w in 0..4 {
        let ingest = ingest.clone();
        let counting = counting.clone();
        handles.push(tokio::spawn(async move {
            let cfg = WorkerConfig::new(format!("w{w}"));
            while run_once(&ingest, counting.as_ref(), &cfg).await.expect("run") != Step::Idle {}
        }));
    }
    for h in handles {
        h.await.expect("worker");
    }
    let counts = counting.0.lock().expect("lock").clone();
    assert_eq!(counts.len(), incidents.len());
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let jobs = ingest.store.list_jobs().await.expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded && j.successful_runs() == 1 && j.attempts == 1));
}

#[tokio::test]
async fn the_background_sync_writes_incidents_soon_after_the_answer() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    // A long period: only the wake-up from the intake can write the incident in time.
    let syncer = tokio::spawn(inquest_intake_service::run_records_sync(
        ingest.clone(),
        std::time::Duration::from_secs(3600),
        stop_rx,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let incidents = approve(&ingest, &["checkout"]).await;
    let started = std::time::Instant::now();
    while stores.records.get_incident(incidents[0]).await.expect("read").is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "incident not written by the background sync");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.send(true).expect("stop");
    syncer.await.expect("syncer");
    assert!(ingest.store.pending_records(10).await.expect("outbox").is_empty());
}
