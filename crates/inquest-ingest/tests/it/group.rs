//! Group commit of the embedded store: concurrent requests committed together
//! correlate exactly as if they came one by one, decisions are stored once each,
//! and an incident resolved and replaced inside one group leaves the right pointer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use inquest_domain::{Decision, IncidentStatus};
use inquest_ingest::model::{AlertSource, parse_generic};
use inquest_ingest::{Alert, AlertStatus, Outcome, Policy, Severity};

use crate::in_memory;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_service_open_one_incident() {
    let (ingest, records) = in_memory(Policy::default_policy());
    let now = Utc::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                let a = parse_generic(&serde_json::json!({"service": "checkout", "severity": "high", "message": format!("alert {i}")}), "", now)
                    .expect("alert");
                ingest.ingest(vec![a], now).await.expect("stored")
            })
        })
        .collect();
    let mut outcomes = BTreeMap::new();
    for t in tasks {
        for a in t.await.expect("task") {
            *outcomes.entry(a.outcome.as_str()).or_insert(0) += 1;
        }
    }
    assert_eq!(outcomes, BTreeMap::from([("opened", 1), ("attached", 199)]));
    let incidents = ingest.store.list_incidents().await.expect("list");
    assert_eq!(incidents.len(), 1);
    let inc = &incidents[0];
    assert_eq!(inc.alert_count, 200);
    let kinds: Vec<Decision> = inc.decisions.iter().map(|d| d.decision).collect();
    assert_eq!(kinds.iter().filter(|d| **d == Decision::Opened).count(), 1);
    assert_eq!(kinds.iter().filter(|d| **d == Decision::Attached).count(), 199);
    assert_eq!(kinds.iter().filter(|d| **d == Decision::Approved).count(), 1);
    assert_eq!(kinds[0], Decision::Opened, "oldest first");
    let ids: BTreeSet<_> = inc.decisions.iter().map(|d| d.decision_id).collect();
    assert_eq!(ids.len(), 201, "decision ids are distinct");
    ingest.sync_records().await.expect("sync");
    assert_eq!(records.records.list_decisions(inc.incident_id).await.expect("decisions").len(), 201);
    assert!(ingest.store.pending_records(10).await.expect("pending").is_empty(), "outbox drained");
    assert_eq!(ingest.store.incident_counts().await.expect("counts")["open"], 1);
}

fn am(fingerprint: &str, status: AlertStatus) -> Alert {
    let now = Utc::now();
    Alert {
        fingerprint: fingerprint.into(),
        source: AlertSource::Alertmanager,
        service: "search".into(),
        severity: Severity::Critical,
        message: "down".into(),
        status,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        starts_at: now,
        ends_at: None,
    }
}

#[tokio::test]
async fn an_incident_resolved_and_replaced_within_one_request_moves_the_pointer() {
    let (ingest, _) = in_memory(Policy::default_policy());
    let now = Utc::now();
    let batch = vec![am("a", AlertStatus::Firing), am("a", AlertStatus::Resolved), am("b", AlertStatus::Firing)];
    let applied = ingest.ingest(batch, now).await.expect("stored");
    let outcomes: Vec<Outcome> = applied.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Opened, Outcome::Resolved, Outcome::Opened]);
    let (first, second) = (applied[0].incident_id.expect("first"), applied[2].incident_id.expect("second"));
    assert_ne!(first, second);
    let later = ingest.ingest(vec![am("c", AlertStatus::Firing)], now).await.expect("stored");
    assert_eq!((later[0].outcome, later[0].incident_id), (Outcome::Attached, Some(second)));
    let first = ingest.store.get_incident(first).await.expect("read").expect("first");
    assert_eq!(first.status, IncidentStatus::Resolved);
    let counts = ingest.store.incident_counts().await.expect("counts");
    assert_eq!((counts["open"], counts["resolved"]), (1, 1));
}
