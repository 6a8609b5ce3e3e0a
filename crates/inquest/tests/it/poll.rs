//! The PromQL poller of `inquest serve`: against a fake Prometheus HTTP API served here
//! (axum on loopback, `query_range` answers computed from the requested range), a
//! Prometheus that is down is counted and the loop goes on, a sustained rise of the
//! error ratio opens an incident through the intake, repeats deduplicate and the
//! recovery resolves it; against Debian's real Prometheus scraping a small endpoint
//! served here, an error spike opens an incident.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::{Server, free_port, get, require_env, wait_until};

/// What the fake Prometheus answers.
#[derive(Default)]
struct Fake {
    /// Answer 503 to everything.
    down: bool,
    /// Unix seconds from which the error ratio is high, and until which.
    anomaly: Option<(i64, i64)>,
    requests: usize,
}

type Shared = Arc<Mutex<Fake>>;

async fn query_range(State(fake): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (down, anomaly) = {
        let mut f = fake.lock().expect("lock");
        f.requests += 1;
        (f.down, f.anomaly)
    };
    if down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end), Some(step), Some(query)) = (num("start"), num("end"), num("step"), q.get("query"))
    else {
        let body = json!({"status": "error", "errorType": "bad_data", "error": "start, end, step and query needed"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    if !query.contains(r#"service="checkout""#) || step <= 0 {
        let body = json!({"status": "error", "errorType": "bad_data", "error": format!("unexpected query {query}")});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let times: Vec<i64> = (start..=end).step_by(step as usize).collect();
    let result = if query.starts_with("error_ratio") {
        let ratio = |t: i64| match anomaly {
            Some((from, until)) if t >= from && t < until => 0.5,
            _ => 0.01 + 0.002 * ((t % 5) as f64 - 2.0),
        };
        json!([{"metric": {"service": "checkout"}, "values": times.iter().map(|t| json!([t, ratio(*t).to_string()])).collect::<Vec<_>>()}])
    } else {
        let series = |code: &str, v: f64| json!({"metric": {"service": "checkout", "code": code}, "values": times.iter().map(|t| json!([t, v.to_string()])).collect::<Vec<_>>()});
        json!([series("200", 40.0), series("500", 0.4)])
    };
    axum::Json(json!({"status": "success", "data": {"resultType": "matrix", "result": result}})).into_response()
}

/// Serve the fake on a free loopback port; its base URL.
async fn fake_prometheus(fake: Shared) -> String {
    let app = axum::Router::new().route("/api/v1/query_range", axum::routing::get(query_range)).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// The poller's settings file: `checkout` polled every second over the last 30 s.
fn poll_config(dir: &Path, url: &str, queries: &str) -> String {
    let path = dir.join("inquest.toml");
    let config = format!(
        "[telemetry.poll]\nurl = \"{url}\"\nbearer_token = \"poll-secret\"\nrange_secs = 30\nstep_secs = 1\n\
         default_interval_secs = 1\nz_threshold = 4.0\nsustained_points = 3\nmin_baseline_points = 10\n{queries}\n\
         [[telemetry.poll.services]]\nname = \"checkout\"\ninterval_secs = 1\n"
    );
    std::fs::write(&path, config).expect("config");
    path.display().to_string()
}

/// The value of the sample of `/metrics` named exactly `series`, 0 when absent.
async fn sample(client: &reqwest::Client, base: &str, series: &str) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

async fn checkout_incidents(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let all = get(client, format!("{base}/api/lifecycle")).await;
    all.as_array().expect("list").iter().filter(|i| i["service"] == "checkout").cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_raises_deduplicates_and_resolves_an_anomaly_from_a_fake_prometheus() {
    let fake: Shared = Arc::new(Mutex::new(Fake { down: true, ..Fake::default() }));
    let prom = fake_prometheus(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let queries = "[[telemetry.poll.queries]]\nname = \"http_error_ratio\"\n\
                   promql = 'error_ratio{service=\"{{service}}\"}'\nbad = \"up\"\n\
                   [[telemetry.poll.queries]]\nname = \"http_requests\"\n\
                   promql = 'sum by (code) (rate(http_requests_total{service=\"{{service}}\"}[1m]))'\n";
    let config = poll_config(dir.path(), &prom, queries);
    let inquest =
        Server::start(&dir.path().join("data"), &[("INQUEST_CONFIG", &config), ("INQUEST_INTAKE_WORKERS", "0")]).await;
    let client = reqwest::Client::new();
    let base = inquest.url.clone();

    // Down: counted, logged, and polled again.
    let failed = r#"inquest_polls_total{outcome="http_error",service="checkout"}"#;
    wait_until("failed polls counted", Duration::from_secs(30), || async {
        sample(&client, &base, failed).await >= 2.0
    })
    .await;
    assert!(checkout_incidents(&client, &base).await.is_empty(), "a Prometheus down opens nothing");
    fake.lock().expect("lock").down = false;
    let ok = r#"inquest_polls_total{outcome="ok",service="checkout"}"#;
    wait_until("polls succeed once Prometheus is back", Duration::from_secs(30), || async {
        sample(&client, &base, ok).await >= 4.0
    })
    .await;
    assert!(sample(&client, &base, r#"inquest_poll_points_written_total{service="checkout"}"#).await >= 60.0);
    assert!(checkout_incidents(&client, &base).await.is_empty(), "a calm service raises nothing");

    // A sustained rise of the error ratio: one incident, of an anomaly alert.
    let from = chrono::Utc::now().timestamp() + 1;
    fake.lock().expect("lock").anomaly = Some((from, i64::MAX));
    wait_until("the anomaly opens an incident", Duration::from_secs(30), || async {
        !checkout_incidents(&client, &base).await.is_empty()
    })
    .await;
    let raised = r#"inquest_poll_anomalies_total{service="checkout",transition="raised"}"#;
    assert_eq!(sample(&client, &base, raised).await, 1.0);
    assert!(sample(&client, &base, r#"inquest_alerts_received_total{severity="high",source="anomaly"}"#).await >= 1.0);
    // Later polls repeat the firing alert: it deduplicates into the same incident.
    let dedup = r#"inquest_alert_correlations_total{outcome="deduplicated"}"#;
    wait_until("repeats deduplicate", Duration::from_secs(30), || async { sample(&client, &base, dedup).await >= 2.0 })
        .await;
    let incidents = checkout_incidents(&client, &base).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let incident = &incidents[0];
    assert_eq!((incident["status"].as_str(), incident["alert_count"].as_u64()), (Some("open"), Some(1)), "{incident}");
    assert_eq!(sample(&client, &base, raised).await, 1.0, "a repeat is not a new anomaly");
    let id = incident["incident_id"].as_str().expect("id").to_string();

    // The points are in the metrics store under the service, several series told apart
    // by their labels; the onset is the first anomalous point.
    wait_until("the incident reaches the records store", Duration::from_secs(30), || async {
        client.get(format!("{base}/api/incidents/{id}/metrics")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let metrics = get(&client, format!("{base}/api/incidents/{id}/metrics")).await;
    let names: Vec<&str> =
        metrics["series"].as_array().expect("series").iter().filter_map(|s| s["metric_name"].as_str()).collect();
    for want in ["http_error_ratio", r#"http_requests{code="200"}"#, r#"http_requests{code="500"}"#] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let onset = metrics["onset"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    assert_eq!(onset.map(|t| t.timestamp()), Some(from), "{metrics}");

    // Recovery: as many normal points resolve the incident.
    fake.lock().expect("lock").anomaly = Some((from, chrono::Utc::now().timestamp() + 1));
    wait_until("the recovery resolves the incident", Duration::from_secs(30), || async {
        get(&client, format!("{base}/api/incidents/{id}/lifecycle")).await["status"] == "resolved"
    })
    .await;
    let resolved = r#"inquest_poll_anomalies_total{service="checkout",transition="resolved"}"#;
    assert_eq!(sample(&client, &base, resolved).await, 1.0);
    let lifecycle = get(&client, format!("{base}/api/incidents/{id}/lifecycle")).await;
    assert!(lifecycle.to_string().contains("anomaly"), "resolved by the anomaly source: {lifecycle}");
    assert!(fake.lock().expect("lock").requests > 10);
    let log = std::fs::read_to_string(dir.path().join("data.log")).unwrap_or_default();
    assert!(log.contains("poll failed"), "the outage is logged");
    assert!(!log.contains("poll-secret"), "the bearer token is never logged");
}

/// A small service for Prometheus to scrape: `demo_requests_total{code}` grows by
/// 100 a second, of which the error share the test sets.
async fn scraped_service(errors_per_100: Arc<Mutex<u64>>) -> String {
    let started = std::time::Instant::now();
    let errors = errors_per_100.clone();
    let totals = Arc::new(Mutex::new((0u64, 0u64, 0u64)));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (errors, totals) = (errors.clone(), totals.clone());
            async move {
                // Counters advanced to now: 100 requests a second, `errors` of them 500s.
                let mut t = totals.lock().expect("lock");
                let secs = started.elapsed().as_secs();
                let share = *errors.lock().expect("lock");
                while t.2 < secs {
                    t.2 += 1;
                    t.0 += 100 - share;
                    t.1 += share;
                }
                format!(
                    "# TYPE demo_requests_total counter\ndemo_requests_total{{code=\"200\"}} {}\ndemo_requests_total{{code=\"500\"}} {}\n",
                    t.0, t.1
                )
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
async fn the_poller_queries_a_real_prometheus_and_an_error_spike_opens_an_incident() {
    let Some(bin) = require_env("INQUEST_TEST_PROMETHEUS_BIN") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let errors = Arc::new(Mutex::new(1u64));
    let target = scraped_service(errors.clone()).await;
    let prom_config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: checkout\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          service: checkout\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), prom_config).expect("config");
    let port = free_port();
    let prom = format!("http://127.0.0.1:{port}");
    let _prometheus = crate::alerting::spawn(
        &bin,
        &[
            format!("--config.file={}", dir.path().join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let client = reqwest::Client::new();
    wait_until("prometheus target up", Duration::from_secs(60), || async {
        let Ok(r) = client.get(format!("{prom}/api/v1/targets")).send().await else { return false };
        let Ok(v) = r.json::<Value>().await else { return false };
        v["data"]["activeTargets"].as_array().is_some_and(|t| t.iter().any(|t| t["health"] == "up"))
    })
    .await;
    // The error ratio over 5 s windows; the catalogue knows an error ratio is bad when it rises.
    let queries = "[[telemetry.poll.queries]]\nname = \"http_error_ratio\"\n\
                   promql = 'sum(rate(demo_requests_total{service=\"{{service}}\",code=~\"5..\"}[5s])) / sum(rate(demo_requests_total{service=\"{{service}}\"}[5s]))'\n";
    let config = poll_config(dir.path(), &prom, queries);
    let inquest =
        Server::start(&dir.path().join("data"), &[("INQUEST_CONFIG", &config), ("INQUEST_INTAKE_WORKERS", "0")]).await;
    let base = inquest.url.clone();
    let points = r#"inquest_poll_points_written_total{service="checkout"}"#;
    wait_until("a baseline of real points", Duration::from_secs(60), || async {
        sample(&client, &base, points).await >= 15.0
    })
    .await;
    assert!(checkout_incidents(&client, &base).await.is_empty(), "a steady error ratio raises nothing");
    *errors.lock().expect("lock") = 40;
    wait_until("the error spike opens an incident", Duration::from_secs(60), || async {
        !checkout_incidents(&client, &base).await.is_empty()
    })
    .await;
    let incident = &checkout_incidents(&client, &base).await[0];
    assert_eq!(incident["status"], "open", "{incident}");
    let raised = r#"inquest_poll_anomalies_total{service="checkout",transition="raised"}"#;
    assert_eq!(sample(&client, &base, raised).await, 1.0);
    assert_eq!(sample(&client, &base, r#"inquest_polls_total{outcome="refused",service="checkout"}"#).await, 0.0);
}
