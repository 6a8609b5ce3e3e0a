//! The incident lifecycle of incidents opened by alerts: list, one incident with
//! its alerts, transitions (with MTTA/MTTR) and notes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use inquest_domain::ProjectId;
use inquest_intake::{Action, IncidentState};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IncidentPath, JsonBody};

/// An incident's lifecycle state, with `time_to_acknowledge_seconds` and `time_to_resolve_seconds`.
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

/// Every incident opened by alerts, with its lifecycle state.
#[utoipa::path(get, path = "/api/lifecycle", tag = "lifecycle",
    responses((status = 200, description = "lifecycle states", body = Vec<Object>), (status = 503, body = ErrorBody)))]
pub async fn list_lifecycles(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = s.ingest.store_in(&ProjectId::default_project()).list_incidents().await?;
    Ok(Json(Value::Array(list.iter().map(incident_json).collect())))
}

/// One incident's lifecycle: status, transitions, notes, MTTA/MTTR and its `alerts`.
#[utoipa::path(get, path = "/api/incidents/{id}/lifecycle", tag = "lifecycle",
    params(("id" = String, Path, description = "incident UUID")),
    responses((status = 200, description = "lifecycle state with its alerts", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_lifecycle(State(s): State<AppState>, IncidentPath(id): IncidentPath) -> Result<Json<Value>, ApiError> {
    let store = s.ingest.store_in(&ProjectId::default_project());
    let inc = store.get_incident(id).await?.ok_or_else(|| {
        ApiError::not_found(format!("incident {id} has no lifecycle (it was not opened by an alert)"))
    })?;
    let alerts = store.alerts_of(id).await.unwrap_or_default();
    let mut v = incident_json(&inc);
    if let Value::Object(m) = &mut v {
        m.insert("alerts".into(), serde_json::to_value(alerts).unwrap_or(Value::Null));
    }
    Ok(Json(v))
}

/// A lifecycle action on an incident.
#[derive(Deserialize, ToSchema)]
pub struct TransitionRequest {
    /// `triage` (or `acknowledge`), `resolve`, `suppress` or `reopen`.
    pub action: String,
    /// Who acts (default `api`).
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// Apply a lifecycle action; an action the current status does not allow is `409`.
#[utoipa::path(post, path = "/api/incidents/{id}/transition", tag = "lifecycle",
    params(("id" = String, Path, description = "incident UUID")), request_body = TransitionRequest,
    responses((status = 200, description = "the new lifecycle state", body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn post_transition(
    State(s): State<AppState>,
    IncidentPath(id): IncidentPath,
    JsonBody(body): JsonBody<TransitionRequest>,
) -> Result<Json<Value>, ApiError> {
    let action = serde_json::from_value::<Action>(Value::String(body.action.clone())).map_err(|_| {
        ApiError::field(
            "action",
            format!("'{}' is not one of triage, acknowledge, resolve, suppress, reopen", body.action),
        )
    })?;
    let actor = body.actor.unwrap_or_else(|| "api".into());
    let inc = s.ingest.transition(&ProjectId::default_project(), id, action, &actor, body.reason).await?;
    Ok(Json(incident_json(&inc)))
}

/// A note on an incident's lifecycle.
#[derive(Deserialize, ToSchema)]
pub struct NoteRequest {
    pub author: String,
    pub text: String,
}

/// Add a note to an incident's lifecycle.
#[utoipa::path(post, path = "/api/incidents/{id}/notes", tag = "lifecycle",
    params(("id" = String, Path, description = "incident UUID")), request_body = NoteRequest,
    responses((status = 201, description = "the lifecycle state with the note", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn post_note(
    State(s): State<AppState>,
    IncidentPath(id): IncidentPath,
    JsonBody(body): JsonBody<NoteRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError::field("text", "must not be empty"));
    }
    let inc = s.ingest.add_note(&ProjectId::default_project(), id, &body.author, &body.text).await?;
    Ok((StatusCode::CREATED, Json(incident_json(&inc))))
}
