//! SLOs and invariants in a running `inquest serve`: stored metrics that burn an SLO's
//! budget make the evaluator (`[ops] evaluate_seconds`) raise a signal that opens an
//! incident through the intake, a failing invariant does the same, and both survive a
//! restart in `ops.redb`, or in Postgres (`INQUEST_TEST_POSTGRES_URL`).

use std::time::Duration;

use chrono::Utc;
use inquest_domain::MetricPoint;
use inquest_store_embedded::EmbeddedStore;
use serde_json::{Value, json};

use crate::support::{Server, get, migrated_postgres, require_env, wait_until};

fn point(service: &str, metric: &str, minutes_ago: i64, value: f64) -> MetricPoint {
    MetricPoint {
        ts: Utc::now() - chrono::Duration::minutes(minutes_ago),
        service_key: format!("default/default/{service}"),
        metric_name: metric.into(),
        value,
        labels: Default::default(),
    }
}

/// Two hours of checkout traffic, 40% failing in the last 15 minutes, and a queue
/// depth far above its limit, written before the server opens the file.
async fn seed(data: &std::path::Path) {
    let store = EmbeddedStore::open(&data.join("inquest.redb")).expect("embedded store");
    let mut points = Vec::new();
    for m in 0..120 {
        points.push(point("checkout", "requests", m, 50.0));
        points.push(point("checkout", "requests_ok", m, if m < 15 { 30.0 } else { 50.0 }));
    }
    points.extend((0..5).map(|m| point("worker", "queue_depth", m, 5000.0)));
    store.stores().metrics.insert_points(&points).await.expect("points");
}

/// Chromium for the page check: `INQUEST_E2E_CHROMIUM` (set with the browser tests'
/// other variables by `scripts/ci.d/40-browser.sh`); skipped without it.
fn chromium() -> Option<String> {
    let found = std::env::var("INQUEST_E2E_CHROMIUM").ok().filter(|c| !c.is_empty());
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "INQUEST_E2E_CHROMIUM unset under CI=true");
        eprintln!("skipping the SLO page check in a browser: INQUEST_E2E_CHROMIUM is unset");
    }
    found
}

async fn incidents_from(client: &reqwest::Client, url: &str, source: &str) -> Vec<Value> {
    let list = get(client, format!("{url}/api/lifecycle")).await;
    let mut out = Vec::new();
    for inc in list.as_array().cloned().unwrap_or_default() {
        let id = inc["incident_id"].as_str().unwrap_or_default().to_string();
        let lc = get(client, format!("{url}/api/incidents/{id}/lifecycle")).await;
        if lc["alerts"].as_array().is_some_and(|a| a.iter().any(|a| a["alert"]["source"] == source)) {
            out.push(lc);
        }
    }
    out
}

#[tokio::test]
async fn a_burning_slo_and_a_failing_invariant_open_incidents_through_the_intake() {
    let dir = tempfile::tempdir().expect("tempdir");
    burning_slo(&dir.path().join("data"), &[], "embedded").await;
}

#[tokio::test]
async fn slos_and_invariants_on_postgres_open_incidents_and_survive_a_restart() {
    let Some(admin) = require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = migrated_postgres(&admin, dir.path()).await;
    burning_slo(&dir.path().join("data"), &[("INQUEST_POSTGRES_URL", db.url.as_str())], "postgres").await;
}

/// The whole story on a server whose SLO store is `backend` (metrics embedded).
async fn burning_slo(data: &std::path::Path, extra: &[(&str, &str)], backend: &str) {
    let data = data.to_path_buf();
    seed(&data).await;
    let mut env = vec![("INQUEST_OPS_EVALUATE_SECONDS", "1"), ("INQUEST_INTAKE_WORKERS", "0")];
    env.extend_from_slice(extra);
    let server = Server::start(&data, &env).await;
    let client = reqwest::Client::new();
    let url = server.url.clone();

    let slo = json!({
        "name": "checkout availability", "target": 0.99, "window_days": 1,
        "metric_query": {"kind": "ratio", "service": "checkout", "good": "requests_ok", "total": "requests"},
    });
    let res = client.post(format!("{url}/api/slos")).json(&slo).send().await.expect("post");
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
    let slo_id = res.json::<Value>().await.expect("json")["slo_id"].as_str().expect("id").to_string();
    let bad = json!({"name": "x", "target": 2, "window_days": 1,
        "metric_query": {"kind": "ratio", "service": "checkout", "good": "requests_ok", "total": "requests"}});
    let refused: Value =
        client.post(format!("{url}/api/slos")).json(&bad).send().await.expect("post").json().await.expect("json");
    assert_eq!(refused["error"]["field"], "target", "{refused}");

    let inv = json!({"name": "queue drains",
        "query": {"service": "worker", "metric": "queue_depth", "aggregation": "max", "window_minutes": 10},
        "condition": {"op": "<", "value": 1000}, "severity": "medium"});
    let res = client.post(format!("{url}/api/invariants")).json(&inv).send().await.expect("post");
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());

    // At 99%: 1 h holds 300 bad of 3000 events, burn 10 (below 14.4); the 6 h window
    // holds all 6000, burn 5 (below 6). Nothing fires. (A point may age out of the hour
    // while the test runs, hence the tolerance.)
    wait_until("the SLO's first evaluation", Duration::from_secs(30), || {
        let (client, url, slo_id) = (client.clone(), url.clone(), slo_id.clone());
        async move { !get(&client, format!("{url}/api/slos/{slo_id}")).await["last"].is_null() }
    })
    .await;
    let got = get(&client, format!("{url}/api/slos/{slo_id}")).await;
    let long = got["last"]["conditions"][0]["long_burn"].as_f64().expect("long burn");
    assert!((long - 10.0).abs() < 0.3, "1 h burn {long}: {got}");
    assert_eq!(got["last"]["state"], "ok", "10x over an hour is below 14.4x: {got}");
    assert!(incidents_from(&client, &url, "slo").await.is_empty(), "no signal yet");

    // Tighten the SLO: at 99.5% the same hour burns 20x and the last 5 minutes 80x, both
    // above 14.4x; 6 h and 30 min burn 10x and 40x, above 6x.
    let mut tighter = slo.clone();
    tighter["target"] = json!(0.995);
    let res = client.put(format!("{url}/api/slos/{slo_id}")).json(&tighter).send().await.expect("put");
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    wait_until("an incident opened by the SLO", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move { !incidents_from(&client, &url, "slo").await.is_empty() }
    })
    .await;
    let opened = incidents_from(&client, &url, "slo").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["status"], "open", "{:?}", opened[0]);
    let alert = &opened[0]["alerts"][0]["alert"];
    assert_eq!(
        (alert["severity"].as_str(), alert["labels"]["slo_id"].as_str()),
        (Some("critical"), Some(slo_id.as_str()))
    );
    let got = get(&client, format!("{url}/api/slos/{slo_id}")).await;
    assert_eq!(
        (got["last"]["state"].as_str(), got["last"]["signalled"].as_bool()),
        (Some("burning"), Some(true)),
        "{got}"
    );

    wait_until("an incident opened by the invariant", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move { !incidents_from(&client, &url, "invariant").await.is_empty() }
    })
    .await;

    // The dashboard's page and the burn chart's data.
    let page = client.get(format!("{url}/slos")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let burn = get(&client, format!("{url}/api/slos/{slo_id}/burn?hours=1")).await;
    assert_eq!(burn["history"].as_array().map(Vec::len), Some(49), "{burn}");

    // In a browser, the page shows the SLO's budget, its burn chart and the invariant.
    if let Some(chromium) = chromium() {
        let dom = std::process::Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000", "--dump-dom"])
            .arg(format!("{url}/slos"))
            .output()
            .expect("chromium runs");
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.contains(&format!(r#"data-slo="{slo_id}""#)), "{dom}");
        assert!(dom.contains("class=\"badge burning\""), "the SLO is shown burning: {dom}");
        assert!(dom.contains("class=\"burn-chart\""), "the burn chart is drawn: {dom}");
        assert!(dom.contains("queue drains") && dom.contains("class=\"badge fail\""), "{dom}");
    }

    // Every call of the SLO store is counted like any other port's.
    let metrics = client.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
    let store = format!(r#"store="ops/{backend}""#);
    assert!(metrics.contains(r#"operation="record_slo""#) && metrics.contains(&store), "{metrics}");

    // Definitions and their last results are kept across a restart.
    server.stop();
    assert_eq!(data.join("ops.redb").is_file(), backend == "embedded", "ops.redb only without Postgres");
    let mut env = vec![("INQUEST_OPS_EVALUATE_SECONDS", "0"), ("INQUEST_INTAKE_WORKERS", "0")];
    env.extend_from_slice(extra);
    let server = Server::start(&data, &env).await;
    let list = get(&client, format!("{}/api/slos", server.url)).await;
    assert_eq!(list[0]["last"]["state"], "burning", "{list}");
    let invariants = get(&client, format!("{}/api/invariants", server.url)).await;
    assert_eq!(invariants[0]["last"]["state"], "fail", "{invariants}");
}
