//! `inquest serve` survives SIGKILL in the middle of a batch of alerts and jobs:
//! every acknowledged alert is stored once, every incident reaches the records
//! store, and every investigation job completes exactly once after the restart.
//! Its `/metrics` counts the store calls of every route, the dashboard's included.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use inquest_intake::{IngestStore, JobState};
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use serde_json::Value;

use crate::support::{Acked, Server, post};

/// Two workers with a short lease, so a job the kill interrupted is taken over quickly.
const INTAKE: &[(&str, &str)] = &[("INQUEST_INTAKE_WORKERS", "2"), ("INQUEST_INTAKE_LEASE_SECS", "3")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_nothing_and_runs_no_job_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let total = 80;
    let acked: Acked = Arc::default();
    let client = reqwest::Client::new();

    let server = Server::start(&data, INTAKE).await;
    let pid = server.child.id();
    let poster = {
        let (client, url, acked) = (client.clone(), server.url.clone(), acked.clone());
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in 0..total {
                if !post(&client, &url, i, &acked).await {
                    failed.push(i);
                }
            }
            failed
        })
    };
    // Kill -9 once part of the batch is acknowledged, while requests are in flight.
    let started = Instant::now();
    while acked.lock().expect("lock").len() < 12 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
    assert!(status.success());
    let failed = poster.await.expect("poster");
    assert!(!failed.is_empty(), "the kill must interrupt the batch");
    assert!(failed.len() < total, "part of the batch was acknowledged before the kill");
    drop(server);

    // Restart on the same files; the client retries what was not acknowledged.
    let server = Server::start(&data, INTAKE).await;
    for i in failed {
        assert!(post(&client, &server.url, i, &acked).await, "retry of request {i} after restart");
    }
    let started = Instant::now();
    loop {
        let jobs: Vec<Value> =
            client.get(format!("{}/api/jobs", server.url)).send().await.expect("jobs").json().await.expect("json");
        if !jobs.is_empty() && jobs.iter().all(|j| j["state"] == "succeeded") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "jobs did not all complete: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Stop gracefully (SIGTERM) so the files can be opened here.
    server.stop();

    let store = EmbeddedIntakeStore::open(&data.join("ingest.redb")).expect("ingest store");
    let records = EmbeddedStore::open(&data.join("inquest.redb")).expect("records store").stores().records;
    let incidents = store.list_incidents().await.expect("incidents");
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for inc in &incidents {
        for a in store.alerts_of(inc.incident_id).await.expect("alerts") {
            rows.entry(a.alert.fingerprint.clone()).or_default().push(a.alert_id.to_string());
        }
    }
    let acked = acked.lock().expect("lock").clone();
    for (fp, ids) in &acked {
        assert_eq!(ids.len(), 1, "fingerprint {fp} was acknowledged under several alert ids {ids:?}");
        let stored = rows.get(fp).unwrap_or_else(|| panic!("acknowledged alert {fp} was lost"));
        assert_eq!(stored.len(), 1, "alert {fp} stored {} times", stored.len());
        assert!(ids.contains(&stored[0]));
    }
    assert_eq!(store.alert_count().await.expect("count") as usize, rows.len(), "no stray alert rows");

    let jobs = store.list_jobs().await.expect("jobs");
    let approved: Vec<_> = incidents.iter().filter(|i| i.approved).collect();
    assert_eq!(jobs.len(), approved.len(), "one job per approved incident");
    for job in &jobs {
        assert_eq!(job.state, JobState::Succeeded);
        assert_eq!(job.successful_runs(), 1, "job {} ran to completion {} times", job.job_id, job.successful_runs());
        assert_eq!(
            records.reports(job.incident_id).await.expect("reports").len(),
            1,
            "one report for {}",
            job.incident_id
        );
    }
    for inc in &incidents {
        let row =
            records.get_incident(inc.incident_id).await.expect("read").expect("incident row in the records store");
        assert_eq!(row.status, inc.status);
        let written = records.list_decisions(inc.incident_id).await.expect("decisions");
        let kinds = |d: &[inquest_domain::IncidentDecision]| {
            let mut k = d.iter().map(|d| (d.decision.as_str(), d.decision_id)).collect::<Vec<_>>();
            k.sort_by_key(|(_, id)| *id);
            k
        };
        assert_eq!(
            kinds(&written),
            kinds(&inc.decisions),
            "the records store has every decision of {}",
            inc.incident_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_counts_the_store_calls_of_the_intake_and_the_dashboard_on_one_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[("INQUEST_INTAKE_WORKERS", "0")]).await;
    let client = reqwest::Client::new();
    let scrape = || async {
        client.get(format!("{}/metrics", server.url)).send().await.expect("metrics").text().await.expect("text")
    };
    let listed = r#"inquest_store_calls_total{operation="list_incidents",outcome="ok",store="records/embedded"}"#;
    let count = |metrics: &str| -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(listed)).map_or(0, |v| v.trim().parse().expect("a count"))
    };
    let before = count(&scrape().await);
    let r = client.get(format!("{}/api/incidents", server.url)).send().await.expect("incidents");
    assert!(r.status().is_success(), "{}", r.status());
    let metrics = scrape().await;
    assert_eq!(count(&metrics), before + 1, "the dashboard's incident list is one counted call:\n{metrics}");
    for series in [
        r#"inquest_store_calls_total{operation="check_connectivity",outcome="ok",store="ingest/embedded"}"#,
        r#"inquest_store_errors_total{store="ingest/embedded"} 0"#,
        r#"inquest_store_errors_total{store="topology/embedded"} 0"#,
        "inquest_alerts_received_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from {metrics}");
    }
}
