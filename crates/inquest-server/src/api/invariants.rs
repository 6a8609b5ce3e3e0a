//! Invariants of the caller's project: named checks (a metric query and a condition)
//! run on the evaluator's schedule, with their last result. List, create, read,
//! replace, soft delete, and run one now (`/run`: checked, signalled and stored like a
//! scheduled run). Readers read; writing and running need `respond`.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use inquest_domain::ProjectId;
use inquest_intake::model::Severity;
use inquest_ops::validate::{self, FieldError};
use inquest_ops::{Condition, Invariant, InvariantQuery, InvariantResult, InvariantSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiResult, parse_id};
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, Read, Respond};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::ops::{Evaluator, invariant_withdrawal, metric_names};

/// An invariant to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvariantRequest {
    pub name: String,
    pub description: Option<String>,
    /// `{"service", "metric", "aggregation", "window_minutes"}`: aggregation is one of
    /// last, avg, min, max, sum, count; the window 1 to 10080 minutes. The metric must
    /// have points in the last 7 days (or the window, when longer).
    #[schema(value_type = Object)]
    pub query: InvariantQuery,
    /// What must hold of the aggregated value: `{"op": "<", "value": 1000}` with op one
    /// of `<`, `<=`, `>`, `>=`, `==`, `!=`.
    #[schema(value_type = Object)]
    pub condition: Condition,
    /// The severity of the alert a failure raises: critical, high (default), medium, low.
    #[schema(value_type = Option<String>)]
    pub severity: Option<Severity>,
    pub enabled: Option<bool>,
}

/// An invariant with its last result.
#[derive(Serialize, ToSchema)]
pub struct InvariantView {
    pub invariant_id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub query: InvariantQuery,
    #[schema(value_type = Object)]
    pub condition: Condition,
    #[schema(value_type = String)]
    pub severity: Severity,
    pub enabled: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
    /// The last result: `at`, `state` (pass, fail, no_data, error), `value`, `message`, `signalled`.
    #[schema(value_type = Option<Object>)]
    pub last: Option<InvariantResult>,
}

impl From<Invariant> for InvariantView {
    fn from(i: Invariant) -> Self {
        let InvariantSpec { name, description, query, condition, severity, enabled } = i.spec;
        InvariantView {
            invariant_id: i.invariant_id,
            name,
            description,
            query,
            condition,
            severity,
            enabled,
            created_at: i.created_at,
            updated_at: i.updated_at,
            last: i.last,
        }
    }
}

fn refused(e: FieldError) -> ApiError {
    ApiError::field(&e.field, e.message)
}

fn spec(body: InvariantRequest) -> Result<InvariantSpec, ApiError> {
    let spec = InvariantSpec {
        name: body.name,
        description: body.description.unwrap_or_default(),
        query: body.query,
        condition: body.condition,
        severity: body.severity.unwrap_or(Severity::High),
        enabled: body.enabled.unwrap_or(true),
    };
    validate::invariant(&spec).map_err(refused)?;
    Ok(spec)
}

/// How far back a metric must have points to be known: a week, or the window.
fn known_lookback(q: &InvariantQuery) -> Duration {
    Duration::days(7).max(Duration::minutes(i64::from(q.window_minutes)))
}

async fn known(s: &AppState, project: &ProjectId, spec: &InvariantSpec) -> Result<(), ApiError> {
    let metrics = s.stores.metrics.scoped(project);
    let q = &spec.query;
    let names = metric_names(metrics.as_ref(), &q.service, Utc::now(), known_lookback(q)).await?;
    validate::known_metrics("query", [("metric", q.metric.as_str())], &names, &q.service).map_err(refused)
}

fn evaluator(s: &AppState) -> Evaluator {
    Evaluator { ops: s.ops.clone(), metrics: s.stores.metrics.clone(), ingest: s.ingest.clone() }
}

async fn existing(s: &AppState, project: &ProjectId, id: &str) -> Result<Invariant, ApiError> {
    let invariant_id: Uuid = parse_id("invariant_id", id)?;
    s.ops
        .get_invariant(project, invariant_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no invariant {invariant_id}")))
}

/// The project's invariants with their last result.
#[utoipa::path(get, path = "/api/invariants", tag = "invariants",
    responses((status = 200, body = Vec<InvariantView>), (status = 503, body = ErrorBody)))]
pub async fn list_invariants(State(s): State<AppState>, auth: Authorized<Read>) -> ApiResult<Vec<InvariantView>> {
    Ok(Json(s.ops.list_invariants(auth.project()).await?.into_iter().map(InvariantView::from).collect()))
}

/// Create an invariant.
#[utoipa::path(post, path = "/api/invariants", tag = "invariants", request_body = InvariantRequest,
    responses((status = 201, body = InvariantView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_invariant(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    JsonBody(body): JsonBody<InvariantRequest>,
) -> Result<(StatusCode, Json<InvariantView>), ApiError> {
    let spec = spec(body)?;
    known(&s, auth.project(), &spec).await?;
    let now = Utc::now();
    let inv = Invariant {
        invariant_id: Uuid::new_v4(),
        project_id: auth.project().clone(),
        spec,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        last: None,
    };
    slot.set(|n| n.resource = Some(("invariant".into(), inv.invariant_id.to_string())));
    s.ops.put_invariant(&inv).await?;
    tracing::info!(project = %inv.project_id, invariant = %inv.invariant_id, name = %inv.spec.name, "invariant created");
    Ok((StatusCode::CREATED, Json(inv.into())))
}

/// One invariant with its last result.
#[utoipa::path(get, path = "/api/invariants/{id}", tag = "invariants",
    params(("id" = String, Path, description = "invariant id (a UUID)")),
    responses((status = 200, body = InvariantView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_invariant(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<InvariantView> {
    Ok(Json(existing(&s, auth.project(), &id).await?.into()))
}

/// Replace an invariant's definition (its last result is kept until the next check).
#[utoipa::path(put, path = "/api/invariants/{id}", tag = "invariants", request_body = InvariantRequest,
    params(("id" = String, Path, description = "invariant id (a UUID)")),
    responses((status = 200, body = InvariantView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace_invariant(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<InvariantRequest>,
) -> ApiResult<InvariantView> {
    slot.set(|n| n.resource = Some(("invariant".into(), id.clone())));
    let current = existing(&s, auth.project(), &id).await?;
    let spec = spec(body)?;
    known(&s, auth.project(), &spec).await?;
    let now = Utc::now();
    if current.spec.enabled && !spec.enabled {
        evaluator(&s).withdraw(auth.project(), invariant_withdrawal(&current, now), now).await;
    }
    let inv = Invariant { spec, updated_at: now, ..current };
    s.ops.put_invariant(&inv).await?;
    tracing::info!(project = %inv.project_id, invariant = %inv.invariant_id, "invariant replaced");
    Ok(Json(existing(&s, auth.project(), &id).await?.into()))
}

/// Delete an invariant (soft). A signal it holds is resolved.
#[utoipa::path(delete, path = "/api/invariants/{id}", tag = "invariants",
    params(("id" = String, Path, description = "invariant id (a UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_invariant(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    slot.set(|n| n.resource = Some(("invariant".into(), id.clone())));
    let current = existing(&s, auth.project(), &id).await?;
    let now = Utc::now();
    if !s.ops.delete_invariant(auth.project(), current.invariant_id, now).await? {
        return Err(ApiError::not_found(format!("no invariant {}", current.invariant_id)));
    }
    evaluator(&s).withdraw(auth.project(), invariant_withdrawal(&current, now), now).await;
    tracing::info!(project = %auth.project(), invariant = %current.invariant_id, "invariant deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Run the check now: the result is stored and a change of state signalled, as on the
/// schedule (a disabled invariant runs too).
#[utoipa::path(post, path = "/api/invariants/{id}/run", tag = "invariants",
    params(("id" = String, Path, description = "invariant id (a UUID)")),
    responses((status = 200, body = InvariantView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn run_invariant(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
) -> ApiResult<InvariantView> {
    slot.set(|n| n.resource = Some(("invariant".into(), id.clone())));
    let current = existing(&s, auth.project(), &id).await?;
    let (result, _) = evaluator(&s).invariant(&current, Utc::now()).await?;
    Ok(Json(Invariant { last: Some(result), ..current }.into()))
}
