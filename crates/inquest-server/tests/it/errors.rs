//! One error shape and one status per failure, on every route: malformed and
//! wrong-typed bodies, and a store that is down (each failed call counted once in
//! `/metrics`, the dashboard's included).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use inquest_domain::{
    Commit, ConfigChangeEvent, DeploymentCommitRange, DeploymentEvent, DeploymentId, EvidenceArtifact, FeedbackEvent,
    Hypothesis, Incident, IncidentDecision, IncidentId, IncidentReport, ProjectId, Service, ServiceId, Timestamp,
};
use inquest_intake::lifecycle::Note;
use inquest_intake::store::Pending;
use inquest_intake::{
    Action, Alert, Applied, IncidentState, IngestStore, Job, LifecycleError, Policy, StoredAlert, Taken,
};
use inquest_ports::{
    CommitWithFiles, DeliveryOutcome, ErrorKind, FeedDelivery, InvestigationRecord, RecordBatch, RecordStore,
    StoreError, StoreResult,
};
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::{in_memory, intake_app, intake_on};

/// Every route that takes a body; `{id}` is any incident id (the body is read first).
const POST_ROUTES: [&str; 6] = [
    "/api/alerts",
    "/api/alertmanager",
    "/api/incidents/{id}/feedback",
    "/api/incidents/{id}/investigate",
    "/api/incidents/{id}/transition",
    "/api/incidents/{id}/notes",
];

async fn post_raw(app: &axum::Router, uri: &str, body: &str, ctype: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method("POST").uri(uri);
    if let Some(c) = ctype {
        req = req.header(header::CONTENT_TYPE, c);
    }
    let res = app.clone().oneshot(req.body(Body::from(body.to_string())).expect("request")).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{uri} did not answer JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, v)
}

/// `{"error": {"status": 400, "code": "invalid_input", "message", "field"}}` and nothing else.
fn assert_invalid_input(v: &Value, field: &str, what: &str) {
    let e = v["error"].as_object().unwrap_or_else(|| panic!("{what}: no error object in {v}"));
    let keys: Vec<&str> = e.keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "field", "message", "status"], "{what}: {v}");
    assert_eq!(v.as_object().map(|m| m.len()), Some(1), "{what}: {v}");
    assert_eq!(e["status"], 400, "{what}: {v}");
    assert_eq!(e["code"], "invalid_input", "{what}: {v}");
    assert_eq!(e["field"], field, "{what}: {v}");
    assert!(e["message"].as_str().is_some_and(|m| m.starts_with(&format!("invalid {field}: "))), "{what}: {v}");
}

#[tokio::test]
async fn the_same_malformed_body_gets_the_same_400_on_every_post_route() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let id = IncidentId::new_random();
    for route in POST_ROUTES {
        let uri = route.replace("{id}", &id.to_string());
        for body in ["{not json", "\"a string\"", "42", "null"] {
            for ctype in [None, Some("application/json"), Some("text/plain")] {
                let (s, v) = post_raw(&app, &uri, body, ctype).await;
                let what = format!("POST {route} {body} ({ctype:?})");
                assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
                assert_invalid_input(&v, "body", &what);
            }
        }
    }
    assert_eq!(ingest.store.alert_count().await.expect("count"), 0);
}

#[tokio::test]
async fn wrong_typed_fields_and_bad_path_ids_are_400_naming_the_field() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let id = IncidentId::new_random();
    let cases = [
        ("/api/alerts", json!({"service": 5, "severity": "high", "message": "m"}), "service"),
        (
            "/api/alerts",
            json!([{"service": "s", "severity": "high", "message": "m"}, {"service": "s"}]),
            "[1].severity",
        ),
        ("/api/alertmanager", json!({"version": 4, "alerts": []}), "version"),
        ("/api/incidents/{id}/transition", json!({"action": 5}), "action"),
        ("/api/incidents/{id}/transition", json!({"action": "explode"}), "action"),
        ("/api/incidents/{id}/notes", json!({"author": "a", "text": ["x"]}), "text"),
        ("/api/incidents/{id}/feedback", json!({"event_type": 1}), "event_type"),
        ("/api/incidents/{id}/investigate", json!({"deep": true}), "deep"),
    ];
    for (route, body, field) in cases {
        let uri = route.replace("{id}", &id.to_string());
        let (s, v) = post_raw(&app, &uri, &body.to_string(), Some("application/json")).await;
        let what = format!("POST {route} {body}");
        assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
        assert_invalid_input(&v, field, &what);
    }
    for route in POST_ROUTES.iter().filter(|r| r.contains("{id}")) {
        let (s, v) = post_raw(&app, &route.replace("{id}", "not-a-uuid"), "{}", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{route}: {v}");
        assert_invalid_input(&v, "incident_id", route);
    }
}

/// An intake store that is down: every call is `ErrorKind::Unavailable`.
struct DownIngestStore(ProjectId);

fn down(operation: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "ingest/down", operation, "connection refused by 10.0.0.7:5432")
}

#[async_trait]
impl IngestStore for DownIngestStore {
    fn backend(&self) -> &'static str {
        "down"
    }
    fn project(&self) -> &ProjectId {
        &self.0
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn IngestStore> {
        Arc::new(DownIngestStore(project.clone()))
    }
    async fn projects_with_work(&self) -> StoreResult<Vec<ProjectId>> {
        Err(down("projects_with_work"))
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn ingest(&self, _: &[Alert], _: &Policy, _: Timestamp) -> StoreResult<Vec<Applied>> {
        Err(down("ingest"))
    }
    async fn get_incident(&self, _: IncidentId) -> StoreResult<Option<IncidentState>> {
        Err(down("get_incident"))
    }
    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>> {
        Err(down("list_incidents"))
    }
    async fn incident_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        Err(down("incident_counts"))
    }
    async fn alerts_of(&self, _: IncidentId) -> StoreResult<Vec<StoredAlert>> {
        Err(down("alerts_of"))
    }
    async fn alert_count(&self) -> StoreResult<u64> {
        Err(down("alert_count"))
    }
    async fn transition(
        &self,
        _: IncidentId,
        _: Action,
        _: &str,
        _: Option<String>,
        _: &Policy,
        _: Timestamp,
    ) -> Result<IncidentState, LifecycleError> {
        Err(down("transition").into())
    }
    async fn add_note(&self, _: IncidentId, _: Note) -> Result<IncidentState, LifecycleError> {
        Err(down("add_note").into())
    }
    async fn add_decisions(&self, _: IncidentId, _: Vec<IncidentDecision>) -> Result<IncidentState, LifecycleError> {
        Err(down("add_decisions").into())
    }
    async fn pending_records(&self, _: usize) -> StoreResult<Vec<Pending>> {
        Err(down("pending_records"))
    }
    async fn clear_pending(&self, _: &[(IncidentId, u64)]) -> StoreResult<()> {
        Err(down("clear_pending"))
    }
    async fn take_job(&self, _: &str, _: chrono::Duration, _: u32, _: Timestamp) -> StoreResult<Taken> {
        Err(down("take_job"))
    }
    async fn complete_job(&self, _: Uuid, _: &str, _: u32, _: Timestamp) -> StoreResult<bool> {
        Err(down("complete_job"))
    }
    async fn fail_job(
        &self,
        _: Uuid,
        _: &str,
        _: u32,
        _: &str,
        _: Option<Timestamp>,
        _: Timestamp,
    ) -> StoreResult<bool> {
        Err(down("fail_job"))
    }
    async fn get_job(&self, _: Uuid) -> StoreResult<Option<Job>> {
        Err(down("get_job"))
    }
    async fn list_jobs(&self) -> StoreResult<Vec<Job>> {
        Err(down("list_jobs"))
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_503_with_retry_after_and_no_details() {
    let stores = EmbeddedStore::in_memory().expect("records store").stores();
    let (ingest, stores) = intake_on(stores, Arc::new(DownIngestStore(ProjectId::default_project())));
    let app = intake_app(&ingest, &stores);
    let id = IncidentId::new_random();
    let alert = json!({"service": "checkout", "severity": "high", "message": "m"}).to_string();
    let requests = [
        ("POST", "/api/alerts".to_string(), Some(alert)),
        ("POST", format!("/api/incidents/{id}/transition"), Some(json!({"action": "resolve"}).to_string())),
        ("POST", format!("/api/incidents/{id}/notes"), Some(json!({"author": "a", "text": "t"}).to_string())),
        ("GET", "/api/lifecycle".to_string(), None),
        ("GET", format!("/api/incidents/{id}/lifecycle"), None),
        ("GET", "/api/jobs".to_string(), None),
        ("GET", "/health/intake".to_string(), None),
    ];
    for (method, uri, body) in requests {
        let req = Request::builder().method(method).uri(&uri).body(body.map(Body::from).unwrap_or_else(Body::empty));
        let res = app.clone().oneshot(req.expect("request")).await.expect("response");
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{method} {uri}");
        let retry = res.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(retry.as_deref(), Some("5"), "{method} {uri}");
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["error"]["status"], 503, "{v}");
        assert_eq!(v["error"]["code"], "unavailable", "{v}");
        assert!(v["error"].get("field").is_none(), "{v}");
        assert!(!v.to_string().contains("10.0.0.7"), "store details are logged, not returned: {v}");
    }
    // The metrics still render, counting every failed call once: the seven requests,
    // then the incident counts `/metrics` itself asks for.
    let req = Request::builder().uri("/metrics").body(Body::empty()).expect("request");
    let res = app.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8_lossy(&res.into_body().collect().await.expect("body").to_bytes()).to_string();
    assert!(text.contains(r#"inquest_store_errors_total{store="ingest/down"} 8"#), "{text}");
    for operation in
        ["ingest", "transition", "add_note", "list_incidents", "get_incident", "list_jobs", "check_connectivity"]
    {
        let series = format!(r#"{{operation="{operation}",outcome="unavailable",store="ingest/down"}} 1"#);
        assert!(text.contains(&series), "{series} missing from {text}");
    }
    assert!(text.contains(r#"inquest_store_errors_total{store="records/embedded"} 0"#), "{text}");
}

/// A records store whose `list_incidents` is down; every other call goes to `inner`.
struct RecordsDown {
    inner: Arc<dyn RecordStore>,
}

#[async_trait]
impl RecordStore for RecordsDown {
    fn backend(&self) -> &'static str {
        "down"
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn RecordStore> {
        Arc::new(RecordsDown { inner: self.inner.scoped(project) })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        self.inner.check_connectivity().await
    }
    async fn apply_batch(&self, batch: &RecordBatch) -> StoreResult<()> {
        self.inner.apply_batch(batch).await
    }
    async fn apply_delivery(&self, delivery: &FeedDelivery) -> StoreResult<DeliveryOutcome> {
        self.inner.apply_delivery(delivery).await
    }
    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.inner.feed_state(feed, key).await
    }
    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>> {
        self.inner.commits_between(from, to, limit).await
    }
    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        self.inner.list_services().await
    }
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        self.inner.get_incident(id).await
    }
    async fn list_incidents(&self) -> StoreResult<Vec<Incident>> {
        Err(down("list_incidents"))
    }
    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>> {
        self.inner.list_decisions(incident).await
    }
    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>> {
        self.inner.deployments_between(services, from, to).await
    }
    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>> {
        self.inner.config_changes_between(services, from, to).await
    }
    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>> {
        self.inner.commit_range(deployment).await
    }
    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>> {
        self.inner.commits(shas).await
    }
    async fn save_investigation(&self, record: &InvestigationRecord) -> StoreResult<()> {
        self.inner.save_investigation(record).await
    }
    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>> {
        self.inner.evidence(incident).await
    }
    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>> {
        self.inner.hypotheses(incident).await
    }
    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>> {
        self.inner.reports(incident).await
    }
    async fn append_feedback(&self, event: &FeedbackEvent) -> StoreResult<()> {
        self.inner.append_feedback(event).await
    }
    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>> {
        self.inner.feedback(incident).await
    }
}

#[tokio::test]
async fn a_records_store_failing_on_the_dashboards_incident_list_is_counted() {
    let mut stores = EmbeddedStore::in_memory().expect("records store").stores();
    stores.records = Arc::new(RecordsDown { inner: stores.records });
    let (ingest, stores) = intake_on(stores, Arc::new(EmbeddedIntakeStore::in_memory().expect("ingest store")));
    let app = intake_app(&ingest, &stores);
    let req = Request::builder().uri("/api/incidents").body(Body::empty()).expect("request");
    let res = app.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let req = Request::builder().uri("/metrics").body(Body::empty()).expect("request");
    let res = app.clone().oneshot(req).await.expect("response");
    let text = String::from_utf8_lossy(&res.into_body().collect().await.expect("body").to_bytes()).to_string();
    assert!(text.contains(r#"inquest_store_errors_total{store="records/down"} 1"#), "{text}");
    assert!(text.contains(r#"{operation="list_incidents",outcome="unavailable",store="records/down"} 1"#), "{text}");
    assert!(text.contains(r#"{operation="list_services",outcome="ok",store="records/down"} 1"#), "{text}");
}
