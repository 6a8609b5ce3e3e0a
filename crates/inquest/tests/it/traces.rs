//! Real OpenTelemetry SDK spans into a running `inquest serve`: the Python SDK with its
//! OTLP/HTTP exporter (a venv from `scripts/ci.d/55-otel.sh`, path in
//! `INQUEST_TEST_OTEL_PYTHON`) sends spans of `frontend` calling `cart` and `cart`
//! querying PostgreSQL, with an integration's bearer secret; the derived edges show in
//! the blast radius of `cart` with their calls, and, once the server is stopped, the
//! edge series are in the embedded metrics store.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use inquest_ports::MetricStore;
use serde_json::{Value, json};

use crate::support::{Server, require_env, token, wait_until};

const FRONTEND: &str = "default/default/frontend";
const CART: &str = "default/default/cart";
const DB: &str = "default/default/postgresql:carts";

#[tokio::test]
async fn otel_sdk_spans_become_edges_in_the_blast_radius_and_edge_series() {
    let Some(python) = require_env("INQUEST_TEST_OTEL_PYTHON") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let admin = token(&data, "default", "admin");
    // One-second buckets and waits, so the test does not wait a minute for a bucket to close.
    let inquest = Server::start(
        &data,
        &[
            ("INQUEST_INTAKE_WORKERS", "0"),
            ("INQUEST_AUTH_REQUIRED", "true"),
            ("INQUEST_TELEMETRY_TRACES_BUCKET_SECONDS", "1"),
            ("INQUEST_TELEMETRY_TRACES_WAIT_SECONDS", "1"),
            ("INQUEST_TELEMETRY_TRACES_FLUSH_SECONDS", "1"),
        ],
    )
    .await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {admin}").parse().expect("header"));
    let client = reqwest::Client::builder().default_headers(headers).build().expect("client");
    let created: Value = client
        .post(format!("{}/api/integrations", inquest.url))
        .json(&json!({"kind": "opentelemetry", "name": "shop-sdk", "webhook_auth": "bearer"}))
        .send()
        .await
        .expect("create the integration")
        .json()
        .await
        .expect("json");
    let secret = created["secret"].as_str().expect("the integration's secret").to_string();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/otel_spans.py");
    let sent = Command::new(&python)
        .arg(&script)
        .arg(format!("{}/v1/traces", inquest.url))
        .arg(&secret)
        .output()
        .expect("run the OpenTelemetry SDK script");
    assert!(
        sent.status.success() && String::from_utf8_lossy(&sent.stdout).contains("sent"),
        "the SDK script failed:\n{}\n{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert!(!stderr.contains("Failed to export"), "the exporter reported a failure:\n{stderr}");

    let radius_url = format!("{}/api/topology?service=cart&depth=1", inquest.url);
    let call = |v: &Value, from: &str, to: &str| {
        v["calls"].as_array().and_then(|calls| {
            calls
                .iter()
                .find(|c| c["edge"]["from"] == from && c["edge"]["to"] == to)
                .map(|c| (c["calls"].as_u64().unwrap_or(0), c["errors"].as_u64().unwrap_or(0)))
        })
    };
    wait_until("the derived edges in the blast radius of cart", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), radius_url.clone());
        async move {
            let Ok(r) = client.get(&url).send().await else { return false };
            let Ok(v) = r.json::<Value>().await else { return false };
            call(&v, FRONTEND, CART) == Some((5, 1)) && call(&v, CART, DB) == Some((5, 0))
        }
    })
    .await;
    let radius: Value = client.get(&radius_url).send().await.expect("radius").json().await.expect("json");
    let node = |key: &str| radius["nodes"].as_array().and_then(|n| n.iter().find(|n| n["key"] == key)).cloned();
    let frontend = node(FRONTEND).expect("frontend in the blast radius of cart");
    assert_eq!(frontend["direction"], "upstream", "{radius}");
    let db = node(DB).expect("the database in the blast radius of cart");
    assert_eq!((db["direction"].as_str(), db["kind"].as_str()), (Some("downstream"), Some("database")), "{radius}");

    let metrics =
        client.get(format!("{}/metrics", inquest.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.lines().any(|l| l == "inquest_trace_spans_received_total 15"), "{metrics}");

    // The series of a bucket are written once it closed: a bucket and a wait after the
    // last span, at the next flush. Two edges, four series each, at least one bucket.
    let metrics_url = format!("{}/metrics", inquest.url);
    wait_until("the edge series written", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), metrics_url.clone());
        async move {
            let Ok(r) = client.get(&url).send().await else { return false };
            let Ok(text) = r.text().await else { return false };
            text.lines()
                .find_map(|l| l.strip_prefix("inquest_trace_points_written_total "))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 8)
        }
    })
    .await;
    // Every span ended before the script returned: three seconds on, every bucket is closed and flushed.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The embedded store is the server's while it runs: read the series after it stopped.
    inquest.stop();
    let store = inquest_store_embedded::EmbeddedStore::open(&data.join("inquest.redb")).expect("the embedded store");
    let now = Utc::now();
    let window = store.window(CART, now - chrono::Duration::minutes(5), now).await.expect("window");
    let rate = window
        .series
        .iter()
        .find(|s| s.metric_name == r#"service_graph_request_rate{client="default/default/frontend"}"#)
        .unwrap_or_else(|| panic!("no request rate series of cart: {window:?}"));
    // One-second buckets: the rates add up to the calls.
    let calls: f64 = rate.points.iter().map(|p| p.1).sum();
    assert!((calls - 5.0).abs() < 1e-9, "{rate:?}");
    let errors = window
        .series
        .iter()
        .find(|s| s.metric_name == r#"service_graph_error_ratio{client="default/default/frontend"}"#)
        .expect("error ratio series");
    assert!(errors.points.iter().any(|p| p.1 > 0.0), "the failed call: {errors:?}");
    let db_window = store.window(DB, now - chrono::Duration::minutes(5), now).await.expect("window");
    assert!(
        db_window.series.iter().any(|s| s.metric_name.starts_with("service_graph_latency_p99_seconds")),
        "{db_window:?}"
    );
}
