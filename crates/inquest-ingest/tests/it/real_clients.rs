//! Real clients: Debian's Alertmanager posting its webhook to the intake, and
//! Debian's Prometheus scraping `/metrics`. Both are started here on free
//! loopback ports (paths from `INQUEST_TEST_ALERTMANAGER_BIN` and
//! `INQUEST_TEST_PROMETHEUS_BIN`) and killed by PID at the end.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inquest_domain::IncidentStatus;
use inquest_ingest::{Ingest, Policy, http::routes};
use serde_json::{Value, json};

use crate::{in_memory, require_env};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Kills the process (by its PID) when dropped, also when an assertion fails.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(ingest: Arc<Ingest>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, routes(ingest)).await;
    });
    addr
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn spawn(bin: &str, args: &[String], dir: &Path) -> Proc {
    let log = std::fs::File::create(dir.join("server.log")).expect("log");
    let child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    Proc(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_webhook_creates_attaches_and_resolves_incidents() {
    let Some(bin) = require_env("INQUEST_TEST_ALERTMANAGER_BIN") else { return };
    let (ingest, stores) = in_memory(Policy::default_policy());
    let inquest = serve(ingest.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "route:\n  receiver: inquest\n  group_by: ['alertname', 'service']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: inquest\n    webhook_configs:\n      - url: http://{inquest}/api/alertmanager\n        send_resolved: true\n"
    );
    std::fs::write(dir.path().join("alertmanager.yml"), config).expect("config");
    let port = free_port();
    let am = format!("http://127.0.0.1:{port}");
    let _proc = spawn(
        &bin,
        &[
            format!("--config.file={}", dir.path().join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
        dir.path(),
    );
    let client = reqwest::Client::new();
    wait_until("alertmanager ready", Duration::from_secs(30), || async {
        client.get(format!("{am}/-/ready")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;

    let started = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let alert = |name: &str, service: &str, severity: &str, ends: Option<String>| {
        let mut a = json!({
            "labels": {"alertname": name, "service": service, "severity": severity},
            "annotations": {"summary": format!("{name} on {service}")},
            "startsAt": started,
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        a
    };
    let post = |alerts: Value| {
        let client = client.clone();
        let am = am.clone();
        async move {
            let r = client.post(format!("{am}/api/v2/alerts")).json(&alerts).send().await.expect("post to alertmanager");
            let status = r.status();
            assert!(status.is_success(), "alertmanager refused alerts: {status} {}", r.text().await.unwrap_or_default());
        }
    };
    post(json!([alert("HighErrorRate", "checkout", "critical", None)])).await;
    post(json!([alert("HighLatency", "checkout", "warning", None), alert("DiskFilling", "cart", "info", None)])).await;

    // Two groups for checkout: one incident, opened then attached; cart is suppressed (below high).
    wait_until("three alerts ingested", Duration::from_secs(30), || async { ingest.store.alert_count().await.unwrap_or(0) >= 3 }).await;
    let incidents = ingest.store.list_incidents().await.expect("incidents");
    let checkout = incidents.iter().find(|i| i.service == "checkout").expect("checkout incident");
    let cart = incidents.iter().find(|i| i.service == "cart").expect("cart incident");
    assert_eq!(incidents.iter().filter(|i| i.service == "checkout").count(), 1, "attached, not a second incident");
    assert_eq!(checkout.alert_count, 2);
    assert_eq!(checkout.status, IncidentStatus::Open);
    assert_eq!(cart.status, IncidentStatus::Suppressed);
    let decisions = stores.records.list_decisions(checkout.incident_id).await.expect("decisions");
    assert!(decisions.iter().any(|d| d.decision == inquest_domain::Decision::Attached), "{decisions:?}");

    // Resolve both checkout alerts in Alertmanager: its resolved notifications resolve the incident.
    let past = chrono::Utc::now().to_rfc3339();
    post(json!([
        alert("HighErrorRate", "checkout", "critical", Some(past.clone())),
        alert("HighLatency", "checkout", "warning", Some(past))
    ]))
    .await;
    let id = checkout.incident_id;
    wait_until("checkout incident resolved by alertmanager", Duration::from_secs(60), || async {
        ingest.store.get_incident(id).await.ok().flatten().is_some_and(|i| i.status == IncidentStatus::Resolved)
    })
    .await;
    let resolved = stores.records.get_incident(id).await.expect("read").expect("row");
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.resolution_kind.as_deref(), Some("alerts_resolved"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_metrics() {
    let Some(bin) = require_env("INQUEST_TEST_PROMETHEUS_BIN") else { return };
    let (ingest, _) = in_memory(Policy::default_policy());
    let inquest = serve(ingest.clone()).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{inquest}/api/alerts"))
        .json(&json!([{"service": "checkout", "severity": "high", "message": "m1"}, {"service": "checkout", "severity": "high", "message": "m2"}]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: inquest\n    static_configs:\n      - targets: ['{inquest}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let prom = format!("http://127.0.0.1:{port}");
    let _proc = spawn(
        &bin,
        &[
            format!("--config.file={}", dir.path().join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    wait_until("prometheus target up", Duration::from_secs(60), || async {
        let Ok(r) = client.get(format!("{prom}/api/v1/targets")).send().await else { return false };
        let Ok(v) = r.json::<Value>().await else { return false };
        v["data"]["activeTargets"].as_array().is_some_and(|t| t.iter().any(|t| t["health"] == "up"))
    })
    .await;
    let query = "sum(inquest_alerts_received_total{severity=\"high\",source=\"generic\"})";
    wait_until("the scraped counter", Duration::from_secs(30), || {
        let client = client.clone();
        let url = format!("{prom}/api/v1/query");
        async move {
            let Ok(r) = client.get(url).query(&[("query", query)]).send().await else { return false };
            let Ok(v) = r.json::<Value>().await else { return false };
            v["status"] == "success" && v["data"]["result"][0]["value"][1] == "2"
        }
    })
    .await;
}
