//! SLOs of the caller's project: list, create, read, replace, soft delete, and the
//! budget and burn rates over time (`/burn`, computed from the stored points). A
//! definition that cannot be evaluated (an unknown metric, a target outside (0, 1), a
//! window of zero) is refused naming the field. Readers read; writing needs `respond`.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use inquest_ops::burn::{self, BurnSample, Events};
use inquest_ops::validate::{self, FieldError};
use inquest_ops::{BurnThreshold, Slo, SloQuery, SloSpec, SloStatus, default_thresholds_for};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiResult, parse_id};
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, Read, Respond};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, Query};
use crate::ops::{Evaluator, metric_names, points, slo_withdrawal};

/// An SLO to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SloRequest {
    pub name: String,
    pub description: Option<String>,
    /// The share of good events promised, strictly between 0 and 1 (`0.999`).
    pub target: f64,
    /// The window the target and the error budget are counted over, 1 to 366 days.
    pub window_days: u32,
    /// `{"kind": "ratio", "service", "good", "total"}` (metrics summed over a window) or
    /// `{"kind": "latency", "service", "metric", "threshold"}` (a point is good at or
    /// below the threshold). The metrics must have points in the SLO window.
    #[schema(value_type = Object)]
    pub metric_query: SloQuery,
    /// Multiwindow conditions `{"long_window_minutes", "short_window_minutes",
    /// "factor", "severity"}`; absent: 14.4x over 1 h and 5 min and 6x over 6 h and
    /// 30 min (critical), 1x over 3 d and 6 h (medium), those that fit the SLO window.
    #[schema(value_type = Option<Vec<Object>>)]
    pub burn_rate_thresholds: Option<Vec<BurnThreshold>>,
    /// Evaluated on the schedule (default true).
    pub enabled: Option<bool>,
}

/// An SLO with its last evaluation.
#[derive(Serialize, ToSchema)]
pub struct SloView {
    pub slo_id: Uuid,
    pub name: String,
    pub description: String,
    pub target: f64,
    pub window_days: u32,
    #[schema(value_type = Object)]
    pub metric_query: SloQuery,
    #[schema(value_type = Vec<Object>)]
    pub burn_rate_thresholds: Vec<BurnThreshold>,
    pub enabled: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
    /// The last evaluation: `state` (ok, burning, no_data, error), `error_ratio`,
    /// `budget_remaining`, each condition's `long_burn` and `short_burn`, `signalled`.
    #[schema(value_type = Option<Object>)]
    pub last: Option<SloStatus>,
}

impl From<Slo> for SloView {
    fn from(s: Slo) -> Self {
        let SloSpec { name, description, target, window_days, metric_query, burn_rate_thresholds, enabled } = s.spec;
        SloView {
            slo_id: s.slo_id,
            name,
            description,
            target,
            window_days,
            metric_query,
            burn_rate_thresholds,
            enabled,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last: s.last,
        }
    }
}

/// An SLO's budget and burn rates now and over time.
#[derive(Serialize, ToSchema)]
pub struct BurnView {
    pub slo_id: Uuid,
    pub at: chrono::DateTime<Utc>,
    /// The evaluation at `at` (not stored, and no signal sent).
    #[schema(value_type = Object)]
    pub now: SloStatus,
    /// Every `step_minutes`: `budget_remaining` and, per condition in order, the burn
    /// rate over its long window.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<BurnSample>,
    pub step_minutes: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BurnQuery {
    /// Hours of history, 1 to 720 (default 24).
    pub hours: Option<u32>,
}

fn refused(e: FieldError) -> ApiError {
    ApiError::field(&e.field, e.message)
}

fn spec(body: SloRequest) -> Result<SloSpec, ApiError> {
    let spec = SloSpec {
        name: body.name,
        description: body.description.unwrap_or_default(),
        target: body.target,
        window_days: body.window_days,
        metric_query: body.metric_query,
        burn_rate_thresholds: body.burn_rate_thresholds.unwrap_or_else(|| default_thresholds_for(body.window_days)),
        enabled: body.enabled.unwrap_or(true),
    };
    validate::slo(&spec).map_err(refused)?;
    Ok(spec)
}

/// Refuses metrics the service has no points of in the SLO window.
async fn known(s: &AppState, project: &inquest_domain::ProjectId, spec: &SloSpec) -> Result<(), ApiError> {
    let metrics = s.stores.metrics.scoped(project);
    let service = spec.metric_query.service();
    let names = metric_names(metrics.as_ref(), service, Utc::now(), burn::days(spec.window_days)).await?;
    validate::known_metrics("metric_query", spec.metric_query.metrics(), &names, service).map_err(refused)
}

fn evaluator(s: &AppState) -> Evaluator {
    Evaluator { ops: s.ops.clone(), metrics: s.stores.metrics.clone(), ingest: s.ingest.clone() }
}

async fn existing(s: &AppState, project: &inquest_domain::ProjectId, id: &str) -> Result<Slo, ApiError> {
    let slo_id: Uuid = parse_id("slo_id", id)?;
    s.ops.get_slo(project, slo_id).await?.ok_or_else(|| ApiError::not_found(format!("no SLO {slo_id}")))
}

/// The project's SLOs with their last evaluation.
#[utoipa::path(get, path = "/api/slos", tag = "slos",
    responses((status = 200, body = Vec<SloView>), (status = 503, body = ErrorBody)))]
pub async fn list_slos(State(s): State<AppState>, auth: Authorized<Read>) -> ApiResult<Vec<SloView>> {
    Ok(Json(s.ops.list_slos(auth.project()).await?.into_iter().map(SloView::from).collect()))
}

/// Create an SLO.
#[utoipa::path(post, path = "/api/slos", tag = "slos", request_body = SloRequest,
    responses((status = 201, body = SloView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_slo(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    JsonBody(body): JsonBody<SloRequest>,
) -> Result<(StatusCode, Json<SloView>), ApiError> {
    let spec = spec(body)?;
    known(&s, auth.project(), &spec).await?;
    let now = Utc::now();
    let slo = Slo {
        slo_id: Uuid::new_v4(),
        project_id: auth.project().clone(),
        spec,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        last: None,
    };
    slot.set(|n| n.resource = Some(("slo".into(), slo.slo_id.to_string())));
    s.ops.put_slo(&slo).await?;
    tracing::info!(project = %slo.project_id, slo = %slo.slo_id, name = %slo.spec.name, "SLO created");
    Ok((StatusCode::CREATED, Json(slo.into())))
}

/// One SLO with its last evaluation.
#[utoipa::path(get, path = "/api/slos/{id}", tag = "slos",
    params(("id" = String, Path, description = "SLO id (a UUID)")),
    responses((status = 200, body = SloView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_slo(State(s): State<AppState>, auth: Authorized<Read>, Path(id): Path<String>) -> ApiResult<SloView> {
    Ok(Json(existing(&s, auth.project(), &id).await?.into()))
}

/// Replace an SLO's definition (its last evaluation is kept until the next one).
#[utoipa::path(put, path = "/api/slos/{id}", tag = "slos", request_body = SloRequest,
    params(("id" = String, Path, description = "SLO id (a UUID)")),
    responses((status = 200, body = SloView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace_slo(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SloRequest>,
) -> ApiResult<SloView> {
    slot.set(|n| n.resource = Some(("slo".into(), id.clone())));
    let current = existing(&s, auth.project(), &id).await?;
    let spec = spec(body)?;
    known(&s, auth.project(), &spec).await?;
    let now = Utc::now();
    if current.spec.enabled && !spec.enabled {
        evaluator(&s).withdraw(auth.project(), slo_withdrawal(&current, now), now).await;
    }
    let slo = Slo { spec, updated_at: now, ..current };
    s.ops.put_slo(&slo).await?;
    tracing::info!(project = %slo.project_id, slo = %slo.slo_id, "SLO replaced");
    Ok(Json(existing(&s, auth.project(), &id).await?.into()))
}

/// Delete an SLO (soft: it is no longer listed, evaluated or found). A signal it holds
/// is resolved.
#[utoipa::path(delete, path = "/api/slos/{id}", tag = "slos",
    params(("id" = String, Path, description = "SLO id (a UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_slo(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    slot.set(|n| n.resource = Some(("slo".into(), id.clone())));
    let current = existing(&s, auth.project(), &id).await?;
    let now = Utc::now();
    if !s.ops.delete_slo(auth.project(), current.slo_id, now).await? {
        return Err(ApiError::not_found(format!("no SLO {}", current.slo_id)));
    }
    evaluator(&s).withdraw(auth.project(), slo_withdrawal(&current, now), now).await;
    tracing::info!(project = %auth.project(), slo = %current.slo_id, "SLO deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The SLO's error budget and burn rates now, and over the last `hours` (48 samples),
/// computed from the stored points.
#[utoipa::path(get, path = "/api/slos/{id}/burn", tag = "slos",
    params(("id" = String, Path, description = "SLO id (a UUID)"), BurnQuery),
    responses((status = 200, body = BurnView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_burn(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
    Query(q): Query<BurnQuery>,
) -> ApiResult<BurnView> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::field("hours", format!("{hours} is not within 1..=720")));
    }
    let slo = existing(&s, auth.project(), &id).await?;
    Ok(Json(burn_view(&s, &slo, hours, Utc::now()).await?))
}

/// The burn view of `slo` at `now` over `hours` (the dashboard's chart too).
pub(crate) async fn burn_view(
    s: &AppState,
    slo: &Slo,
    hours: u32,
    now: chrono::DateTime<Utc>,
) -> Result<BurnView, ApiError> {
    let spec = &slo.spec;
    let span = Duration::hours(i64::from(hours));
    let metrics = s.stores.metrics.scoped(&slo.project_id);
    let window = points(metrics.as_ref(), spec.metric_query.service(), now, burn::lookback(spec) + span).await?;
    let events = Events::from_series(&spec.metric_query, &window.series);
    let step = span / 48;
    let signalled = slo.last.as_ref().is_some_and(|l| l.signalled);
    Ok(BurnView {
        slo_id: slo.slo_id,
        at: now,
        now: burn::evaluate(spec, &events, now, signalled),
        history: burn::history(spec, &events, now - span, now, step),
        step_minutes: step.num_minutes(),
    })
}
