//! The intake storage port (`IngestStore`) contract: correlation applied in one
//! transaction per batch, the lifecycle, the records outbox, and the durable job
//! queue (leases, fencing, retries with backoff, giving up, durability across
//! reopening). Written once, run on `EmbeddedIntakeStore` (the embedded crate's
//! tests) and `PostgresIntakeStore` (the Postgres crate's tests).
//!
//! Times are explicit whole seconds, so no case depends on the clock or on the
//! precision a backend keeps.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use inquest_domain::{Decision, IncidentStatus, Timestamp};
use inquest_intake::lifecycle::Note;
use inquest_intake::model::{AlertSource, parse_generic};
use inquest_intake::{Action, Alert, AlertStatus, IngestStore, JobState, LifecycleError, Outcome, Policy};
use serde_json::json;

/// One empty storage space (a redb file, a Postgres database).
#[async_trait]
pub trait IngestSpace: Send + Sync {
    /// A new handle on this space. The suite drops earlier handles first when
    /// `open` is called again (redb allows one open handle per file).
    async fn open(&self) -> Arc<dyn IngestStore>;
}

/// The `max_attempts` of cases that do not run out of attempts.
const MAX_ATTEMPTS: u32 = 5;

fn t0() -> Timestamp {
    "2026-03-01T10:00:00Z".parse().expect("time")
}

fn secs(n: i64) -> Timestamp {
    t0() + Duration::seconds(n)
}

pub fn alert(service: &str, severity: &str, message: &str) -> Alert {
    parse_generic(&json!({"service": service, "severity": severity, "message": message}), "", t0()).expect("alert")
}

/// Run every case, each on a space of its own made by `create`.
pub async fn ingest_contract<S, F, Fut>(create: F)
where
    S: IngestSpace,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    correlation_dedups_attaches_and_approves(&create().await.open().await).await;
    a_batch_sees_its_own_writes(&create().await.open().await).await;
    an_incident_resolved_and_replaced_in_one_batch_moves_the_pointer(&create().await.open().await).await;
    concurrent_requests_for_one_service_open_one_incident(&create().await.open().await).await;
    resolved_alerts_resolve_or_are_ignored(&create().await.open().await).await;
    lifecycle_changes_are_checked_and_move_the_active_incident(&create().await.open().await).await;
    the_outbox_keeps_changes_newer_than_what_was_written(&create().await.open().await).await;
    decisions_added_later_are_stored_once_and_queued(&create().await.open().await).await;
    a_lease_is_exclusive_until_it_expires_and_fences_the_old_worker(&create().await.open().await).await;
    failed_jobs_retry_after_their_backoff_then_give_up_keeping_the_error(&create().await.open().await).await;
    a_job_whose_lease_expired_on_its_last_attempt_is_given_up_keeping_why(&create().await.open().await).await;
    state_survives_reopening(&create().await).await;
}

pub async fn correlation_dedups_attaches_and_approves(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let first = store.ingest(&[alert("checkout", "high", "errors")], &policy, secs(0)).await.expect("ingest");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].outcome, Outcome::Opened);
    assert!(first[0].job_id.is_none(), "one alert does not approve (2 in 10 minutes)");
    let incident = first[0].incident_id.expect("an incident");
    let second = store.ingest(&[alert("checkout", "high", "errors")], &policy, secs(10)).await.expect("ingest");
    assert_eq!(second[0].outcome, Outcome::Deduplicated);
    assert_eq!(second[0].alert_id, first[0].alert_id, "a repeat updates its row");
    assert!(second[0].job_id.is_none(), "a repeat is the same alert: it does not approve");
    let third = store.ingest(&[alert("checkout", "critical", "latency")], &policy, secs(20)).await.expect("ingest");
    assert_eq!(third[0].outcome, Outcome::Attached);
    assert_eq!(third[0].incident_id, Some(incident));
    let job = third[0].job_id.expect("the second qualifying alert approves");
    let fourth = store.ingest(&[alert("checkout", "critical", "errors")], &policy, secs(25)).await.expect("ingest");
    assert!(fourth[0].job_id.is_none(), "approved once");
    // Another service has its own incident.
    let other = store.ingest(&[alert("search", "high", "errors")], &policy, secs(30)).await.expect("ingest");
    assert_eq!(other[0].outcome, Outcome::Opened);
    assert_ne!(other[0].incident_id, Some(incident));

    assert_eq!(store.alert_count().await.expect("count"), 3);
    let alerts = store.alerts_of(incident).await.expect("alerts");
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].occurrences, 3);
    assert_eq!(alerts[0].first_received_at, secs(0));
    assert_eq!(alerts[0].last_received_at, secs(25));
    assert_eq!(alerts[1].occurrences, 1);
    let state = store.get_incident(incident).await.expect("read").expect("incident");
    assert!(state.approved);
    assert_eq!(state.job_id, Some(job));
    assert_eq!(state.status, IncidentStatus::Open);
    assert!(store.get_incident(inquest_domain::IncidentId::new_random()).await.expect("read").is_none());
    let listed = store.list_incidents().await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].service, "search", "newest first");
    let counts = store.incident_counts().await.expect("counts");
    assert_eq!(counts.get("open"), Some(&2));
    assert_eq!(counts.get("resolved"), Some(&0));
    let jobs = store.list_jobs().await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_id, job);
    assert_eq!(jobs[0].incident_id, incident);
    assert_eq!(jobs[0].state, JobState::Queued);
    assert_eq!(jobs[0].next_run_at, secs(20));
    assert_eq!(store.get_job(job).await.expect("read"), Some(jobs[0].clone()));
}

pub async fn a_batch_sees_its_own_writes(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let batch =
        [alert("cart", "high", "a"), alert("cart", "high", "b"), alert("cart", "high", "a"), alert("cart", "low", "c")];
    let applied = store.ingest(&batch, &policy, secs(0)).await.expect("ingest");
    let outcomes: Vec<Outcome> = applied.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Opened, Outcome::Attached, Outcome::Deduplicated, Outcome::Attached]);
    assert!(applied.iter().all(|a| a.incident_id == applied[0].incident_id));
    assert_eq!(applied.iter().filter(|a| a.job_id.is_some()).count(), 1, "one job per incident");
    assert_eq!(store.list_jobs().await.expect("jobs").len(), 1);
    assert_eq!(store.alert_count().await.expect("count"), 3);
    assert!(store.ingest(&[], &policy, secs(1)).await.expect("empty batch").is_empty());
    // A fingerprint is the identity, whatever service a repeat names.
    let shared = |service: &str| {
        parse_generic(
            &json!({"service": service, "severity": "high", "message": "m", "fingerprint": "shared"}),
            "",
            t0(),
        )
        .expect("alert")
    };
    let left = store.ingest(&[shared("left")], &policy, secs(2)).await.expect("ingest");
    let right = store.ingest(&[shared("right")], &policy, secs(3)).await.expect("ingest");
    assert_eq!((left[0].outcome, right[0].outcome), (Outcome::Opened, Outcome::Deduplicated));
    assert_eq!(right[0].incident_id, left[0].incident_id);
    let incident = store.get_incident(left[0].incident_id.expect("incident")).await.expect("read").expect("incident");
    assert_eq!(incident.service, "left");
    assert_eq!(incident.alert_count, 1, "the repeat updated its row");
    assert!(!incident.approved, "a repeat does not count twice towards approval");
}

fn alertmanager(fingerprint: &str, status: AlertStatus) -> Alert {
    let mut a = parse_generic(
        &json!({"service": "search", "severity": "critical", "message": "down", "fingerprint": fingerprint}),
        "",
        t0(),
    )
    .expect("alert");
    a.source = AlertSource::Alertmanager;
    a.status = status;
    a
}

pub async fn an_incident_resolved_and_replaced_in_one_batch_moves_the_pointer(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let batch = [
        alertmanager("a", AlertStatus::Firing),
        alertmanager("a", AlertStatus::Resolved),
        alertmanager("b", AlertStatus::Firing),
    ];
    let applied = store.ingest(&batch, &policy, secs(0)).await.expect("ingest");
    let outcomes: Vec<Outcome> = applied.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Opened, Outcome::Resolved, Outcome::Opened]);
    let (first, second) = (applied[0].incident_id.expect("first"), applied[2].incident_id.expect("second"));
    assert_ne!(first, second);
    let later = store.ingest(&[alertmanager("c", AlertStatus::Firing)], &policy, secs(1)).await.expect("ingest");
    assert_eq!(
        (later[0].outcome, later[0].incident_id),
        (Outcome::Attached, Some(second)),
        "the pointer moved to the new incident"
    );
    let resolved = store.get_incident(first).await.expect("read").expect("first");
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    let counts = store.incident_counts().await.expect("counts");
    assert_eq!((counts["open"], counts["resolved"]), (1, 1));
    // Firing, resolved and firing again in one batch: two rows, one per incident.
    let flapping = |status| {
        let mut a = alertmanager("f", status);
        a.service = "flapping".into();
        a
    };
    let flap = [flapping(AlertStatus::Firing), flapping(AlertStatus::Resolved), flapping(AlertStatus::Firing)];
    let applied = store.ingest(&flap, &policy, secs(2)).await.expect("ingest");
    let outcomes: Vec<Outcome> = applied.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Opened, Outcome::Resolved, Outcome::Opened]);
    let (gone, now_open) = (applied[0].incident_id.expect("first"), applied[2].incident_id.expect("again"));
    assert_ne!(applied[0].alert_id, applied[2].alert_id);
    let rows = |alerts: Vec<inquest_intake::StoredAlert>| alerts.iter().map(|a| a.alert_id).collect::<Vec<_>>();
    assert_eq!(rows(store.alerts_of(gone).await.expect("alerts")), vec![applied[0].alert_id], "the first row is kept");
    assert_eq!(rows(store.alerts_of(now_open).await.expect("alerts")), vec![applied[2].alert_id]);
}

pub async fn concurrent_requests_for_one_service_open_one_incident(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (store, policy) = (store.clone(), policy.clone());
            tokio::spawn(async move {
                store.ingest(&[alert("checkout", "high", &format!("alert {i}"))], &policy, secs(i)).await
            })
        })
        .collect();
    let mut opened = 0;
    for t in tasks {
        let applied = t.await.expect("task").expect("ingest");
        opened += applied.iter().filter(|a| a.outcome == Outcome::Opened).count();
    }
    assert_eq!(opened, 1, "one incident opened, the others attached");
    let incidents = store.list_incidents().await.expect("list");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].alert_count, 40);
    let decisions = &incidents[0].decisions;
    assert_eq!(decisions.len(), 41, "opened, 39 attached, approved");
    let ids: std::collections::BTreeSet<_> = decisions.iter().map(|d| d.decision_id).collect();
    assert_eq!(ids.len(), 41, "decision ids are distinct");
    assert_eq!(store.list_jobs().await.expect("jobs").len(), 1);
}

pub async fn resolved_alerts_resolve_or_are_ignored(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let mut firing = alert("payments", "high", "down");
    firing.source = AlertSource::Alertmanager;
    let opened = store.ingest(&[firing.clone()], &policy, secs(0)).await.expect("ingest");
    let incident = opened[0].incident_id.expect("incident");
    let mut resolved = firing.clone();
    resolved.status = inquest_intake::AlertStatus::Resolved;
    let applied = store.ingest(&[resolved.clone()], &policy, secs(90)).await.expect("ingest");
    assert_eq!(applied[0].outcome, Outcome::Resolved);
    assert_eq!(applied[0].resolved_after_seconds, Some(90.0));
    let state = store.get_incident(incident).await.expect("read").expect("incident");
    assert_eq!(state.status, IncidentStatus::Resolved);
    assert_eq!(store.incident_counts().await.expect("counts").get("resolved"), Some(&1));
    // A resolved notification for an unknown alert is kept and opens nothing.
    let mut unknown = alert("payments", "high", "never fired");
    unknown.status = inquest_intake::AlertStatus::Resolved;
    let applied = store.ingest(&[unknown], &policy, secs(100)).await.expect("ingest");
    assert_eq!(applied[0].outcome, Outcome::Ignored);
    assert_eq!(applied[0].incident_id, None);
    assert_eq!(store.alert_count().await.expect("count"), 2);
    // Firing again after resolution opens a new incident with a new alert row.
    let again = store.ingest(&[firing], &policy, secs(200)).await.expect("ingest");
    assert_eq!(again[0].outcome, Outcome::Opened);
    assert_ne!(again[0].incident_id, Some(incident));
    assert_ne!(again[0].alert_id, opened[0].alert_id);
    assert_eq!(store.alert_count().await.expect("count"), 3);
}

pub async fn lifecycle_changes_are_checked_and_move_the_active_incident(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let first = store.ingest(&[alert("api", "high", "errors")], &policy, secs(0)).await.expect("ingest")[0]
        .incident_id
        .expect("incident");
    let triaged = store.transition(first, Action::Triage, "oncall", None, &policy, secs(60)).await.expect("triage");
    assert_eq!(triaged.status, IncidentStatus::Triaged);
    assert_eq!(triaged.time_to_acknowledge(), Some(Duration::seconds(60)));
    let refused =
        store.transition(first, Action::Triage, "oncall", None, &policy, secs(61)).await.expect_err("already triaged");
    assert!(matches!(refused, LifecycleError::Invalid(_)), "{refused}");
    assert_eq!(
        store.get_incident(first).await.expect("read").expect("incident"),
        triaged,
        "a refused change writes nothing"
    );
    let missing = store
        .transition(inquest_domain::IncidentId::new_random(), Action::Resolve, "oncall", None, &policy, secs(62))
        .await;
    assert!(matches!(missing, Err(LifecycleError::NotFound(_))));
    let noted = store
        .add_note(first, Note { at: secs(70), author: "oncall".into(), text: "rolled back".into() })
        .await
        .expect("note");
    assert_eq!(noted.notes.len(), 1);
    assert!(matches!(
        store
            .add_note(
                inquest_domain::IncidentId::new_random(),
                Note { at: secs(70), author: "a".into(), text: "x".into() }
            )
            .await,
        Err(LifecycleError::NotFound(_))
    ));
    let resolved = store
        .transition(first, Action::Resolve, "oncall", Some("fixed".into()), &policy, secs(120))
        .await
        .expect("resolve");
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.notes.len(), 1, "the note was kept");
    let counts = store.incident_counts().await.expect("counts");
    assert_eq!((counts.get("open"), counts.get("triaged"), counts.get("resolved")), (Some(&0), Some(&0), Some(&1)));
    // The service has no active incident any more: a new alert opens one.
    let second = store.ingest(&[alert("api", "high", "latency")], &policy, secs(130)).await.expect("ingest");
    assert_eq!(second[0].outcome, Outcome::Opened);
    let second = second[0].incident_id.expect("incident");
    assert_ne!(second, first);
    // Reopening makes the first the service's active incident again.
    store.transition(first, Action::Reopen, "sre", None, &policy, secs(140)).await.expect("reopen");
    let third = store.ingest(&[alert("api", "high", "saturation")], &policy, secs(150)).await.expect("ingest");
    assert_eq!(third[0].outcome, Outcome::Attached);
    assert_eq!(third[0].incident_id, Some(first));
    let counts = store.incident_counts().await.expect("counts");
    assert_eq!(counts.get("open"), Some(&2));
    assert_eq!(counts.get("resolved"), Some(&0));
    // Suppressing by hand is a decision too: a row with its rationale and policy version.
    let suppressed = store
        .transition(second, Action::Suppress, "oncall", Some("known flaky probe".into()), &policy, secs(160))
        .await
        .expect("suppress");
    assert_eq!(suppressed.status, IncidentStatus::Suppressed);
    let by_hand: Vec<_> = suppressed.decisions.iter().filter(|d| d.details["by"] == "operator").collect();
    assert_eq!(by_hand.len(), 1, "{:?}", suppressed.decisions);
    assert_eq!(by_hand[0].decision, inquest_domain::Decision::Suppressed);
    assert_eq!(by_hand[0].rationale, "suppressed by oncall: known flaky probe");
    assert_eq!(by_hand[0].policy_version, policy.version);
    let stored = store.get_incident(second).await.expect("read").expect("incident");
    assert_eq!(stored.decisions, suppressed.decisions, "the decision row is stored with the change");
    let pending = store.pending_records(10).await.expect("outbox");
    let queued = pending.iter().find(|p| p.incident.incident_id == second).expect("queued for the records store");
    assert!(
        queued.incident.decisions.iter().any(|d| d.decision_id == by_hand[0].decision_id),
        "the records store gets it"
    );
}

pub async fn the_outbox_keeps_changes_newer_than_what_was_written(store: &Arc<dyn IngestStore>) {
    let policy = Policy::default_policy();
    let a = store.ingest(&[alert("web", "high", "x")], &policy, secs(0)).await.expect("ingest")[0]
        .incident_id
        .expect("incident");
    let b = store.ingest(&[alert("db", "high", "x")], &policy, secs(1)).await.expect("ingest")[0]
        .incident_id
        .expect("incident");
    let pending = store.pending_records(10).await.expect("outbox");
    assert_eq!(pending.len(), 2);
    assert_eq!(store.pending_records(1).await.expect("outbox").len(), 1, "limit");
    let version_of = |id| pending.iter().find(|p| p.incident.incident_id == id).map(|p| p.version).expect("pending");
    let (va, vb) = (version_of(a), version_of(b));
    // `a` changes after it was read: clearing the old version keeps the new change.
    store.transition(a, Action::Triage, "oncall", None, &policy, secs(5)).await.expect("triage");
    store.clear_pending(&[(a, va), (b, vb)]).await.expect("clear");
    let left = store.pending_records(10).await.expect("outbox");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].incident.incident_id, a);
    assert_eq!(left[0].incident.status, IncidentStatus::Triaged);
    assert!(left[0].version > va);
    store.clear_pending(&[]).await.expect("nothing to clear");
    store.clear_pending(&[(a, left[0].version)]).await.expect("clear");
    assert!(store.pending_records(10).await.expect("outbox").is_empty());
    // A later change carries only the decisions the records store has not had yet.
    let attached = store.ingest(&[alert("db", "high", "y")], &policy, secs(6)).await.expect("ingest");
    assert_eq!((attached[0].outcome, attached[0].incident_id), (Outcome::Attached, Some(b)));
    let left = store.pending_records(10).await.expect("outbox");
    assert_eq!(left.len(), 1);
    let kinds: Vec<Decision> = left[0].incident.decisions.iter().map(|d| d.decision).collect();
    assert_eq!(kinds, vec![Decision::Attached, Decision::Approved]);
    let all: Vec<Decision> =
        store.get_incident(b).await.expect("read").expect("b").decisions.iter().map(|d| d.decision).collect();
    assert_eq!(
        all,
        vec![Decision::Opened, Decision::Attached, Decision::Approved],
        "reads give every decision, oldest first"
    );
}

pub async fn decisions_added_later_are_stored_once_and_queued(store: &Arc<dyn IngestStore>) {
    use inquest_intake::lifecycle::recorded_decision;
    let policy = Policy::default_policy();
    let id = store.ingest(&[alert("pay", "high", "x")], &policy, secs(0)).await.expect("ingest")[0]
        .incident_id
        .expect("incident");
    let pending = store.pending_records(10).await.expect("outbox");
    store
        .clear_pending(&pending.iter().map(|p| (p.incident.incident_id, p.version)).collect::<Vec<_>>())
        .await
        .expect("clear");
    let assigned = recorded_decision(
        id,
        Decision::Assigned,
        "ana",
        "on call for pay",
        "oncall",
        secs(5),
        serde_json::json!({"person": "ana"}),
    );
    let paged = recorded_decision(
        id,
        Decision::Paged,
        "rule/confident",
        "confident",
        "response-v1",
        secs(6),
        serde_json::json!({}),
    );
    let after = store.add_decisions(id, vec![assigned.clone(), paged.clone()]).await.expect("add");
    let kinds: Vec<Decision> = after.decisions.iter().map(|d| d.decision).collect();
    assert_eq!(kinds, vec![Decision::Opened, Decision::Assigned, Decision::Paged], "appended after the stored ones");
    // Recording the same decision again changes nothing.
    let again = store.add_decisions(id, vec![assigned.clone()]).await.expect("add again");
    assert_eq!(again.decisions.len(), 3, "{:?}", again.decisions);
    let stored = store.get_incident(id).await.expect("read").expect("incident");
    assert_eq!(stored.decisions, after.decisions);
    let queued = store.pending_records(10).await.expect("outbox");
    let ours = queued.iter().find(|p| p.incident.incident_id == id).expect("queued for the records store");
    let ids: Vec<_> = ours.incident.decisions.iter().map(|d| d.decision_id).collect();
    assert_eq!(ids, vec![assigned.decision_id, paged.decision_id], "only the new rows, once");
    // An alert attaching afterwards adds its own decisions (the second alert approves
    // the incident) and repeats none.
    let attached = store.ingest(&[alert("pay", "high", "y")], &policy, secs(7)).await.expect("ingest");
    assert_eq!((attached[0].outcome, attached[0].incident_id), (Outcome::Attached, Some(id)));
    let all = store.get_incident(id).await.expect("read").expect("incident").decisions;
    let kinds: Vec<Decision> = all.iter().map(|d| d.decision).collect();
    assert_eq!(
        kinds,
        vec![Decision::Opened, Decision::Assigned, Decision::Paged, Decision::Attached, Decision::Approved],
        "{all:?}"
    );
    let missing = store.add_decisions(inquest_domain::IncidentId::new_random(), vec![assigned]).await;
    assert!(matches!(missing, Err(LifecycleError::NotFound(_))));
}

/// Two alerts approve the service's incident: one queued job, created at `secs(0)`.
async fn one_job(store: &Arc<dyn IngestStore>) -> uuid::Uuid {
    let applied = store
        .ingest(
            &[alert("checkout", "high", "errors"), alert("checkout", "high", "latency")],
            &Policy::default_policy(),
            secs(0),
        )
        .await
        .expect("ingest");
    applied.iter().find_map(|a| a.job_id).expect("approved")
}

pub async fn a_lease_is_exclusive_until_it_expires_and_fences_the_old_worker(store: &Arc<dyn IngestStore>) {
    let job_id = one_job(store).await;
    let lease = Duration::seconds(30);
    assert!(
        store.take_job("early", lease, MAX_ATTEMPTS, secs(-1)).await.expect("take").job.is_none(),
        "not due before it was created"
    );
    let a = store.take_job("a", lease, MAX_ATTEMPTS, secs(0)).await.expect("take").job.expect("a job");
    assert_eq!(a.job_id, job_id);
    assert_eq!((a.attempts, a.state, a.lease_owner.as_deref()), (1, JobState::Running, Some("a")));
    assert_eq!(a.lease_until, Some(secs(30)));
    assert!(store.take_job("b", lease, MAX_ATTEMPTS, secs(29)).await.expect("take").job.is_none(), "held by a");
    let b = store
        .take_job("b", lease, MAX_ATTEMPTS, secs(31))
        .await
        .expect("take")
        .job
        .expect("an expired lease is taken again");
    assert_eq!(b.job_id, a.job_id);
    assert_eq!(b.attempts, 2);
    assert!(!store.complete_job(a.job_id, "a", a.attempts, secs(32)).await.expect("complete"), "a lost its lease");
    assert!(
        !store.fail_job(a.job_id, "a", a.attempts, "late", None, secs(32)).await.expect("fail"),
        "a lost its lease"
    );
    assert!(!store.complete_job(a.job_id, "b", 1, secs(32)).await.expect("complete"), "the attempt must match");
    assert!(!store.complete_job(uuid::Uuid::new_v4(), "b", 2, secs(32)).await.expect("complete"), "unknown job");
    assert!(store.complete_job(b.job_id, "b", b.attempts, secs(33)).await.expect("complete"));
    assert!(!store.complete_job(b.job_id, "b", b.attempts, secs(34)).await.expect("complete"), "completed once");
    let job = store.get_job(job_id).await.expect("read").expect("job");
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.successful_runs(), 1);
    assert_eq!(job.runs.len(), 2);
    assert_eq!(job.runs[0].outcome.as_deref(), Some("lease expired"));
    assert_eq!((job.runs[1].worker.as_str(), job.runs[1].finished_at), ("b", Some(secs(33))));
    assert_eq!((job.lease_owner, job.lease_until), (None, None));
    assert!(
        store.take_job("c", lease, MAX_ATTEMPTS, secs(3600)).await.expect("take").job.is_none(),
        "a succeeded job is never taken"
    );
}

pub async fn failed_jobs_retry_after_their_backoff_then_give_up_keeping_the_error(store: &Arc<dyn IngestStore>) {
    let job_id = one_job(store).await;
    let lease = Duration::seconds(60);
    let backoff = |attempt| inquest_intake::store::backoff(Duration::seconds(2), Duration::minutes(5), attempt);
    let max_attempts = 3;
    let mut now = secs(0);
    for attempt in 1..=max_attempts {
        let job = store.take_job("w", lease, max_attempts, now).await.expect("take").job.expect("due");
        assert_eq!(job.attempts, attempt);
        let retry_at = (attempt < max_attempts).then(|| now + backoff(attempt));
        let error = format!("metrics store unreachable (attempt {attempt})");
        assert!(
            store.fail_job(job_id, "w", attempt, &error, retry_at, now + Duration::seconds(1)).await.expect("fail")
        );
        let stored = store.get_job(job_id).await.expect("read").expect("job");
        assert_eq!(stored.last_error.as_deref(), Some(error.as_str()));
        match retry_at {
            Some(at) => {
                assert_eq!(stored.state, JobState::Queued);
                assert_eq!(stored.next_run_at, at);
                assert!(
                    store
                        .take_job("w", lease, max_attempts, at - Duration::seconds(1))
                        .await
                        .expect("take")
                        .job
                        .is_none(),
                    "backing off"
                );
                now = at;
            }
            None => assert_eq!(stored.state, JobState::Failed),
        }
    }
    let job = store.get_job(job_id).await.expect("read").expect("job");
    assert_eq!(job.attempts, max_attempts);
    assert_eq!(job.last_error.as_deref(), Some("metrics store unreachable (attempt 3)"));
    assert_eq!(job.runs.len(), 3);
    assert!(job.runs.iter().all(|r| r.outcome.as_deref().is_some_and(|o| o.starts_with("failed: "))));
    // The second backoff is twice the first (2s, then 4s).
    assert_eq!(job.runs[1].started_at - job.runs[0].started_at, Duration::seconds(2));
    assert_eq!(job.runs[2].started_at - job.runs[1].started_at, Duration::seconds(4));
    assert!(
        store.take_job("w", lease, max_attempts, secs(86_400)).await.expect("take").job.is_none(),
        "a failed job is not taken again"
    );
    assert!(!store.complete_job(job_id, "w", max_attempts, secs(100)).await.expect("complete"));
}

pub async fn a_job_whose_lease_expired_on_its_last_attempt_is_given_up_keeping_why(store: &Arc<dyn IngestStore>) {
    let job_id = one_job(store).await;
    let lease = Duration::seconds(30);
    let max_attempts = 3;
    // Every worker dies: each lease expires without a result.
    for attempt in 1..=max_attempts {
        let taken = store.take_job("w", lease, max_attempts, secs(31 * i64::from(attempt - 1))).await.expect("take");
        assert!(taken.gave_up.is_empty(), "attempt {attempt} is allowed");
        let job = taken.job.expect("due, or its lease expired");
        assert_eq!((job.job_id, job.attempts), (job_id, attempt));
    }
    let held = store.take_job("x", lease, max_attempts, secs(92)).await.expect("take");
    assert_eq!(held, inquest_intake::Taken::default(), "the last lease holds until secs(92)");
    // Another job is due when that lease has expired.
    let other = store
        .ingest(
            &[alert("search", "high", "errors"), alert("search", "high", "latency")],
            &Policy::default_policy(),
            secs(92),
        )
        .await
        .expect("ingest")
        .iter()
        .find_map(|a| a.job_id)
        .expect("approved");
    let taken = store.take_job("x", lease, max_attempts, secs(93)).await.expect("take");
    let gave_up: Vec<_> = taken.gave_up.iter().map(|j| (j.job_id, j.state)).collect();
    assert_eq!(gave_up, vec![(job_id, JobState::Failed)]);
    assert_eq!(taken.job.map(|j| (j.job_id, j.attempts)), Some((other, 1)), "the take went on to the next due job");
    let error = "attempt 3 of 3: the lease expired without a result (the worker died or hung)";
    let job = store.get_job(job_id).await.expect("read").expect("job");
    assert_eq!(taken.gave_up[0], job);
    assert_eq!((job.state, job.attempts, job.last_error.as_deref()), (JobState::Failed, 3, Some(error)));
    assert_eq!((job.lease_owner.as_deref(), job.lease_until), (None, None));
    assert_eq!(job.runs.len(), 3);
    assert!(job.runs.iter().all(|r| r.outcome.as_deref() == Some("lease expired")), "{:?}", job.runs);
    assert_eq!(job.runs[2].finished_at, Some(secs(93)));
    assert!(!store.complete_job(job_id, "w", 3, secs(94)).await.expect("complete"), "the last worker is fenced off");
    assert!(store.complete_job(other, "x", 1, secs(94)).await.expect("complete"));
    let later = store.take_job("y", lease, max_attempts, secs(86_400)).await.expect("take");
    assert_eq!(later, inquest_intake::Taken::default(), "a job given up is not taken again");
    assert_eq!(store.get_job(job_id).await.expect("read"), Some(job));
}

pub async fn state_survives_reopening<S: IngestSpace>(space: &S) {
    let (incident, job_id) = {
        let store = space.open().await;
        let job_id = one_job(&store).await;
        let taken =
            store.take_job("w", Duration::seconds(30), MAX_ATTEMPTS, secs(1)).await.expect("take").job.expect("job");
        assert_eq!(taken.job_id, job_id);
        (store.list_incidents().await.expect("incidents")[0].incident_id, job_id)
    };
    let store = space.open().await;
    assert_eq!(store.alert_count().await.expect("count"), 2);
    assert_eq!(store.alerts_of(incident).await.expect("alerts").len(), 2);
    assert_eq!(store.list_incidents().await.expect("incidents").len(), 1);
    assert_eq!(store.pending_records(10).await.expect("outbox").len(), 1);
    let job = store.get_job(job_id).await.expect("read").expect("job");
    assert_eq!((job.state, job.attempts, job.lease_owner.as_deref()), (JobState::Running, 1, Some("w")));
    // The worker died with the old handle: its lease expires and the job is taken again.
    assert!(store.take_job("w2", Duration::seconds(30), MAX_ATTEMPTS, secs(20)).await.expect("take").job.is_none());
    let again =
        store.take_job("w2", Duration::seconds(30), MAX_ATTEMPTS, secs(32)).await.expect("take").job.expect("expired");
    assert_eq!((again.job_id, again.attempts), (job_id, 2));
    // A repeat after reopening still deduplicates against the stored alert.
    let repeat = store
        .ingest(&[alert("checkout", "high", "errors")], &Policy::default_policy(), secs(40))
        .await
        .expect("ingest");
    assert_eq!(repeat[0].outcome, Outcome::Deduplicated);
    assert_eq!(repeat[0].incident_id, Some(incident));
}
