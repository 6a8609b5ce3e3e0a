//! `inquest worker` apart from HTTP: one `inquest serve` with `intake.workers = 0` takes
//! the alerts, one `inquest worker` on the same Postgres investigates them (jobs
//! succeeded by the worker's process, reports saved), logs JSON on request, and stops
//! on SIGTERM within its grace period. Needs `INQUEST_TEST_POSTGRES_URL` (skipped
//! locally when unset, a failure under CI).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Acked, Server, get, migrated_postgres, post, require_env, wait_until};

/// A running `inquest worker`; SIGKILLed (only this child) when dropped.
struct Worker {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn start(data: &Path, env: &[(&str, &str)]) -> Worker {
        let log = data.with_extension("log");
        let file = std::fs::File::create(&log).expect("worker log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inquest"));
        cmd.arg("--data-dir").arg(data).arg("worker");
        for var in ["INQUEST_CONFIG", "INQUEST_DATA_DIR", "INQUEST_CLICKHOUSE_URL", "INQUEST_INTAKE_POLICY_FILE"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let child = cmd.stdout(Stdio::null()).stderr(file).spawn().expect("inquest worker starts");
        Worker { child, log }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_apart_from_serve_investigates_the_alerts_serve_takes() {
    let Some(admin) = require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = migrated_postgres(&admin, dir.path()).await;
    let url = db.url.clone();

    let serve = Server::start(
        &dir.path().join("serve"),
        &[("INQUEST_POSTGRES_URL", url.as_str()), ("INQUEST_INTAKE_WORKERS", "0")],
    )
    .await;
    let worker = Worker::start(
        &dir.path().join("worker"),
        &[
            ("INQUEST_POSTGRES_URL", url.as_str()),
            ("INQUEST_INTAKE_WORKERS", "2"),
            ("INQUEST_LOG", "info"),
            ("INQUEST_LOG_FORMAT", "json"),
        ],
    );
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    for i in 0..20 {
        assert!(post(&client, &serve.url, i, &acked).await, "request {i} acknowledged by serve");
    }

    wait_until("every job succeeded", Duration::from_secs(120), || async {
        let jobs = get(&client, format!("{}/api/jobs", serve.url)).await;
        let jobs = jobs.as_array().expect("jobs");
        !jobs.is_empty() && jobs.iter().all(|j| j["state"] == "succeeded")
    })
    .await;
    let jobs = get(&client, format!("{}/api/jobs", serve.url)).await;
    let prefix = format!("{}-", worker.child.id());
    for job in jobs.as_array().expect("jobs") {
        for run in job["runs"].as_array().expect("runs") {
            let by = run["worker"].as_str().expect("worker id");
            assert!(by.starts_with(&prefix), "only the worker process investigates (serve has 0 workers): {job}");
        }
        let id = job["incident_id"].as_str().expect("incident id");
        let row = get(&client, format!("{}/api/incidents/{id}", serve.url)).await;
        assert!(row["report"].is_object(), "a report was saved for {id}: {row}");
    }

    // SIGTERM: the worker stops well within its grace period, with success.
    let stopping = Instant::now();
    let mut worker = worker;
    assert!(Command::new("kill").args(["-TERM", &worker.child.id().to_string()]).status().expect("kill").success());
    let status = worker.child.wait().expect("worker exits");
    assert!(status.success(), "worker stopped with {status}");
    assert!(stopping.elapsed() < Duration::from_secs(30), "stopped in {:?}", stopping.elapsed());

    // Every log line is one JSON object with the fields a collector needs, spans included.
    let text = std::fs::read_to_string(&worker.log).expect("worker log");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "the worker logged at info");
    for line in &lines {
        for field in ["timestamp", "level", "target", "fields"] {
            assert!(line.get(field).is_some(), "{field} missing: {line}");
        }
    }
    assert!(lines.iter().any(|l| l["fields"]["message"] == "intake started"), "{text}");
    assert!(lines.iter().any(|l| l["spans"].as_array().is_some_and(|s| !s.is_empty())), "span fields: {text}");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "stopped"), "{text}");
    serve.stop();
    drop(db);
}
