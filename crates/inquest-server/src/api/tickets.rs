//! Follow-up tickets in the caller's project: the filtered, paged list (`status=ready`
//! for the pending tickets whose dependencies are all completed), create, read with
//! the history, patch (every change appends an event), the history itself, the
//! dependencies (a cycle refused naming `depends_on_id`), and the follow-ups an
//! incident offers, created once. Readers read; responders write.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use inquest_domain::{EvidenceKind, Hypothesis, ProjectId, collections};
use inquest_ops::tickets::{self as model, *};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiResult, parse_id, service_keys};
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, Read, Respond};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IncidentPath, JsonBody, Query};

/// How many of an incident's ranked hypotheses become follow-ups.
pub const FOLLOW_UP_HYPOTHESES: usize = 3;

/// Filters and paging of the ticket list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketListQuery {
    /// `pending`, `in_progress`, `completed`, `failed`, `blocked`, or `ready` (pending
    /// with every dependency completed).
    pub status: Option<String>,
    /// `incident`, `slo`, `invariant` or `human`.
    pub source_type: Option<String>,
    /// The incident, SLO or invariant id.
    pub source_id: Option<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub priority: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// Items to skip (default 0).
    pub offset: Option<String>,
}

/// A ticket, with whether it is ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    pub objective: String,
    pub success_criteria: Vec<String>,
    #[schema(value_type = Object)]
    pub context: Value,
    /// `pending`, `in_progress`, `completed`, `failed` or `blocked`.
    pub status: String,
    /// `low`, `medium`, `high` or `critical`.
    pub priority: String,
    /// `incident`, `slo`, `invariant` or `human`.
    pub source_type: String,
    pub source_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    /// Pending, and every dependency completed.
    pub ready: bool,
}

impl TicketView {
    fn new(t: Ticket, ready: bool) -> TicketView {
        TicketView {
            id: t.id,
            objective: t.objective,
            success_criteria: t.success_criteria,
            context: t.context,
            status: t.status.as_str().into(),
            priority: t.priority.as_str().into(),
            source_type: t.source_type.as_str().into(),
            source_id: t.source_id,
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
            resolved_at: t.resolved_at.map(|r| r.to_rfc3339()),
            ready,
        }
    }
}

impl From<ListedTicket> for TicketView {
    fn from(l: ListedTicket) -> Self {
        TicketView::new(l.ticket, l.ready)
    }
}

#[derive(Serialize, ToSchema)]
pub struct TicketPageView {
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub items: Vec<TicketView>,
}

/// One entry of a ticket's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketEventView {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub event_type: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: String,
}

impl From<TicketEvent> for TicketEventView {
    fn from(e: TicketEvent) -> Self {
        TicketEventView {
            id: e.id,
            ticket_id: e.ticket_id,
            event_type: e.event_type,
            data: e.data,
            created_at: e.created_at.to_rfc3339(),
        }
    }
}

/// A dependency and the ticket waited on.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyView {
    pub ticket_id: Uuid,
    pub depends_on_id: Uuid,
    pub created_at: String,
    /// The ticket waited on (its `ready` is left false: only its status counts here).
    pub depends_on: TicketView,
}

impl From<DependencyOn> for DependencyView {
    fn from(d: DependencyOn) -> Self {
        DependencyView {
            ticket_id: d.dependency.ticket_id,
            depends_on_id: d.dependency.depends_on_id,
            created_at: d.dependency.created_at.to_rfc3339(),
            depends_on: TicketView::new(d.ticket, false),
        }
    }
}

/// A ticket with its history and what it waits on.
#[derive(Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketView,
    /// Oldest first.
    pub events: Vec<TicketEventView>,
    pub dependencies: Vec<DependencyView>,
}

/// A ticket to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// What is to be done, one line (at most 500 bytes).
    pub objective: String,
    /// How to tell it is done.
    #[serde(default)]
    pub success_criteria: Vec<String>,
    /// A JSON object (default `{}`).
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `low`, `medium` (default), `high` or `critical`.
    pub priority: Option<String>,
    /// `human` (default), `incident`, `slo` or `invariant`.
    pub source_type: Option<String>,
    /// Required unless `source_type` is `human`.
    pub source_id: Option<String>,
}

/// A change to a ticket; every field that changes appends an event.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTicket {
    /// `pending`, `in_progress`, `completed`, `failed` or `blocked`; completed and
    /// failed set `resolved_at`.
    pub status: Option<String>,
    pub priority: Option<String>,
    /// Keys merged into the context; a key set to `null` is removed.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Kept on the events this change appends.
    pub note: Option<String>,
}

/// An event to append (`note`, `agent_action`, ...; the server's own types are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub event_type: String,
    /// A JSON object (default `{}`).
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDependency {
    /// The ticket this one waits on, in the same project.
    pub depends_on_id: Uuid,
}

/// The follow-ups of an incident.
#[derive(Serialize, ToSchema)]
pub struct FollowUps {
    pub incident_id: String,
    /// False when they existed already (nothing was created).
    pub created: bool,
    pub items: Vec<TicketView>,
}

fn field(e: inquest_ops::FieldError) -> ApiError {
    ApiError::field(&e.field, e.message)
}

fn ticket_id(s: &str) -> Result<Uuid, ApiError> {
    s.parse().map_err(|_| ApiError::field("ticket_id", format!("'{s}' is not a ticket id (a UUID)")))
}

fn missing(id: Uuid) -> ApiError {
    ApiError::not_found(format!("ticket {id} not found"))
}

fn parse_usize(field: &str, v: &Option<String>, min: usize, max: usize, default: usize) -> Result<usize, ApiError> {
    let Some(s) = v else { return Ok(default) };
    let n: usize = s.trim().parse().map_err(|_| ApiError::field(field, format!("'{s}' is not a number")))?;
    if n < min || n > max {
        return Err(ApiError::field(field, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

fn query(q: &TicketListQuery) -> Result<TicketQuery, ApiError> {
    let q = TicketQuery {
        status: q.status.as_deref().map(|v| parse_id::<StatusFilter>("status", v)).transpose()?,
        source_type: q.source_type.as_deref().map(|v| parse_id::<TicketSource>("source_type", v)).transpose()?,
        source_id: q.source_id.clone(),
        priority: q.priority.as_deref().map(|v| parse_id::<TicketPriority>("priority", v)).transpose()?,
        limit: parse_usize("limit", &q.limit, 1, model::MAX_LIMIT, model::DEFAULT_LIMIT)?,
        offset: parse_usize("offset", &q.offset, 0, usize::MAX, 0)?,
    };
    q.validate().map_err(field)?;
    Ok(q)
}

/// Tickets, most urgent first, then oldest first.
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", params(TicketListQuery),
    responses((status = 200, body = TicketPageView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_tickets(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Query(q): Query<TicketListQuery>,
) -> ApiResult<TicketPageView> {
    let q = query(&q)?;
    let page = s.tickets.list_tickets(auth.project(), &q).await?;
    Ok(Json(TicketPageView {
        total: page.total,
        limit: q.limit,
        offset: q.offset,
        items: page.tickets.into_iter().map(TicketView::from).collect(),
    }))
}

/// Create a ticket (pending, with its `created` event).
#[utoipa::path(post, path = "/api/tickets", tag = "tickets", request_body = CreateTicket,
    responses((status = 201, body = TicketView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_ticket(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    JsonBody(body): JsonBody<CreateTicket>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let new = NewTicket {
        objective: body.objective,
        success_criteria: body.success_criteria,
        context: body.context.unwrap_or_else(|| Value::Object(Default::default())),
        priority: body
            .priority
            .as_deref()
            .map(|v| parse_id("priority", v))
            .transpose()?
            .unwrap_or(TicketPriority::Medium),
        source_type: body
            .source_type
            .as_deref()
            .map(|v| parse_id("source_type", v))
            .transpose()?
            .unwrap_or(TicketSource::Human),
        source_id: body.source_id,
    };
    let (ticket, created) = new.into_ticket(auth.project(), Utc::now()).map_err(field)?;
    slot.set(|n| n.resource = Some(("ticket".into(), ticket.id.to_string())));
    s.tickets.create_ticket(&ticket, &created).await?;
    tracing::info!(ticket = %ticket.id, source_type = ticket.source_type.as_str(), "ticket created");
    Ok((StatusCode::CREATED, Json(TicketView::new(ticket, true))))
}

async fn detail(s: &AppState, project: &ProjectId, id: Uuid) -> Result<TicketDetail, ApiError> {
    let listed = s.tickets.get_ticket(project, id).await?.ok_or_else(|| missing(id))?;
    let events = s.tickets.events(project, id).await?.ok_or_else(|| missing(id))?;
    let dependencies = s.tickets.dependencies(project, id).await?.ok_or_else(|| missing(id))?;
    Ok(TicketDetail {
        ticket: listed.into(),
        events: events.into_iter().map(TicketEventView::from).collect(),
        dependencies: dependencies.into_iter().map(DependencyView::from).collect(),
    })
}

/// One ticket with its history (oldest first) and its dependencies.
#[utoipa::path(get, path = "/api/tickets/{id}", tag = "tickets", params(("id" = String, Path, description = "ticket UUID")),
    responses((status = 200, body = TicketDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<TicketDetail> {
    Ok(Json(detail(&s, auth.project(), ticket_id(&id)?).await?))
}

/// Change a ticket's status, priority or context; each change appends an event.
#[utoipa::path(patch, path = "/api/tickets/{id}", tag = "tickets", request_body = PatchTicket,
    params(("id" = String, Path, description = "ticket UUID")),
    responses((status = 200, body = TicketDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch_ticket(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchTicket>,
) -> ApiResult<TicketDetail> {
    let id = ticket_id(&id)?;
    slot.set(|n| n.resource = Some(("ticket".into(), id.to_string())));
    let patch = TicketPatch {
        status: body.status.as_deref().map(|v| parse_id("status", v)).transpose()?,
        priority: body.priority.as_deref().map(|v| parse_id("priority", v)).transpose()?,
        context: body.context,
        note: body.note,
    };
    match s.tickets.patch_ticket(auth.project(), id, &patch, Utc::now()).await? {
        Patched::Done(t) => tracing::info!(ticket = %id, status = t.status.as_str(), "ticket changed"),
        Patched::NotFound => return Err(missing(id)),
        Patched::Refused(e) => return Err(field(e)),
    }
    Ok(Json(detail(&s, auth.project(), id).await?))
}

/// The ticket's history, oldest first.
#[utoipa::path(get, path = "/api/tickets/{id}/events", tag = "tickets", params(("id" = String, Path, description = "ticket UUID")),
    responses((status = 200, body = Vec<TicketEventView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_events(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<Vec<TicketEventView>> {
    let id = ticket_id(&id)?;
    let events = s.tickets.events(auth.project(), id).await?.ok_or_else(|| missing(id))?;
    Ok(Json(events.into_iter().map(TicketEventView::from).collect()))
}

/// Append an event (a note, an agent's action); the history is never rewritten.
#[utoipa::path(post, path = "/api/tickets/{id}/events", tag = "tickets", request_body = NewEvent,
    params(("id" = String, Path, description = "ticket UUID")),
    responses((status = 201, body = TicketEventView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn post_event(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewEvent>,
) -> Result<(StatusCode, Json<TicketEventView>), ApiError> {
    let id = ticket_id(&id)?;
    slot.set(|n| n.resource = Some(("ticket".into(), id.to_string())));
    let data = body.data.unwrap_or_else(|| Value::Object(Default::default()));
    let event = model::client_event(id, &body.event_type, data, Utc::now()).map_err(field)?;
    if !s.tickets.append_event(auth.project(), &event).await? {
        return Err(missing(id));
    }
    Ok((StatusCode::CREATED, Json(event.into())))
}

/// What the ticket waits on, oldest dependency first.
#[utoipa::path(get, path = "/api/tickets/{id}/dependencies", tag = "tickets",
    params(("id" = String, Path, description = "ticket UUID")),
    responses((status = 200, body = Vec<DependencyView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_dependencies(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<Vec<DependencyView>> {
    let id = ticket_id(&id)?;
    let deps = s.tickets.dependencies(auth.project(), id).await?.ok_or_else(|| missing(id))?;
    Ok(Json(deps.into_iter().map(DependencyView::from).collect()))
}

/// Make the ticket wait on another of the project's tickets; `400` naming
/// `depends_on_id` when that would close a cycle. Adding it again changes nothing.
#[utoipa::path(post, path = "/api/tickets/{id}/dependencies", tag = "tickets", request_body = NewDependency,
    params(("id" = String, Path, description = "ticket UUID")),
    responses((status = 201, body = Vec<DependencyView>), (status = 200, body = Vec<DependencyView>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_dependency(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewDependency>,
) -> Result<(StatusCode, Json<Vec<DependencyView>>), ApiError> {
    let id = ticket_id(&id)?;
    slot.set(|n| n.resource = Some(("ticket".into(), id.to_string())));
    let status = match s.tickets.add_dependency(auth.project(), id, body.depends_on_id, Utc::now()).await? {
        AddDependency::Added(_) => StatusCode::CREATED,
        AddDependency::Exists(_) => StatusCode::OK,
        AddDependency::MissingTicket(m) if m == id => return Err(missing(id)),
        AddDependency::MissingTicket(m) => {
            return Err(ApiError::field("depends_on_id", format!("no ticket {m} in this project")));
        }
        AddDependency::Cycle(path) => return Err(field(model::cycle_error(&path))),
    };
    let deps = s.tickets.dependencies(auth.project(), id).await?.ok_or_else(|| missing(id))?;
    Ok((status, Json(deps.into_iter().map(DependencyView::from).collect())))
}

/// Stop the ticket waiting on `dep_id`.
#[utoipa::path(delete, path = "/api/tickets/{id}/dependencies/{dep_id}", tag = "tickets",
    params(("id" = String, Path, description = "ticket UUID"), ("dep_id" = String, Path, description = "the UUID of the ticket waited on")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_dependency(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    Path((id, dep_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = ticket_id(&id)?;
    let dep: Uuid =
        dep_id.parse().map_err(|_| ApiError::field("dep_id", format!("'{dep_id}' is not a ticket id (a UUID)")))?;
    slot.set(|n| n.resource = Some(("ticket".into(), id.to_string())));
    if !s.tickets.remove_dependency(auth.project(), id, dep, Utc::now()).await? {
        return Err(ApiError::not_found(format!("ticket {id} does not depend on {dep}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The runbooks suggested for an incident: `(title, source url)` of its runbook matches.
fn suggested_runbooks(evidence: &[inquest_domain::EvidenceArtifact]) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for e in evidence.iter().filter(|e| {
        e.kind == EvidenceKind::SemanticMatch
            && e.metadata.get("collection").and_then(Value::as_str) == Some(collections::RUNBOOKS)
    }) {
        let payload = e.metadata.get("payload");
        let title = payload.and_then(|p| p.get("title")).and_then(Value::as_str).unwrap_or("runbook").to_string();
        let url = payload.and_then(|p| p.get("source_url")).and_then(Value::as_str).map(str::to_string);
        // One ticket per runbook, however many of its sections matched.
        if !out.iter().any(|(t, u)| *t == title && *u == url) {
            out.push((title, url));
        }
    }
    out
}

/// Create the incident's follow-up tickets, once: one per top ranked hypothesis (to
/// confirm or rule out) and one per suggested runbook. A second call creates nothing
/// and returns those created first.
#[utoipa::path(post, path = "/api/incidents/{id}/tickets", tag = "tickets",
    params(("id" = String, Path, description = "incident UUID")),
    responses((status = 201, body = FollowUps), (status = 200, body = FollowUps), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn incident_tickets(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Respond>,
    IncidentPath(id): IncidentPath,
) -> Result<(StatusCode, Json<FollowUps>), ApiError> {
    slot.set(|n| n.resource = Some(("incident".into(), id.to_string())));
    let project = auth.project();
    let stores = s.stores.for_project(project);
    let incident = stores
        .records
        .get_incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))?;
    let hypotheses: Vec<Hypothesis> = stores.records.hypotheses(id).await?;
    let evidence = stores.records.evidence(id).await?;
    let services = service_keys(&stores).await?;
    let service = services.get(&incident.service_id).map(|x| x.service_key()).unwrap_or_default();
    let now = Utc::now();
    let offered =
        model::follow_ups(&incident, &service, &hypotheses, &suggested_runbooks(&evidence), FOLLOW_UP_HYPOTHESES);
    if offered.is_empty() {
        return Err(ApiError::Conflict(format!(
            "incident {id} offers no follow-ups yet: it has no ranked hypotheses and no suggested runbooks"
        )));
    }
    // A tiny step keeps the list in the offered order (oldest first within a priority).
    let mut rows = Vec::with_capacity(offered.len());
    for (i, n) in offered.into_iter().enumerate() {
        rows.push(n.into_ticket(project, now + chrono::Duration::milliseconds(i as i64)).map_err(field)?);
    }
    let source_id = id.to_string();
    let (tickets, created) = s.tickets.create_for_source(project, TicketSource::Incident, &source_id, &rows).await?;
    if created {
        tracing::info!(incident = %id, tickets = tickets.len(), "follow-up tickets created");
    }
    let mut items = Vec::with_capacity(tickets.len());
    for t in tickets {
        // Readiness as stored now (another caller may have moved them on).
        let ready = s.tickets.get_ticket(project, t.id).await?.is_some_and(|l| l.ready);
        items.push(TicketView::new(t, ready));
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(FollowUps { incident_id: id.to_string(), created, items })))
}
