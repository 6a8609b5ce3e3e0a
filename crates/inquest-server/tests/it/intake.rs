//! The intake routes (alerts, Alertmanager webhook, lifecycle, jobs, `/metrics`)
//! through the whole app with `oneshot`, on an embedded intake.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use inquest_domain::{Decision, IncidentId, IncidentStatus};
use inquest_intake::Policy;
use inquest_intake_service::{CoreInvestigator, Step, WorkerConfig, run_once};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{in_memory, intake_app};

async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

fn incident_of(v: &Value, i: usize) -> IncidentId {
    v["results"][i]["incident_id"].as_str().expect("incident id").parse().expect("uuid")
}

#[tokio::test]
async fn malformed_alerts_get_400_naming_the_field() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let (s, v, _) =
        send(&app, "POST", "/api/alerts", Some(json!({"service": "checkout", "severity": "urgent", "message": "m"})))
            .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["field"], "severity");
    let (s, v, _) = send(
        &app,
        "POST",
        "/api/alerts",
        Some(json!([{"service": "a", "severity": "low", "message": "m"}, {"severity": "low", "message": "m"}])),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["field"], "[1].service");
    let req = Request::builder().method("POST").uri("/api/alerts").body(Body::from("{not json")).expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Nothing invalid was stored, even the valid first half of a batch.
    assert_eq!(ingest.store.alert_count().await.expect("count"), 0);
    let (_, _, text) = send(&app, "GET", "/metrics", None).await;
    assert!(text.contains("inquest_alerts_rejected_total{reason=\"severity\",source=\"generic\"} 1"), "{text}");
    assert!(text.contains("inquest_alerts_rejected_total{reason=\"service\",source=\"generic\"} 1"), "{text}");
    assert!(text.contains("inquest_alerts_rejected_total{reason=\"body\",source=\"generic\"} 1"), "{text}");
}

#[tokio::test]
async fn alerts_no_store_can_hold_get_400_naming_the_field() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let long = "x".repeat(3000);
    let cases = [
        (json!({"service": "s", "severity": "high", "message": "a\u{0}b"}), "message"),
        (json!({"service": "s", "severity": "high", "message": "m", "fingerprint": long}), "fingerprint"),
        (json!({"service": long, "severity": "high", "message": "m"}), "service"),
        (json!({"service": "s", "severity": "high", "message": "m", "labels": {"pod": "p\u{0}"}}), "labels.pod"),
        (json!({"service": "s", "severity": "high", "message": "m", "labels": {"p\u{0}d": "p"}}), "labels"),
        (
            json!([{"service": "s", "severity": "high", "message": "m"}, {"service": "s", "severity": "high", "message": "x".repeat(17 * 1024)}]),
            "[1].message",
        ),
    ];
    for (body, field) in cases {
        let (s, v, _) = send(&app, "POST", "/api/alerts", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert_eq!(v["error"]["code"], "invalid_input");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    // The same string in an Alertmanager group skips that alert only.
    let (s, v, _) = send(&app, "POST", "/api/alertmanager", Some(webhook(json!([
        am_alert(json!({"alertname": "A", "service": "s"}), "f1"),
        {"status": "firing", "labels": {"service": "s"}, "annotations": {"summary": "a\u{0}b"}, "startsAt": "2026-03-01T10:00:00Z", "fingerprint": "f2"},
        am_alert(json!({"alertname": "C", "service": "s"}), &"f".repeat(3000)),
    ])))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["stored"], 1);
    let fields: Vec<&str> =
        v["skipped"].as_array().expect("skipped").iter().map(|s| s["field"].as_str().expect("field")).collect();
    assert_eq!(fields, vec!["alerts[1].annotations.summary", "alerts[2].fingerprint"]);
    assert_eq!(ingest.store.alert_count().await.expect("count"), 1);
}

fn webhook(alerts: Value) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "inquest", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager", "alerts": alerts
    })
}

fn am_alert(labels: Value, fingerprint: &str) -> Value {
    json!({"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-03-01T10:00:00Z",
           "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint})
}

#[tokio::test]
async fn alertmanager_group_stores_its_valid_alerts_and_reports_the_skipped() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let (s, v, _) = send(&app, "POST", "/api/alertmanager", Some(webhook(json!([
        // The always-firing Watchdog has neither a service nor a job label.
        am_alert(json!({"alertname": "Watchdog", "severity": "none"}), "0001"),
        am_alert(json!({"alertname": "HighErrorRate", "service": "payments", "severity": "critical"}), "0002"),
        am_alert(json!({"alertname": "DiskFull", "service": "", "job": "cart", "severity": "critical"}), "0003"),
        // No fingerprint: computed from the labels.
        {"status": "firing", "labels": {"alertname": "Latency", "service": "payments", "severity": "critical"}, "startsAt": "2026-03-01T10:00:00Z"},
    ])))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["stored"], 3);
    let indices: Vec<u64> =
        v["results"].as_array().expect("results").iter().map(|r| r["index"].as_u64().expect("index")).collect();
    assert_eq!(indices, vec![1, 2, 3]);
    assert_eq!(v["skipped"][0]["index"], 0);
    assert_eq!(v["skipped"][0]["field"], "alerts[0].labels.service");
    assert!(v["skipped"][0]["message"].is_string());
    assert_eq!(v["skipped"].as_array().expect("skipped").len(), 1);
    assert_eq!(ingest.store.alert_count().await.expect("count"), 3);
    let cart = incident_of(&v, 1);
    let cart = ingest.store.alerts_of(cart).await.expect("alerts");
    assert_eq!(cart[0].alert.service, "cart", "an empty service label falls back to job");
    let computed = &v["results"][2]["fingerprint"];
    assert!(computed.as_str().expect("fingerprint").starts_with("am:"), "{v}");

    // Sent again, the alert without a fingerprint is the same alert.
    let (_, again, _) = send(&app, "POST", "/api/alertmanager", Some(webhook(json!([
        {"status": "firing", "labels": {"alertname": "Latency", "service": "payments", "severity": "critical"}, "startsAt": "2026-03-01T10:00:00Z"},
    ])))).await;
    assert_eq!(again["results"][0]["outcome"], "deduplicated", "{again}");
    assert_eq!(&again["results"][0]["fingerprint"], computed);

    // A group of which nothing can be taken is accepted too: Alertmanager does not retry a 4xx.
    let (s, v, _) = send(
        &app,
        "POST",
        "/api/alertmanager",
        Some(webhook(json!([am_alert(json!({"alertname": "Watchdog"}), "0001")]))),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["stored"], 0);
    assert_eq!(v["results"], json!([]));
    assert_eq!(v["skipped"][0]["field"], "alerts[0].labels.service");
    assert_eq!(ingest.store.alert_count().await.expect("count"), 3);

    let (_, _, text) = send(&app, "GET", "/metrics", None).await;
    assert!(text.contains("inquest_alerts_rejected_total{reason=\"service\",source=\"alertmanager\"} 2"), "{text}");
}

#[tokio::test]
async fn alertmanager_payload_that_is_no_webhook_gets_400_naming_the_field() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let mut wrong_version = webhook(json!([]));
    wrong_version["version"] = json!("3");
    let mut bad_status = webhook(json!([]));
    bad_status["status"] = json!("sleeping");
    for (body, field) in [(wrong_version, "version"), (bad_status, "status"), (webhook(json!({"a": 1})), "alerts")] {
        let (s, v, _) = send(&app, "POST", "/api/alertmanager", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let req =
        Request::builder().method("POST").uri("/api/alertmanager").body(Body::from("{not json")).expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // An empty group is a group.
    let (s, v, _) = send(&app, "POST", "/api/alertmanager", Some(webhook(json!([])))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["stored"], 0);
    assert_eq!(ingest.store.alert_count().await.expect("count"), 0);
    let (_, _, text) = send(&app, "GET", "/metrics", None).await;
    assert!(text.contains("inquest_alerts_rejected_total{reason=\"version\",source=\"alertmanager\"} 1"), "{text}");
    assert!(text.contains("inquest_alerts_rejected_total{reason=\"body\",source=\"alertmanager\"} 1"), "{text}");
}

#[tokio::test]
async fn alerts_open_attach_and_deduplicate_and_reach_the_records_store() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let (s, first, _) = send(
        &app,
        "POST",
        "/api/alerts",
        Some(json!({"service": "checkout", "severity": "critical", "message": "5xx > 10%"})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["results"][0]["outcome"], "opened");
    let incident = incident_of(&first, 0);
    let (_, batch, _) = send(
        &app,
        "POST",
        "/api/alerts",
        Some(json!([
            {"service": "checkout", "severity": "critical", "message": "5xx > 10%"},
            {"service": "checkout", "severity": "high", "message": "p99 latency", "labels": {"pod": "checkout-1"}},
            {"service": "cart", "severity": "low", "message": "disk 80%"}
        ])),
    )
    .await;
    let outcomes: Vec<&str> =
        batch["results"].as_array().expect("results").iter().map(|r| r["outcome"].as_str().expect("o")).collect();
    assert_eq!(outcomes, vec!["deduplicated", "attached", "suppressed"]);
    assert_eq!(incident_of(&batch, 0), incident);
    assert_eq!(incident_of(&batch, 1), incident);
    assert!(batch["results"][0]["job_id"].is_null(), "a repeat is the same alert, it does not approve: {batch}");
    assert!(batch["results"][1]["job_id"].is_string(), "the second alert approves: {batch}");

    let (s, inc, _) = send(&app, "GET", &format!("/api/incidents/{incident}/lifecycle"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(inc["alert_count"], 2);
    assert_eq!(inc["alerts"].as_array().expect("alerts").len(), 2);
    assert_eq!(inc["alerts"][0]["occurrences"], 2);
    assert_eq!(ingest.store.alert_count().await.expect("count"), 3);

    // The incidents and every decision are rows of the records store.
    let row = stores.records.get_incident(incident).await.expect("read").expect("incident row");
    assert_eq!(row.status, IncidentStatus::Open);
    assert_eq!(row.severity, 1);
    let decisions = stores.records.list_decisions(incident).await.expect("decisions");
    let kinds: Vec<Decision> = decisions.iter().map(|d| d.decision).collect();
    assert!(
        kinds.contains(&Decision::Opened) && kinds.contains(&Decision::Approved) && kinds.contains(&Decision::Attached),
        "{kinds:?}"
    );
    assert!(decisions.iter().all(|d| d.policy_version == ingest.policy.version));
    let cart = incident_of(&batch, 2);
    let cart_row = stores.records.get_incident(cart).await.expect("read").expect("cart row");
    assert_eq!(cart_row.status, IncidentStatus::Suppressed);
    assert_eq!(stores.records.list_decisions(cart).await.expect("d")[0].decision, Decision::Suppressed);

    // The approved incident's job runs the real investigation and saves a report.
    let step = run_once(
        &ingest,
        &CoreInvestigator {
            stores: stores.clone(),
            writer: std::sync::Arc::new(inquest_report::TemplateReport),
            config: Default::default(),
        },
        &WorkerConfig::new("w1"),
    )
    .await
    .expect("run");
    assert!(matches!(step, Step::Succeeded(_)), "{step:?}");
    assert_eq!(stores.records.reports(incident).await.expect("reports").len(), 1);
    let (_, jobs, _) = send(&app, "GET", "/api/jobs", None).await;
    assert_eq!(jobs[0]["state"], "succeeded");
    assert_eq!(jobs[0]["attempts"], 1);
}

#[tokio::test]
async fn lifecycle_endpoints_refuse_invalid_transitions_and_time_them() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let (_, v, _) =
        send(&app, "POST", "/api/alerts", Some(json!({"service": "search", "severity": "high", "message": "m"}))).await;
    let id = incident_of(&v, 0);
    let t = format!("/api/incidents/{id}/transition");
    let (s, v, _) = send(&app, "POST", &t, Some(json!({"action": "acknowledge", "actor": "oncall"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "triaged");
    assert!(v["time_to_acknowledge_seconds"].as_f64().expect("mtta") >= 0.0);
    let (s, v, _) = send(&app, "POST", &t, Some(json!({"action": "triage"}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["message"], "cannot triage an incident that is triaged");
    let (s, v, _) = send(&app, "POST", &t, Some(json!({"action": "explode"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["field"], "action");
    let (s, v, _) = send(
        &app,
        "POST",
        &format!("/api/incidents/{id}/notes"),
        Some(json!({"author": "oncall", "text": "rolling back"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["notes"][0]["text"], "rolling back");
    let (s, v, _) = send(&app, "POST", &t, Some(json!({"action": "resolve", "reason": "rolled back"}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "resolved");
    assert!(
        v["time_to_resolve_seconds"].as_f64().expect("mttr")
            >= v["time_to_acknowledge_seconds"].as_f64().expect("mtta")
    );
    let row = stores.records.get_incident(id).await.expect("read").expect("row");
    assert_eq!(row.status, IncidentStatus::Resolved);
    assert_eq!(row.resolution_summary.as_deref(), Some("rolled back"));
    let (s, _, _) = send(
        &app,
        "POST",
        &format!("/api/incidents/{}/transition", IncidentId::new_random()),
        Some(json!({"action": "resolve"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A new alert for the service after resolution opens a new incident.
    let (_, v, _) =
        send(&app, "POST", "/api/alerts", Some(json!({"service": "search", "severity": "high", "message": "m"}))).await;
    assert_eq!(v["results"][0]["outcome"], "opened");
    assert_ne!(incident_of(&v, 0), id);

    let (s, _, text) = send(&app, "GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("inquest_incident_mtta_seconds_count 1"), "{text}");
    assert!(text.contains("inquest_incident_mttr_seconds_count 1"), "{text}");
    assert!(text.contains("inquest_incidents{status=\"resolved\"} 1"), "{text}");
    assert!(text.contains("inquest_incidents{status=\"open\"} 1"), "{text}");
}

#[tokio::test]
async fn alertmanager_webhook_resolves_its_incident_and_metrics_count_it() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let payload = |status: &str, ends: &str| {
        json!({
            "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0, "status": status,
            "receiver": "inquest", "groupLabels": {"alertname": "HighErrorRate"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager", "alerts": [{
                "status": status, "labels": {"alertname": "HighErrorRate", "service": "payments", "severity": "critical"},
                "annotations": {"summary": "error rate 12%"}, "startsAt": "2026-03-01T10:00:00Z", "endsAt": ends,
                "generatorURL": "http://prometheus/graph", "fingerprint": "f00dfeed"
            }]
        })
    };
    let (s, v, _) = send(&app, "POST", "/api/alertmanager", Some(payload("firing", "0001-01-01T00:00:00Z"))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = incident_of(&v, 0);
    let (_, v, _) = send(&app, "POST", "/api/alertmanager", Some(payload("firing", "0001-01-01T00:00:00Z"))).await;
    assert_eq!(v["results"][0]["outcome"], "deduplicated");
    let (_, v, _) = send(&app, "POST", "/api/alertmanager", Some(payload("resolved", "2026-03-01T10:05:00Z"))).await;
    assert_eq!(v["results"][0]["outcome"], "resolved");
    let inc = ingest.store.get_incident(id).await.expect("read").expect("incident");
    assert_eq!(inc.status, IncidentStatus::Resolved);
    assert_eq!(inc.resolution_kind.as_deref(), Some("alerts_resolved"));
    let (_, _, text) = send(&app, "GET", "/metrics", None).await;
    assert!(text.contains("inquest_alerts_received_total{severity=\"critical\",source=\"alertmanager\"} 3"), "{text}");
    assert!(text.contains("inquest_alert_correlations_total{outcome=\"resolved\"} 1"), "{text}");
    assert!(text.contains("inquest_incident_mttr_seconds_count 1"), "{text}");
    for name in [
        "inquest_investigation_duration_seconds",
        "inquest_job_retries_total",
        "inquest_job_failures_total",
        "inquest_store_errors_total",
    ] {
        assert!(text.contains(&format!("# TYPE {name}")), "{name} missing from {text}");
    }
}
