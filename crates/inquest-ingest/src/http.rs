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
use inquest_ports::{ErrorKind, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::lifecycle::{Action, IncidentState};
use crate::model::{Alert, AlertSource, SkippedAlert, ValidationError, parse_alertmanager, parse_generic_body};
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

/// A store error as an answer. Only a retryable failure is `503`: Alertmanager retries
/// it, so input a store refuses must be `422`, or it would come back forever.
fn store_error(e: StoreError) -> Response {
    match e.kind {
        ErrorKind::InvalidInput => {
            tracing::warn!(error = %e, "the intake store refused the input");
            invalid(ValidationError { field: "body".into(), message: "the store cannot hold this input".into() })
        }
        _ if e.retryable() => unavailable(e),
        _ => {
            tracing::error!(error = %e, "intake store failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }
    }
}

/// A payload refused as a whole: counted, and answered `422`.
fn refused(ingest: &Ingest, source: AlertSource, e: ValidationError) -> Response {
    ingest.metrics.alert_rejected(source, e.reason());
    tracing::debug!(source = source.as_str(), field = %e.field, reason = e.reason(), "alerts refused");
    invalid(e)
}

/// Store `alerts` (each with its position in the payload) and answer `202` with one
/// result per stored alert, and the `skipped` ones when the endpoint skips.
async fn store_and_answer(
    ingest: &Ingest,
    alerts: Vec<(usize, Alert)>,
    skipped: Option<Vec<SkippedAlert>>,
    endpoint: &str,
    started: Instant,
) -> Response {
    let (positions, alerts): (Vec<usize>, Vec<Alert>) = alerts.into_iter().unzip();
    let source = alerts.first().map(|a| a.source);
    let applied = if alerts.is_empty() {
        Vec::new()
    } else {
        match ingest.ingest(alerts, Utc::now()).await {
            Ok(applied) => {
                ingest.metrics.request_duration.with_label_values(&[endpoint]).observe(started.elapsed().as_secs_f64());
                applied
            }
            Err(e) => {
                if let (ErrorKind::InvalidInput, Some(source)) = (e.kind, source) {
                    let rejected = ingest.metrics.alerts_rejected.with_label_values(&[source.as_str(), "store"]);
                    rejected.inc_by(positions.len() as u64);
                }
                return store_error(e);
            }
        }
    };
    let results: Vec<Value> = applied
        .iter()
        .zip(positions)
        .map(|(a, index)| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("index".into(), json!(index));
            }
            v
        })
        .collect();
    let mut body = json!({"stored": results.len(), "results": results});
    if let (Some(skipped), Value::Object(m)) = (skipped, &mut body) {
        m.insert("skipped".into(), json!(skipped));
    }
    json_response(StatusCode::ACCEPTED, body)
}

/// All or nothing: one invalid alert refuses the batch.
async fn post_alerts(State(ingest): State<Arc<Ingest>>, body: Bytes) -> Response {
    let started = Instant::now();
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let e = ValidationError { field: "body".into(), message: format!("not JSON: {e}") };
            return refused(&ingest, AlertSource::Generic, e);
        }
    };
    match parse_generic_body(&value, Utc::now()) {
        Ok(alerts) => {
            store_and_answer(&ingest, alerts.into_iter().enumerate().collect(), None, "alerts", started).await
        }
        Err(e) => refused(&ingest, AlertSource::Generic, e),
    }
}

/// A payload that is no v4 webhook is refused; otherwise the group's valid alerts are
/// stored and each other one skipped, counted and logged, since Alertmanager does not
/// retry a 4xx and a refused group would lose its valid alerts.
async fn post_alertmanager(State(ingest): State<Arc<Ingest>>, body: Bytes) -> Response {
    let started = Instant::now();
    let group = match parse_alertmanager(&body) {
        Ok(p) => p.into_alerts(),
        Err(e) => return refused(&ingest, AlertSource::Alertmanager, e),
    };
    for s in &group.skipped {
        ingest.metrics.alert_rejected(AlertSource::Alertmanager, s.reason());
        tracing::warn!(index = s.index, field = %s.field, reason = s.reason(), error = %s.message, "alertmanager alert skipped");
    }
    store_and_answer(&ingest, group.accepted, Some(group.skipped), "alertmanager", started).await
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
        m.insert(
            "time_to_resolve_seconds".into(),
            json!(inc.time_to_resolve().map(|d| d.num_milliseconds() as f64 / 1000.0)),
        );
    }
    v
}

fn lifecycle_error(e: LifecycleError) -> Response {
    match e {
        LifecycleError::NotFound(_) => error(StatusCode::NOT_FOUND, "not_found", e),
        LifecycleError::Invalid(_) => error(StatusCode::CONFLICT, "conflict", e),
        LifecycleError::Store(s) => store_error(s),
    }
}

async fn list_incidents(State(ingest): State<Arc<Ingest>>) -> Response {
    match ingest.store.list_incidents().await {
        Ok(list) => json_response(StatusCode::OK, Value::Array(list.iter().map(incident_json).collect())),
        Err(e) => store_error(e),
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
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("incident {id} has no lifecycle (it was not opened by an alert)"),
        ),
        Err(e) => store_error(e),
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
        Err(e) => store_error(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_store_errors_are_503() {
        let status = |kind| store_error(StoreError::new(kind, "ingest/postgres", "ingest", "boom")).status();
        assert_eq!(status(ErrorKind::InvalidInput), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(ErrorKind::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(ErrorKind::Timeout), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(ErrorKind::Internal), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(ErrorKind::NotFound), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
