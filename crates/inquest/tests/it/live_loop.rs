//! The whole loop on real servers: a small demo service served here (a request counter
//! with a `code` label and a latency histogram) is scraped every second by Debian's
//! Prometheus, which remote-writes every sample to `inquest serve`
//! (`POST /api/v1/write`); the test posts a deployment of the service through
//! `/api/feeds/deployments` and makes the deployed version fail a third of its
//! requests; Prometheus's alerting rule on the error rate fires through Debian's
//! Alertmanager into `/api/alertmanager`; the incident is opened and approved (the
//! policy approves at one alert), a worker investigates it from the remote-written
//! metrics, its top hypothesis is that deployment and its report is saved. Prometheus
//! and Alertmanager are started here (`INQUEST_TEST_PROMETHEUS_BIN`,
//! `INQUEST_TEST_ALERTMANAGER_BIN`) on free loopback ports and killed by their handles.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::alerting::spawn;
use crate::support::{Server, free_port, get, require_env, wait_until};

/// Latency buckets of the demo histogram, in seconds.
const BUCKETS: [f64; 6] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The demo service's counters, advanced a second at a time.
#[derive(Default)]
struct Demo {
    /// Deployed: 1 request in 3 fails and requests take 0.8 s instead of 0.04 s.
    deployed: bool,
    seconds: u64,
    ok: u64,
    errors: u64,
    /// Cumulative count per bucket, then `+Inf`.
    buckets: [u64; 7],
    sum: f64,
}

impl Demo {
    /// 50 requests a second.
    fn advance(&mut self, to: u64) {
        while self.seconds < to {
            self.seconds += 1;
            let (ok, errors, latency) = if self.deployed { (33, 17, 0.8) } else { (50, 0, 0.04) };
            self.ok += ok;
            self.errors += errors;
            for (i, le) in BUCKETS.iter().enumerate() {
                if latency <= *le {
                    self.buckets[i] += ok + errors;
                }
            }
            self.buckets[6] += ok + errors;
            self.sum += latency * (ok + errors) as f64;
        }
    }

    fn exposition(&self) -> String {
        let mut out = String::from("# TYPE demo_requests_total counter\n");
        let _ = writeln!(out, "demo_requests_total{{code=\"200\"}} {}", self.ok);
        let _ = writeln!(out, "demo_requests_total{{code=\"500\"}} {}", self.errors);
        out.push_str("# TYPE demo_request_duration_seconds histogram\n");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "demo_request_duration_seconds_bucket{{le=\"{le}\"}} {}", self.buckets[i]);
        }
        let _ = writeln!(out, "demo_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", self.buckets[6]);
        let _ = writeln!(out, "demo_request_duration_seconds_sum {}", self.sum);
        let _ = writeln!(out, "demo_request_duration_seconds_count {}", self.buckets[6]);
        out
    }
}

/// Serve the demo's `/metrics` on a free loopback port; its `host:port`.
async fn demo_service(demo: Arc<Mutex<Demo>>) -> String {
    let started = Instant::now();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let demo = demo.clone();
            async move {
                let mut d = demo.lock().expect("lock");
                d.advance(started.elapsed().as_secs());
                d.exposition()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_raises_the_error_rate_is_found_from_live_metrics() {
    let Some(prometheus) = require_env("INQUEST_TEST_PROMETHEUS_BIN") else { return };
    let Some(alertmanager) = require_env("INQUEST_TEST_ALERTMANAGER_BIN") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();

    // Inquest: one worker; the default policy, but one alert approves.
    let policy = inquest_intake::DEFAULT_POLICY.replace("alerts = 2", "alerts = 1");
    assert_ne!(policy, inquest_intake::DEFAULT_POLICY);
    std::fs::write(path("policy.toml"), policy).expect("policy");
    let inquest = Server::start(
        &dir.path().join("data"),
        &[("INQUEST_INTAKE_POLICY_FILE", &path("policy.toml")), ("INQUEST_INTAKE_WORKERS", "1")],
    )
    .await;
    let client = reqwest::Client::new();
    let base = inquest.url.clone();

    let demo = Arc::new(Mutex::new(Demo::default()));
    let target = demo_service(demo.clone()).await;

    // Alertmanager posts its webhook to Inquest at once.
    let am_port = free_port();
    let am = format!("http://127.0.0.1:{am_port}");
    std::fs::write(
        path("alertmanager.yml"),
        format!(
            "route:\n  receiver: inquest\n  group_by: ['alertname', 'service']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: inquest\n    webhook_configs:\n      - url: {base}/api/alertmanager\n        send_resolved: true\n"
        ),
    )
    .expect("alertmanager config");
    std::fs::create_dir_all(dir.path().join("am-run")).expect("dir");
    let _alertmanager = spawn(
        &alertmanager,
        &[
            format!("--config.file={}", path("alertmanager.yml")),
            format!("--storage.path={}", path("am")),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.path().join("am-run"),
    );

    // Prometheus scrapes the demo, evaluates the error-rate rule and remote-writes to Inquest.
    std::fs::write(
        path("rules.yml"),
        "groups:\n  - name: checkout\n    interval: 1s\n    rules:\n      - alert: CheckoutHighErrorRate\n\
         \x20       expr: sum by (service) (rate(demo_requests_total{code=~\"5..\"}[10s])) / sum by (service) (rate(demo_requests_total[10s])) > 0.1\n\
         \x20       for: 2s\n        labels:\n          severity: critical\n\
         \x20       annotations:\n          summary: checkout fails more than 10% of its requests\n",
    )
    .expect("rules");
    std::fs::write(
        path("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{rules}']\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
             remote_write:\n  - url: {base}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n\
             scrape_configs:\n  - job_name: checkout\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          service: checkout\n",
            rules = path("rules.yml"),
        ),
    )
    .expect("prometheus config");
    let prom_port = free_port();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let _prometheus = spawn(
        &prometheus,
        &[
            format!("--config.file={}", path("prometheus.yml")),
            format!("--storage.tsdb.path={}", path("tsdb")),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir.path(),
    );
    wait_until("alertmanager ready", Duration::from_secs(30), || async {
        client.get(format!("{am}/-/ready")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    wait_until("prometheus scrapes the demo", Duration::from_secs(60), || async {
        let Ok(r) = client.get(format!("{prom}/api/v1/targets")).send().await else { return false };
        let Ok(v) = r.json::<Value>().await else { return false };
        v["data"]["activeTargets"].as_array().is_some_and(|t| t.iter().any(|t| t["health"] == "up"))
    })
    .await;
    // Remote write reaches the metrics store: the demo's series are on Inquest's side.
    wait_until("remote-written points stored", Duration::from_secs(60), || async {
        let Ok(r) = client.get(format!("{base}/metrics")).send().await else { return false };
        let text = r.text().await.unwrap_or_default();
        text.lines().any(|l| {
            l.starts_with("inquest_store_calls_total")
                && l.contains("operation=\"insert_points\"")
                && l.contains("outcome=\"ok\"")
                && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= 5.0)
        })
    })
    .await;
    // A calm baseline of about 30 s before the deploy.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        get(&client, format!("{base}/api/lifecycle")).await.as_array().is_some_and(|l| l.is_empty()),
        "nothing fires while the service is calm"
    );

    // The deploy: recorded through the deployment feed, then the new version fails.
    let deployed_at = Utc::now();
    let receipt: Value = client
        .post(format!("{base}/api/feeds/deployments"))
        .json(&json!({"service": "checkout", "started_at": deployed_at.to_rfc3339(),
            "finished_at": (deployed_at + chrono::Duration::seconds(1)).to_rfc3339(), "deploy_type": "k8s",
            "image_ref": "registry.example.com/checkout:2.4.0", "revision": "4c1d9e0",
            "previous_revision": "b77a210", "event_id": "live-loop-deploy"}))
        .send()
        .await
        .expect("deployment")
        .json()
        .await
        .expect("json");
    assert_eq!(receipt["outcome"], "stored", "{receipt}");
    demo.lock().expect("lock").deployed = true;

    // The rule fires through Alertmanager: an incident, approved by the policy.
    wait_until("the alert opens an incident", Duration::from_secs(90), || async {
        let all = get(&client, format!("{base}/api/lifecycle")).await;
        all.as_array().is_some_and(|l| l.iter().any(|i| i["service"] == "checkout"))
    })
    .await;
    let all = get(&client, format!("{base}/api/lifecycle")).await;
    let incident = all.as_array().expect("list").iter().find(|i| i["service"] == "checkout").expect("incident").clone();
    assert_eq!(incident["approved"], true, "{incident}");
    let decisions: Vec<&str> =
        incident["decisions"].as_array().expect("decisions").iter().filter_map(|d| d["decision"].as_str()).collect();
    assert_eq!(decisions, ["opened", "approved"], "{incident}");
    let id = incident["incident_id"].as_str().expect("id").to_string();

    // The worker investigates from the live metrics.
    wait_until("the incident is investigated", Duration::from_secs(120), || async {
        let jobs = get(&client, format!("{base}/api/jobs")).await;
        jobs.as_array().is_some_and(|j| j.iter().any(|j| j["incident_id"] == id.as_str() && j["state"] == "succeeded"))
    })
    .await;
    let detail = get(&client, format!("{base}/api/incidents/{id}")).await;
    let hypotheses = detail["hypotheses"].as_array().expect("hypotheses");
    let top = hypotheses.iter().min_by_key(|h| h["rank"].as_i64().unwrap_or(i64::MAX)).expect("a hypothesis");
    assert_eq!(top["hypothesis_type"], "release", "the deploy is the top hypothesis: {hypotheses:?}");
    assert_eq!(top["details"]["service_key"], "default/default/checkout", "{top}");
    assert!(top["details"]["culprit"].as_str().is_some_and(|c| c.starts_with("deployment:")), "{top}");
    assert!(detail["report"].is_object(), "the report is saved: {detail}");
    let markdown = detail["report"]["markdown"].as_str().unwrap_or_default();
    assert!(
        markdown.contains("deployment of checkout (registry.example.com/checkout:2.4.0)"),
        "the report names the deploy: {markdown}"
    );
    // The evidence came from the remote-written series of the service.
    let metrics = get(&client, format!("{base}/api/incidents/{id}/metrics")).await;
    let names: Vec<&str> =
        metrics["series"].as_array().expect("series").iter().filter_map(|s| s["metric_name"].as_str()).collect();
    assert!(names.iter().any(|n| n.contains("demo_requests_total")), "{names:?}");
}
