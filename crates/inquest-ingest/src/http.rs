//! The intake's HTTP routes (axum): alerts in (generic and Alertmanager webhook),
//! incident lifecycle, jobs, and `/metrics`. `inquest serve` merges `routes(ingest)`
//! into the dashboard's router; errors have the API's one format,
//! `{"error": {"status", "code", "message"}}` (plus `field` for invalid input).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use inquest_domain::IncidentId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::lifecycle::{Action, IncidentState};
use crate::model::{ValidationError, parse_alertmanager, parse_generic_body};
use crate::service::Ingest;
use crate::store::LifecycleError;

pub fn routes(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/api/alerts", post(post_alerts))
        .route("/api/alertmanager", post(post_alertmanager))
        .route("/api/lifecycle", get(list_incidents))
        .route("/api/incidents/{id}/lifecycle", get(get_incident))
        .route("/api/incidents/{id}/transition", post(post_transition))
        .route("/api/incidents/{id}/notes", post(post_note))
        .route("/api/jobs", get(list_jobs))
        .route("/metrics", get(metrics))
        .route("/health/intake", get(healthz))
        .with_state(ingest)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The API's error format.
fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    json_response(status, json!({"error": {"status": status.as_u16(), "code": code, "message": message.to_string()}}))
}

fn invalid(e: ValidationError) -> Response {
    let message = format!("invalid {}: {}", e.field, e.message);
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": {"status": 422, "code": "invalid_input", "message": message, "field": e.field}}),
    )
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "intake store unavailable");
    error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the intake store is unavailable, retry later")
}

async fn store_and_answer(ingest: &Ingest, alerts: Vec<crate::model::Alert>, endpoint: &str, started: Instant) -> Response {
    let n = alerts.len();
    match ingest.ingest(alerts, Utc::now()).await {
        Ok(applied) => {
            ingest.metrics.request_duration.with_label_values(&[endpoint]).observe(started.elapsed().as_secs_f64());
            json_response(StatusCode::ACCEPTED, json!({"stored": n, "results": applied}))
        }
        Err(e) => unavailable(e),
    }
}

async fn post_alerts(State(ingest): State<Arc<Ingest>>, body: Bytes) -> Response {
    let started = Instant::now();
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return invalid(ValidationError { field: "body".into(), message: format!("not JSON: {e}") }),
    };
    match parse_generic_body(&value, Utc::now()) {
        Ok(alerts) => store_and_answer(&ingest, alerts, "alerts", started).await,
        Err(e) => invalid(e),
    }
}

async fn post_alertmanager(State(ingest): State<Arc<Ingest>>, body: Bytes) -> Response {
    let started = Instant::now();
    let alerts = match parse_alertmanager(&body).and_then(|p| p.into_alerts()) {
        Ok(a) => a,
        Err(e) => return invalid(e),
    };
    if alerts.is_empty() {
        return json_response(StatusCode::ACCEPTED, json!({"stored": 0, "results": []}));
    }
    store_and_answer(&ingest, alerts, "alertmanager", started).await
}

/// The JSON body of a lifecycle request, or the 422 naming what is wrong.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(invalid(ValidationError { field: "body".into(), message: e.to_string() })))
}

fn parse_id(id: &str) -> Result<IncidentId, Box<Response>> {
    id.parse::<IncidentId>().map_err(|_| {
        Box::new(error(StatusCode::BAD_REQUEST, "bad_request", format!("invalid id: '{id}' is not an incident id")))
    })
}

fn incident_json(inc: &IncidentState) -> Value {
    let mut v = serde_json::to_value(inc).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert(
            "time_to_acknowledge_seconds".into(),
            json!(inc.time_to_acknowledge().map(|d| d.num_milliseconds() as f64 / 1000.0)),
        );
        m.insert("time_to_resolve_seconds".into(), json!(inc.time_to_resolve().map(|d| d.num_milliseconds() as f64 / 1000.0)));
    }
    v
}

fn lifecycle_error(e: LifecycleError) -> Response {
    match e {
        LifecycleError::NotFound(_) => error(StatusCode::NOT_FOUND, "not_found", e),
        LifecycleError::Invalid(_) => error(StatusCode::CONFLICT, "conflict", e),
        LifecycleError::Store(s) => unavailable(s),
    }
}

async fn list_incidents(State(ingest): State<Arc<Ingest>>) -> Response {
    match ingest.store.list_incidents().await {
        Ok(list) => json_response(StatusCode::OK, Value::Array(list.iter().map(incident_json).collect())),
        Err(e) => unavailable(e),
    }
}

async fn get_incident(State(ingest): State<Arc<Ingest>>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    match ingest.store.get_incident(id).await {
        Ok(Some(inc)) => {
            let alerts = ingest.store.alerts_of(id).await.unwrap_or_default();
            let mut v = incident_json(&inc);
            if let Value::Object(m) = &mut v {
                m.insert("alerts".into(), serde_json::to_value(alerts).unwrap_or(Value::Null));
            }
            json_response(StatusCode::OK, v)
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found", format!("incident {id} has no lifecycle (it was not opened by an alert)")),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct TransitionBody {
    action: String,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn post_transition(State(ingest): State<Arc<Ingest>>, Path(id): Path<String>, body: Bytes) -> Response {
    let (id, body) = match parse_id(&id).and_then(|id| Ok((id, parse_body::<TransitionBody>(&body)?))) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Ok(action) = serde_json::from_value::<Action>(Value::String(body.action.clone())) else {
        return invalid(ValidationError {
            field: "action".into(),
            message: format!("'{}' is not one of triage, acknowledge, resolve, suppress, reopen", body.action),
        });
    };
    let actor = body.actor.unwrap_or_else(|| "api".into());
    match ingest.transition(id, action, &actor, body.reason).await {
        Ok(inc) => json_response(StatusCode::OK, incident_json(&inc)),
        Err(e) => lifecycle_error(e),
    }
}

#[derive(Deserialize)]
struct NoteBody {
    author: String,
    text: String,
}

async fn post_note(State(ingest): State<Arc<Ingest>>, Path(id): Path<String>, body: Bytes) -> Response {
    let (id, body) = match parse_id(&id).and_then(|id| Ok((id, parse_body::<NoteBody>(&body)?))) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if body.text.trim().is_empty() {
        return invalid(ValidationError { field: "text".into(), message: "must not be empty".into() });
    }
    match ingest.add_note(id, &body.author, &body.text).await {
        Ok(inc) => json_response(StatusCode::CREATED, incident_json(&inc)),
        Err(e) => lifecycle_error(e),
    }
}

async fn list_jobs(State(ingest): State<Arc<Ingest>>) -> Response {
    match ingest.store.list_jobs().await {
        Ok(jobs) => json_response(StatusCode::OK, serde_json::to_value(jobs).unwrap_or(Value::Null)),
        Err(e) => unavailable(e),
    }
}

async fn metrics(State(ingest): State<Arc<Ingest>>) -> Response {
    let body = ingest.render_metrics().await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn healthz(State(ingest): State<Arc<Ingest>>) -> Response {
    match ingest.store.check_connectivity().await {
        Ok(()) => json_response(StatusCode::OK, json!({"status": "ok"})),
        Err(e) => unavailable(e),
    }
}
