//! Two `inquest serve` processes on one Postgres (records and intake) share the
//! alerts, the incidents and the investigation queue: alerts posted to either are
//! correlated into one incident per service, one process is killed (SIGKILL) in the
//! middle, and every job still runs to completion exactly once.
//! Needs `INQUEST_TEST_POSTGRES_URL` (skipped locally when unset, a failure under CI).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{Acked, Server, get, migrated_postgres, post, require_env, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_alerts_incidents_and_jobs_on_postgres() {
    let Some(admin) = require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = migrated_postgres(&admin, dir.path()).await;
    let url = db.url.clone();

    // Each process has its own data dir (the embedded metric/topology file is one
    // process's); records and the intake are the shared Postgres database.
    let env =
        [("INQUEST_POSTGRES_URL", url.as_str()), ("INQUEST_INTAKE_WORKERS", "2"), ("INQUEST_INTAKE_LEASE_SECS", "3")];
    let a = Server::start(&dir.path().join("a"), &env).await;
    let b = Server::start(&dir.path().join("b"), &env).await;
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let total = 60;

    // Two clients at once, each alternating between the processes.
    let poster = |offset: usize| {
        let (client, acked, urls) = (client.clone(), acked.clone(), [a.url.clone(), b.url.clone()]);
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in (offset..total).step_by(2) {
                if !post(&client, &urls[(i / 2) % 2], i, &acked).await {
                    failed.push(i);
                }
            }
            failed
        })
    };
    let (p0, p1) = (poster(0), poster(1));
    let started = Instant::now();
    while acked.lock().expect("lock").len() < 15 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let a_pid = a.child.id();
    assert!(Command::new("kill").args(["-9", &a_pid.to_string()]).status().expect("kill").success());
    let mut failed = p0.await.expect("poster");
    failed.extend(p1.await.expect("poster"));
    drop(a);
    assert!(!failed.is_empty(), "the kill must interrupt requests to the killed process");
    for i in failed {
        assert!(post(&client, &b.url, i, &acked).await, "retry of request {i} on the other process");
    }

    // The surviving process takes over the jobs the killed one held, once their lease expires.
    wait_until("every job succeeded", Duration::from_secs(120), || async {
        let jobs = get(&client, format!("{}/api/jobs", b.url)).await;
        let jobs = jobs.as_array().expect("jobs");
        !jobs.is_empty() && jobs.iter().all(|j| j["state"] == "succeeded")
    })
    .await;
    let incidents = get(&client, format!("{}/api/lifecycle", b.url)).await;
    let incidents = incidents.as_array().expect("incidents");
    let per_service: BTreeMap<&str, usize> = incidents.iter().fold(BTreeMap::new(), |mut m, i| {
        *m.entry(i["service"].as_str().expect("service")).or_default() += 1;
        m
    });
    assert_eq!(per_service.len(), 10, "{per_service:?}");
    assert!(per_service.values().all(|n| *n == 1), "one incident per service across both processes: {per_service:?}");

    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for inc in incidents {
        let id = inc["incident_id"].as_str().expect("id");
        let detail = get(&client, format!("{}/api/incidents/{id}/lifecycle", b.url)).await;
        for alert in detail["alerts"].as_array().expect("alerts") {
            let fp = alert["alert"]["fingerprint"].as_str().expect("fingerprint").to_string();
            stored.entry(fp).or_default().push(alert["alert_id"].as_str().expect("id").to_string());
        }
        // Every approved incident was investigated once: one report on the dashboard's API.
        if inc["approved"] == true {
            let row = get(&client, format!("{}/api/incidents/{id}", b.url)).await;
            assert_eq!(row["report_history"].as_array().map(Vec::len), Some(1), "one report for {id}: {row}");
        }
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 20, "alerts were acknowledged: {}", acked.len());
    for (fp, ids) in &acked {
        assert_eq!(ids.len(), 1, "fingerprint {fp} acknowledged under several alert ids {ids:?}");
        let rows = stored.get(fp).unwrap_or_else(|| panic!("acknowledged alert {fp} was lost"));
        assert_eq!(rows, &ids.iter().cloned().collect::<Vec<_>>(), "alert {fp} stored once, with the acknowledged id");
    }
    let jobs = get(&client, format!("{}/api/jobs", b.url)).await;
    for job in jobs.as_array().expect("jobs") {
        let completed = job["runs"].as_array().expect("runs").iter().filter(|r| r["outcome"] == "succeeded").count();
        assert_eq!(completed, 1, "job ran to completion once: {job}");
    }
    assert_eq!(jobs.as_array().map(Vec::len), Some(incidents.iter().filter(|i| i["approved"] == true).count()));
    b.stop();
    drop(db);
}
