//! SLOs and invariants through the whole app: definitions refused naming the field,
//! CRUD with soft delete, the burn view computed from stored points, and a burning
//! SLO or a failing invariant opening an incident through the intake and resolving it
//! on recovery.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use inquest_domain::{MetricPoint, ProjectId, Timestamp};
use inquest_intake::Policy;
use inquest_ops::OpsStore;
use inquest_ports::Stores;
use inquest_report::TemplateReport;
use inquest_server::ops::Evaluator;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedOpsStore};
use serde_json::{Value, json};

use crate::{call, error_message, in_memory};

struct OpsApp {
    router: Router,
    stores: Stores,
    evaluator: Evaluator,
}

fn app() -> OpsApp {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let access =
        Access::open(Arc::new(EmbeddedAccessStore::in_memory().expect("access store")), &prometheus::Registry::new())
            .expect("access metrics");
    let ops: Arc<dyn OpsStore> = Arc::new(EmbeddedOpsStore::in_memory().expect("ops store"));
    let mut state = AppState::new(stores.clone(), Arc::new(TemplateReport), ingest.clone(), Arc::new(access));
    state.ops = ops.clone();
    let evaluator = Evaluator { ops, metrics: stores.metrics.clone(), ingest };
    OpsApp { router: inquest_server::app(state), stores, evaluator }
}

fn point(service: &str, metric: &str, ts: Timestamp, value: f64) -> MetricPoint {
    MetricPoint {
        ts,
        service_key: format!("default/default/{service}"),
        metric_name: metric.into(),
        value,
        labels: Default::default(),
    }
}

/// One `requests` and one `requests_ok` point a minute for the `minutes` before `now`;
/// in the last `bad_minutes` a share `bad` of the requests fail.
async fn traffic(stores: &Stores, now: Timestamp, minutes: i64, bad_minutes: i64, bad: f64) {
    let mut points = Vec::new();
    for m in 0..minutes {
        let ts = now - Duration::minutes(m);
        points.push(point("checkout", "requests", ts, 100.0));
        let ok = if m < bad_minutes { 100.0 * (1.0 - bad) } else { 100.0 };
        points.push(point("checkout", "requests_ok", ts, ok));
    }
    stores.metrics.insert_points(&points).await.expect("points");
}

fn slo_body() -> Value {
    json!({
        "name": "checkout availability",
        "target": 0.99,
        "window_days": 1,
        "metric_query": {"kind": "ratio", "service": "checkout", "good": "requests_ok", "total": "requests"},
    })
}

#[tokio::test]
async fn definitions_that_cannot_be_evaluated_are_refused_naming_the_field() {
    let a = app();
    traffic(&a.stores, Utc::now(), 30, 0, 0.0).await;
    let with = |k: &str, v: Value| {
        let mut b = slo_body();
        b[k] = v;
        b
    };
    let unknown =
        with("metric_query", json!({"kind": "ratio", "service": "checkout", "good": "requests_ok", "total": "nope"}));
    for (body, field) in [
        (unknown, "metric_query.total"),
        (with("target", json!(1.5)), "target"),
        (with("target", json!(0)), "target"),
        (with("window_days", json!(0)), "window_days"),
        (with("metric_query", json!({"kind": "ratio", "service": "checkout", "good": "requests_ok"})), "metric_query"),
        (
            with(
                "burn_rate_thresholds",
                json!([{"long_window_minutes": 5, "short_window_minutes": 60, "factor": 2, "severity": "high"}]),
            ),
            "burn_rate_thresholds[0].long_window_minutes",
        ),
        (with("colour", json!("red")), "colour"),
    ] {
        let (status, v) = call(&a.router, "POST", "/api/slos", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {v}");
        let message = error_message(&v, status);
        assert!(v["error"]["field"].as_str().is_some_and(|f| f.starts_with(field)), "{field}: {v}");
        assert!(message.contains(field), "{field}: {message}");
    }
    let inv = json!({"name": "q", "query": {"service": "checkout", "metric": "queue", "aggregation": "max", "window_minutes": 10},
        "condition": {"op": "<", "value": 5}});
    let (status, v) = call(&a.router, "POST", "/api/invariants", Some(inv)).await;
    assert_eq!((status, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("query.metric")), "{v}");
    let (_, list) = call(&a.router, "GET", "/api/slos", None).await;
    assert_eq!(list, json!([]), "nothing refused was stored");
}

#[tokio::test]
async fn slos_are_created_read_replaced_and_soft_deleted() {
    let a = app();
    let now = Utc::now();
    traffic(&a.stores, now, 120, 10, 0.5).await;
    let (status, created) = call(&a.router, "POST", "/api/slos", Some(slo_body())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["slo_id"].as_str().expect("id").to_string();
    // The workbook's defaults that fit a 1-day window: 14.4x (1 h, 5 min) and 6x (6 h, 30 min).
    let factors: Vec<f64> = created["burn_rate_thresholds"]
        .as_array()
        .expect("thresholds")
        .iter()
        .filter_map(|t| t["factor"].as_f64())
        .collect();
    assert_eq!(factors, [14.4, 6.0]);
    assert_eq!(created["enabled"], true);

    let (_, list) = call(&a.router, "GET", "/api/slos", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let mut body = slo_body();
    body["target"] = json!(0.95);
    body["burn_rate_thresholds"] =
        json!([{"long_window_minutes": 60, "short_window_minutes": 5, "factor": 2, "severity": "high"}]);
    let (status, replaced) = call(&a.router, "PUT", &format!("/api/slos/{id}"), Some(body)).await;
    assert_eq!((status, replaced["target"].as_f64()), (StatusCode::OK, Some(0.95)), "{replaced}");

    // Burn from the stored points: the last 10 of 120 minutes half bad, target 95%.
    // 1 h: 500 bad of 6000 = 1/12, burn 1/12 / 0.05 = 1.6667; the day: 500 of 12000.
    let (status, burn) = call(&a.router, "GET", &format!("/api/slos/{id}/burn?hours=2"), None).await;
    assert_eq!(status, StatusCode::OK, "{burn}");
    let long = burn["now"]["conditions"][0]["long_burn"].as_f64().expect("long burn");
    assert!((long - 500.0 / 6000.0 / 0.05).abs() < 1e-6, "{long}");
    let left = burn["now"]["budget_remaining"].as_f64().expect("budget");
    assert!((left - (1.0 - 500.0 / 12000.0 / 0.05)).abs() < 1e-6, "{left}");
    assert_eq!(burn["history"].as_array().map(Vec::len), Some(49));
    let (status, _) = call(&a.router, "GET", &format!("/api/slos/{id}/burn?hours=0"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _, _) = crate::raw(&a.router, "DELETE", &format!("/api/slos/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, uri) in [
        ("GET", format!("/api/slos/{id}")),
        ("DELETE", format!("/api/slos/{id}")),
        ("GET", format!("/api/slos/{id}/burn")),
    ] {
        let (status, v) = call(&a.router, method, &uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {v}");
    }
    let (_, list) = call(&a.router, "GET", "/api/slos", None).await;
    assert_eq!(list, json!([]));
    let (status, v) = call(&a.router, "GET", "/api/slos/not-a-uuid", None).await;
    assert_eq!((status, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("slo_id")));
}

async fn lifecycles(router: &Router) -> Vec<Value> {
    call(router, "GET", "/api/lifecycle", None).await.1.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_burning_slo_opens_an_incident_and_resolves_it_when_the_burn_stops() {
    let a = app();
    let now = Utc::now();
    // 30% of the requests of the last 20 minutes fail: 1 h burn 10 (200*30 / 6000 = 0.1
    // over a 1% budget), 5 min burn 30. With 6x over 1 h and 5 min it fires.
    traffic(&a.stores, now, 180, 20, 0.3).await;
    let mut body = slo_body();
    body["burn_rate_thresholds"] =
        json!([{"long_window_minutes": 60, "short_window_minutes": 5, "factor": 6, "severity": "critical"}]);
    let (_, created) = call(&a.router, "POST", "/api/slos", Some(body)).await;
    let id = created["slo_id"].as_str().expect("id").to_string();

    let project = ProjectId::default_project();
    let round = a.evaluator.project(&project, now).await.expect("round");
    assert_eq!((round.slos, round.raised, round.errors), (1, 1, 0), "{round:?}");
    let incidents = lifecycles(&a.router).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["status"], "open", "{:?}", incidents[0]);
    let (_, slo) = call(&a.router, "GET", &format!("/api/slos/{id}"), None).await;
    assert_eq!(slo["last"]["state"], "burning", "{slo}");
    assert_eq!(slo["last"]["signalled"], true);
    let long = slo["last"]["conditions"][0]["long_burn"].as_f64().expect("burn");
    assert!((long - 10.0).abs() < 1e-6, "{long}");

    // Evaluated again while still burning: no second signal, no second incident.
    let again = a.evaluator.project(&project, now + Duration::seconds(30)).await.expect("round");
    assert_eq!(again.raised, 0);
    assert_eq!(lifecycles(&a.router).await.len(), 1);

    // Two hours on, the traffic is clean: the SLO recovers and the incident resolves.
    let later = now + Duration::hours(2);
    let clean: Vec<MetricPoint> = (0..120)
        .flat_map(|m| {
            let ts = later - Duration::minutes(m);
            [point("checkout", "requests", ts, 100.0), point("checkout", "requests_ok", ts, 100.0)]
        })
        .collect();
    a.stores.metrics.insert_points(&clean).await.expect("points");
    let recovered = a.evaluator.project(&project, later).await.expect("round");
    assert_eq!(recovered.resolved, 1, "{recovered:?}");
    let incidents = lifecycles(&a.router).await;
    assert_eq!(incidents[0]["status"], "resolved", "{:?}", incidents[0]);
    let (_, slo) = call(&a.router, "GET", &format!("/api/slos/{id}"), None).await;
    assert_eq!((slo["last"]["state"].as_str(), slo["last"]["signalled"].as_bool()), (Some("ok"), Some(false)));
}

#[tokio::test]
async fn a_failing_invariant_run_on_request_raises_a_signal() {
    let a = app();
    let now = Utc::now();
    let queue: Vec<MetricPoint> =
        (0..10).map(|m| point("worker", "queue_depth", now - Duration::minutes(m), 100.0 * m as f64)).collect();
    a.stores.metrics.insert_points(&queue).await.expect("points");
    let body = json!({"name": "queue drains", "query": {"service": "worker", "metric": "queue_depth", "aggregation": "max", "window_minutes": 15},
        "condition": {"op": "<", "value": 500}, "severity": "high"});
    let (status, created) = call(&a.router, "POST", "/api/invariants", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["invariant_id"].as_str().expect("id").to_string();
    let (status, ran) = call(&a.router, "POST", &format!("/api/invariants/{id}/run"), None).await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    // The largest of 0, 100, ..., 900 is 900, which breaks < 500.
    assert_eq!((ran["last"]["state"].as_str(), ran["last"]["value"].as_f64()), (Some("fail"), Some(900.0)), "{ran}");
    assert_eq!(ran["last"]["signalled"], true);
    let incidents = lifecycles(&a.router).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let (_, got) = call(&a.router, "GET", &format!("/api/invariants/{id}"), None).await;
    assert_eq!(got["last"], ran["last"], "the run's result is stored");

    // Deleting it withdraws the signal: the incident resolves.
    let (status, _, _) = crate::raw(&a.router, "DELETE", &format!("/api/invariants/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(lifecycles(&a.router).await[0]["status"], "resolved");
    let (_, list) = call(&a.router, "GET", "/api/invariants", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn without_a_store_the_routes_answer_503() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let router = crate::intake_app(&ingest, &stores);
    let (status, v) = call(&router, "GET", "/api/slos", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}
