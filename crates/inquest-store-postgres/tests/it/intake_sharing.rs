//! Several `PostgresIntakeStore`s with pools of their own on one database, as
//! several `inquest` processes are: concurrent intake correlates as one, workers
//! run every job exactly once and never twice at once, a lost lease cannot complete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use inquest_domain::{IncidentId, ProjectId};
use inquest_intake::model::parse_generic;
use inquest_intake::{Alert, IngestStore, JobState, Outcome, Policy};
use inquest_intake_service::{
    Ingest, Investigated, InvestigationFailed, Investigator, Step, WorkerConfig, run_once, run_worker,
};
use serde_json::json;

use crate::support::{IntakeDb, server_url};

fn alert(service: &str, message: &str) -> Alert {
    parse_generic(&json!({"service": service, "severity": "high", "message": message}), "", Utc::now()).expect("alert")
}

fn ingest_on(db: &IntakeDb, store: Arc<dyn IngestStore>) -> Arc<Ingest> {
    Arc::new(Ingest::new(store, Arc::new(db.records()), Policy::default_policy()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_ingesting_one_stream_correlate_as_one() {
    let Some(url) = server_url("two_processes_ingesting_one_stream_correlate_as_one") else { return };
    let db = IntakeDb::create(&url).await;
    let stores: [Arc<dyn IngestStore>; 2] = [Arc::new(db.store()), Arc::new(db.store())];
    // 6 services x 8 alert identities, each posted 5 times, interleaved.
    let services = 6;
    let mut stream = Vec::new();
    for round in 0..5 {
        for m in 0..8 {
            for s in 0..services {
                stream.push((format!("svc-{s}"), format!("alert {m} (round {round} of the same alert)")));
            }
        }
    }
    // The message is part of the identity: strip the round so repeats share a fingerprint.
    let stream: Vec<(String, String)> =
        stream.into_iter().map(|(s, m)| (s, m.split(" (").next().unwrap_or_default().to_string())).collect();
    let posted = stream.len();
    let tasks = 8;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = stores[t % 2].clone();
        let mine: Vec<(String, String)> = stream.iter().skip(t).step_by(tasks).cloned().collect();
        handles.push(tokio::spawn(async move {
            let policy = Policy::default_policy();
            let mut applied = Vec::new();
            // Batches of 1 to 4 alerts.
            for (i, chunk) in mine.chunks(1 + t % 4).enumerate() {
                let batch: Vec<Alert> = chunk.iter().map(|(s, m)| alert(s, m)).collect();
                applied.extend(
                    store
                        .ingest(&batch, &policy, Utc::now())
                        .await
                        .unwrap_or_else(|e| panic!("task {t} batch {i}: {e}")),
                );
            }
            applied
        }));
    }
    let mut applied = Vec::new();
    for h in handles {
        applied.extend(h.await.expect("task"));
    }
    assert_eq!(applied.len(), posted, "every alert got an answer");
    let store = &stores[0];
    let incidents = store.list_incidents().await.expect("incidents");
    let per_service: BTreeMap<&str, usize> = incidents.iter().fold(BTreeMap::new(), |mut m, i| {
        *m.entry(i.service.as_str()).or_default() += 1;
        m
    });
    assert_eq!(per_service.len(), services, "{per_service:?}");
    assert!(per_service.values().all(|n| *n == 1), "exactly one incident per service: {per_service:?}");
    assert!(incidents.iter().all(|i| i.is_active()));
    let opened = applied.iter().filter(|a| a.outcome == Outcome::Opened).count();
    let attached = applied.iter().filter(|a| a.outcome == Outcome::Attached).count();
    let dedup = applied.iter().filter(|a| a.outcome == Outcome::Deduplicated).count();
    let identities = services * 8;
    assert_eq!((opened, attached, dedup), (services, identities - services, posted - identities));
    assert_eq!(store.alert_count().await.expect("count"), identities as u64, "one row per alert identity");
    let mut occurrences = 0;
    let mut rows = BTreeSet::new();
    for i in &incidents {
        for a in stores[1].alerts_of(i.incident_id).await.expect("alerts") {
            occurrences += a.occurrences as usize;
            rows.insert(a.alert_id);
            assert_eq!(a.occurrences, 5, "every repeat counted once: {}", a.alert.message);
        }
        assert_eq!(i.alert_count, 8);
    }
    assert_eq!(occurrences, posted, "no alert lost, none counted twice");
    assert_eq!(rows, applied.iter().map(|a| a.alert_id).collect(), "answers name the stored rows");
    let jobs = store.list_jobs().await.expect("jobs");
    assert_eq!(jobs.len(), services, "one investigation per incident");
    assert_eq!(applied.iter().filter(|a| a.job_id.is_some()).count(), services);
    assert_eq!(store.incident_counts().await.expect("counts").get("open"), Some(&(services as u64)));
}

/// Counts investigations per incident and the most that ran at once for one incident.
#[derive(Default)]
struct Counting {
    state: Mutex<BTreeMap<IncidentId, (u32, u32, u32)>>, // (running now, most at once, done)
}

#[async_trait]
impl Investigator for Counting {
    async fn investigate(&self, _: &ProjectId, incident: IncidentId) -> Result<Investigated, InvestigationFailed> {
        {
            let mut s = self.state.lock().map_err(|e| e.to_string())?;
            let e = s.entry(incident).or_default();
            e.0 += 1;
            e.1 = e.1.max(e.0);
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
        let mut s = self.state.lock().map_err(|e| e.to_string())?;
        let e = s.entry(incident).or_default();
        e.0 -= 1;
        e.2 += 1;
        Ok(Investigated::default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_two_processes_run_every_job_exactly_once() {
    let Some(url) = server_url("workers_on_two_processes_run_every_job_exactly_once") else { return };
    let db = IntakeDb::create(&url).await;
    let ingests = [ingest_on(&db, Arc::new(db.store())), ingest_on(&db, Arc::new(db.store()))];
    let n = 50;
    for s in 0..n {
        let batch = vec![alert(&format!("svc-{s}"), "errors"), alert(&format!("svc-{s}"), "latency")];
        ingests[s % 2].ingest(&ProjectId::default_project(), batch, Utc::now()).await.expect("ingest");
    }
    assert_eq!(ingests[0].store.list_jobs().await.expect("jobs").len(), n);
    let counting = Arc::new(Counting::default());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for w in 0..6 {
        let mut cfg = WorkerConfig::new(format!("p{}-w{w}", w % 2));
        cfg.poll = StdDuration::from_millis(20);
        workers.push(tokio::spawn(run_worker(ingests[w % 2].clone(), counting.clone(), cfg, stop_rx.clone())));
    }
    // And one more driving `run_once` directly until the queue is empty.
    let cfg = WorkerConfig::new("p0-once");
    while run_once(&ingests[0], counting.as_ref(), &cfg).await.expect("run") != Step::Idle {}
    let started = std::time::Instant::now();
    loop {
        let jobs = ingests[1].store.list_jobs().await.expect("jobs");
        if jobs.iter().all(|j| j.state == JobState::Succeeded) {
            break;
        }
        assert!(started.elapsed() < StdDuration::from_secs(60), "jobs not drained: {jobs:?}");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    stop.send(true).expect("stop");
    for w in workers {
        w.await.expect("worker");
    }
    let state = counting.state.lock().expect("lock").clone();
    assert_eq!(state.len(), n);
    assert!(state.values().all(|(running, most, done)| (*running, *most, *done) == (0, 1, 1)), "{state:?}");
    let jobs = ingests[0].store.list_jobs().await.expect("jobs");
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded && j.successful_runs() == 1 && j.attempts == 1),
        "{jobs:?}"
    );
    let workers_used: BTreeSet<&str> = jobs.iter().map(|j| j.runs[0].worker.as_str()).collect();
    assert!(workers_used.len() > 1, "the queue was shared: {workers_used:?}");
}

#[tokio::test]
async fn a_worker_whose_lease_expired_cannot_complete() {
    let Some(url) = server_url("a_worker_whose_lease_expired_cannot_complete") else { return };
    let db = IntakeDb::create(&url).await;
    let (a, b) = (ingest_on(&db, Arc::new(db.store())), ingest_on(&db, Arc::new(db.store())));
    a.ingest(
        &ProjectId::default_project(),
        vec![alert("checkout", "errors"), alert("checkout", "latency")],
        Utc::now(),
    )
    .await
    .expect("ingest");
    let slow =
        a.store.take_job("slow", Duration::milliseconds(500), 5, Utc::now()).await.expect("take").job.expect("job");
    let counting = Counting::default();
    let cfg = WorkerConfig::new("b");
    assert_eq!(run_once(&b, &counting, &cfg).await.expect("run"), Step::Idle, "leased to slow");
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    let step = run_once(&b, &counting, &cfg).await.expect("run");
    assert!(matches!(&step, Step::Succeeded(j) if j.job_id == slow.job_id && j.attempts == 2), "{step:?}");
    assert!(
        !a.store.complete_job(slow.job_id, "slow", slow.attempts, Utc::now()).await.expect("complete"),
        "fenced off"
    );
    assert!(
        !a.store.fail_job(slow.job_id, "slow", slow.attempts, "late", None, Utc::now()).await.expect("fail"),
        "fenced off"
    );
    let job = a.store.get_job(slow.job_id).await.expect("read").expect("job");
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.successful_runs(), 1);
    assert_eq!(job.runs[0].outcome.as_deref(), Some("lease expired"));
    assert_eq!(job.runs[1].worker, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_is_cleared_while_batches_arrive_without_waiting_on_them() {
    let Some(url) = server_url("the_outbox_is_cleared_while_batches_arrive_without_waiting_on_them") else { return };
    let db = IntakeDb::create(&url).await;
    let stores: [Arc<dyn IngestStore>; 2] = [Arc::new(db.store()), Arc::new(db.store())];
    let started = std::time::Instant::now();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    // A records writer (as `Ingest::sync_records` does) on the other "process".
    let writer = {
        let store = stores[1].clone();
        tokio::spawn(async move {
            let mut cleared = 0usize;
            loop {
                let done = *stop_rx.borrow();
                let pending = store.pending_records(100).await.expect("outbox");
                let versions: Vec<(IncidentId, u64)> =
                    pending.iter().map(|p| (p.incident.incident_id, p.version)).collect();
                store.clear_pending(&versions).await.expect("clearing never fails on a conflict");
                cleared += versions.len();
                if done && pending.is_empty() {
                    return cleared;
                }
            }
        })
    };
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = stores[0].clone();
        tasks.push(tokio::spawn(async move {
            let policy = Policy::default_policy();
            for round in 0..20 {
                // Batches spanning many services, in a different order per task.
                let batch: Vec<Alert> =
                    (0..12).map(|i| alert(&format!("svc-{}", (i * (t + 1) + round) % 12), &format!("m{i}"))).collect();
                store.ingest(&batch, &policy, Utc::now()).await.expect("ingest");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    stop.send(true).expect("stop");
    let cleared = writer.await.expect("writer");
    assert!(cleared >= 12, "every incident was written at least once: {cleared}");
    assert!(stores[0].pending_records(100).await.expect("outbox").is_empty());
    // Postgres reports a deadlock only after deadlock_timeout (1s): none may have happened.
    assert!(started.elapsed() < StdDuration::from_secs(20), "took {:?}", started.elapsed());
}
