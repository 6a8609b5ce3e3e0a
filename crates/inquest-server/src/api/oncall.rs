//! On-call of the caller's project: schedules (list, create, read, replace, soft
//! delete) with who is on call now and the next handoff, overrides, who is on call for
//! a service, and an incident's assignment with its escalations. A schedule that cannot
//! work (no members, a shift of 0 hours, steps not later and later, a target schedule
//! that does not exist) is refused naming the field. Readers read; writing needs
//! `respond`.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use inquest_domain::{IncidentStatus, ProjectId};
use inquest_ops::oncall::{
    self, Assignment, EscalationStep, OnCall, Override, Rotation, Schedule, ScheduleSpec, on_call, schedule_for,
};
use inquest_ops::validate::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiResult, parse_id};
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, Read, Respond};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IncidentPath, JsonBody, Query};

/// Who takes turns, from when, for how long.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// In order: the first is on call from `starts_at`.
    pub members: Vec<String>,
    /// RFC 3339.
    pub starts_at: DateTime<Utc>,
    /// Hours of one shift, 1 to 672.
    pub shift_hours: u32,
}

/// A schedule to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub name: String,
    /// Covers the services of this team (the namespace of their `cluster/namespace/name`
    /// key) that no schedule names.
    pub team: Option<String>,
    /// Services covered, by name (`checkout`) or key (`prod/shop/checkout`).
    pub services: Option<Vec<String>>,
    pub rotation: RotationRequest,
    /// Steps `{"after_minutes", "targets"}`, later and later; a target is
    /// `{"kind": "person", "person"}`, `{"kind": "schedule", "schedule_id"}` (whoever is
    /// on call there) or `{"kind": "next_in_rotation"}`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub escalation: Option<Vec<EscalationStep>>,
}

/// An override to add: `person` is on call instead in `[from, until)`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    pub person: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// A schedule with who is on call now and who takes over at the next handoff.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    pub schedule_id: Uuid,
    pub name: String,
    pub team: Option<String>,
    pub services: Vec<String>,
    #[schema(value_type = Object)]
    pub rotation: Rotation,
    /// Overrides not over yet, by start.
    #[schema(value_type = Vec<Object>)]
    pub overrides: Vec<Override>,
    #[schema(value_type = Vec<Object>)]
    pub escalation: Vec<EscalationStep>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `{"person", "source", "from", "until"}`: `until` is the next handoff; null when
    /// nobody is on call (the rotation has not started).
    #[schema(value_type = Option<Object>)]
    pub on_call: Option<OnCall>,
    /// Who is on call from the next handoff.
    #[schema(value_type = Option<Object>)]
    pub next: Option<OnCall>,
}

impl ScheduleView {
    fn new(s: Schedule, now: DateTime<Utc>) -> ScheduleView {
        let current = on_call(&s, now);
        let next = current.as_ref().and_then(|c| on_call(&s, c.until));
        let mut overrides: Vec<Override> = s.overrides.iter().filter(|o| o.until > now).cloned().collect();
        overrides.sort_by_key(|o| (o.from, o.created_at));
        ScheduleView {
            schedule_id: s.schedule_id,
            name: s.name,
            team: s.team,
            services: s.services,
            rotation: s.rotation,
            overrides,
            escalation: s.escalation,
            created_at: s.created_at,
            updated_at: s.updated_at,
            on_call: current,
            next,
        }
    }
}

/// Who is on call for a service.
#[derive(Serialize, ToSchema)]
pub struct NowView {
    pub service: String,
    pub schedule_id: Uuid,
    pub schedule: String,
    /// `{"person", "source", "from", "until"}`, null when nobody is on call.
    #[schema(value_type = Option<Object>)]
    pub on_call: Option<OnCall>,
    #[schema(value_type = Option<Object>)]
    pub next: Option<OnCall>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NowQuery {
    /// Service name (`checkout`) or key (`prod/shop/checkout`).
    pub service: Option<String>,
}

/// An incident's assignment, or why it has none.
#[derive(Serialize, ToSchema)]
pub struct AssignmentView {
    pub incident_id: String,
    pub assigned: bool,
    /// `{"schedule_id", "person", "assigned_at", "escalations": [{"step", "at",
    /// "targets"}], "stopped": {"reason", "at"}}`.
    #[schema(value_type = Option<Object>)]
    pub assignment: Option<Assignment>,
    /// The schedule's name, when it still exists.
    pub schedule: Option<String>,
    /// Why it is unassigned.
    pub reason: Option<String>,
}

fn refused(e: FieldError) -> ApiError {
    ApiError::field(&e.field, e.message)
}

fn spec(body: ScheduleRequest) -> ScheduleSpec {
    let trim = |s: String| s.trim().to_string();
    ScheduleSpec {
        name: trim(body.name),
        team: body.team.map(trim),
        services: body.services.unwrap_or_default().into_iter().map(trim).collect(),
        rotation: Rotation {
            members: body.rotation.members.into_iter().map(trim).collect(),
            starts_at: body.rotation.starts_at,
            shift_hours: body.rotation.shift_hours,
        },
        escalation: body.escalation.unwrap_or_default(),
    }
}

/// Checks `spec` against the project's schedules (the targets must exist).
async fn checked(s: &AppState, project: &ProjectId, spec: &ScheduleSpec, own: Option<Uuid>) -> Result<(), ApiError> {
    let mut known: BTreeSet<Uuid> = s.oncall.list_schedules(project).await?.iter().map(|x| x.schedule_id).collect();
    known.extend(own);
    oncall::validate(spec, &known).map_err(refused)
}

async fn existing(s: &AppState, project: &ProjectId, id: &str) -> Result<Schedule, ApiError> {
    let schedule_id: Uuid = parse_id("schedule_id", id)?;
    s.oncall
        .get_schedule(project, schedule_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no schedule {schedule_id}")))
}

/// The project's schedules with who is on call now.
#[utoipa::path(get, path = "/api/oncall/schedules", tag = "oncall",
    responses((status = 200, body = Vec<ScheduleView>), (status = 503, body = ErrorBody)))]
pub async fn list_schedules(State(s): State<AppState>, auth: Authorized<Read>) -> ApiResult<Vec<ScheduleView>> {
    let now = Utc::now();
    Ok(Json(s.oncall.list_schedules(auth.project()).await?.into_iter().map(|x| ScheduleView::new(x, now)).collect()))
}

/// Create a schedule.
#[utoipa::path(post, path = "/api/oncall/schedules", tag = "oncall", request_body = ScheduleRequest,
    responses((status = 201, body = ScheduleView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_schedule(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    JsonBody(body): JsonBody<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    let spec = spec(body);
    checked(&s, auth.project(), &spec, None).await?;
    let now = Utc::now();
    let schedule = Schedule::new(auth.project(), spec, now);
    slot.set(|n| n.resource = Some(("schedule".into(), schedule.schedule_id.to_string())));
    s.oncall.put_schedule(&schedule).await?;
    tracing::info!(project = %schedule.project_id, schedule = %schedule.schedule_id, name = %schedule.name, "schedule created");
    Ok((StatusCode::CREATED, Json(ScheduleView::new(schedule, now))))
}

/// One schedule with who is on call now.
#[utoipa::path(get, path = "/api/oncall/schedules/{id}", tag = "oncall",
    params(("id" = String, Path, description = "schedule id (a UUID)")),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_schedule(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<ScheduleView> {
    Ok(Json(ScheduleView::new(existing(&s, auth.project(), &id).await?, Utc::now())))
}

/// Replace a schedule's definition (its overrides are kept).
#[utoipa::path(put, path = "/api/oncall/schedules/{id}", tag = "oncall", request_body = ScheduleRequest,
    params(("id" = String, Path, description = "schedule id (a UUID)")),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace_schedule(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScheduleRequest>,
) -> ApiResult<ScheduleView> {
    slot.set(|n| n.resource = Some(("schedule".into(), id.clone())));
    let current = existing(&s, auth.project(), &id).await?;
    let spec = spec(body);
    checked(&s, auth.project(), &spec, Some(current.schedule_id)).await?;
    let now = Utc::now();
    s.oncall.put_schedule(&current.replaced(spec, now)).await?;
    tracing::info!(project = %auth.project(), schedule = %current.schedule_id, "schedule replaced");
    Ok(Json(ScheduleView::new(existing(&s, auth.project(), &id).await?, now)))
}

/// Delete a schedule (soft: no longer listed, found or covering services). Its
/// assignments escalate no further; a step of another schedule naming it reaches nobody.
#[utoipa::path(delete, path = "/api/oncall/schedules/{id}", tag = "oncall",
    params(("id" = String, Path, description = "schedule id (a UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_schedule(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    slot.set(|n| n.resource = Some(("schedule".into(), id.clone())));
    let schedule_id: Uuid = parse_id("schedule_id", &id)?;
    if !s.oncall.delete_schedule(auth.project(), schedule_id, Utc::now()).await? {
        return Err(ApiError::not_found(format!("no schedule {schedule_id}")));
    }
    tracing::info!(project = %auth.project(), schedule = %schedule_id, "schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Put someone on call instead of the rotation for a while; where overrides overlap,
/// the one added last wins.
#[utoipa::path(post, path = "/api/oncall/schedules/{id}/overrides", tag = "oncall", request_body = OverrideRequest,
    params(("id" = String, Path, description = "schedule id (a UUID)")),
    responses((status = 201, body = ScheduleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_override(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OverrideRequest>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    slot.set(|n| n.resource = Some(("schedule".into(), id.clone())));
    let schedule_id: Uuid = parse_id("schedule_id", &id)?;
    let person = body.person.trim().to_string();
    oncall::validate_override(&person, body.from, body.until).map_err(refused)?;
    let now = Utc::now();
    let o = Override { override_id: Uuid::new_v4(), person, from: body.from, until: body.until, created_at: now };
    if !s.oncall.add_override(auth.project(), schedule_id, &o).await? {
        return Err(ApiError::not_found(format!("no schedule {schedule_id}")));
    }
    tracing::info!(project = %auth.project(), schedule = %schedule_id, from = %o.from, until = %o.until, "override added");
    Ok((StatusCode::CREATED, Json(ScheduleView::new(existing(&s, auth.project(), &id).await?, now))))
}

/// Who is on call for a service now, from which schedule, until when.
#[utoipa::path(get, path = "/api/oncall/now", tag = "oncall", params(NowQuery),
    responses((status = 200, body = NowView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn now(State(s): State<AppState>, auth: Authorized<Read>, Query(q): Query<NowQuery>) -> ApiResult<NowView> {
    let service = q.service.map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
    let service = service.ok_or_else(|| ApiError::field("service", "is required: a service name or key"))?;
    let schedules = s.oncall.list_schedules(auth.project()).await?;
    let schedule = schedule_for(&schedules, &service)
        .ok_or_else(|| ApiError::not_found(format!("no schedule covers the service {service}")))?;
    let now = Utc::now();
    let current = on_call(schedule, now);
    let next = current.as_ref().and_then(|c| on_call(schedule, c.until));
    Ok(Json(NowView {
        service,
        schedule_id: schedule.schedule_id,
        schedule: schedule.name.clone(),
        on_call: current,
        next,
    }))
}

/// The incident's assignment to the person on call and the escalations since, or why
/// it has none.
#[utoipa::path(get, path = "/api/incidents/{id}/assignment", tag = "oncall",
    params(("id" = String, Path, description = "incident UUID")),
    responses((status = 200, body = AssignmentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn incident_assignment(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    IncidentPath(id): IncidentPath,
) -> ApiResult<AssignmentView> {
    let project = auth.project();
    let inc = s
        .ingest
        .store_in(project)
        .get_incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))?;
    let schedules = s.oncall.list_schedules(project).await?;
    let assignment = s.oncall.get_assignment(project, id).await?;
    let schedule = assignment
        .as_ref()
        .and_then(|a| schedules.iter().find(|x| x.schedule_id == a.schedule_id))
        .map(|x| x.name.clone());
    let reason = match (&assignment, schedule_for(&schedules, &inc.service)) {
        (Some(_), _) => None,
        (None, None) => Some(format!("no schedule covers the service {}", inc.service)),
        (None, Some(_)) if inc.status != IncidentStatus::Open => {
            Some(format!("it was {} before anyone on call was assigned", inc.status))
        }
        (None, Some(x)) if on_call(x, Utc::now()).is_none() => {
            Some(format!("nobody is on call in the schedule {}", x.name))
        }
        (None, Some(x)) => {
            Some(format!("not assigned yet: the responder assigns it from the schedule {} on its next round", x.name))
        }
    };
    Ok(Json(AssignmentView {
        incident_id: id.to_string(),
        assigned: assignment.is_some(),
        assignment,
        schedule,
        reason,
    }))
}
