//! Group commit of the embedded store through the service: concurrent requests
//! committed together correlate exactly as if they came one by one, and each
//! decision reaches the records store once (the store-level cases, in-batch
//! replacement included, are in the `inquest-contract` ingest suite).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use inquest_domain::{Decision, ProjectId};
use inquest_intake::Policy;
use inquest_intake::model::parse_generic;

use crate::in_memory;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_service_open_one_incident() {
    let (ingest, records) = in_memory(Policy::default_policy());
    let now = Utc::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                let a = parse_generic(
                    &serde_json::json!({"service": "checkout", "severity": "high", "message": format!("alert {i}")}),
                    "",
                    now,
                )
                .expect("alert");
                ingest.ingest(&ProjectId::default_project(), vec![a], now).await.expect("stored")
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
    ingest.sync_records(&ProjectId::default_project()).await.expect("sync");
    assert_eq!(records.records.list_decisions(inc.incident_id).await.expect("decisions").len(), 201);
    assert!(ingest.store.pending_records(10).await.expect("pending").is_empty(), "outbox drained");
    assert_eq!(ingest.store.incident_counts().await.expect("counts")["open"], 1);
}
