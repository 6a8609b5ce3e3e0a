//! Notification channels of the caller's project and their deliveries: list, create,
//! read, replace and delete channels (Slack-compatible webhook, generic JSON webhook,
//! e-mail), queue a test notice, list deliveries (by channel, incident or state,
//! paged) and queue a failed one again. Webhook URLs and secrets are sealed with the
//! server's keyring before they are stored and never shown again: answers carry the
//! masked URL only. Readers read; channel and delivery writes need
//! `manage_integrations`. Nothing here sends: the worker of `inquest serve` does.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use inquest_domain::{IncidentId, ProjectId};
use inquest_ops::channels::{self as model, *};
use inquest_ops::notify::{Notice, NoticeEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::ApiResult;
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, ManageIntegrations, Read};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, Query};

/// A channel to create, or the whole of one to replace. The URL (and secret) is
/// given in full every time: it is sealed and never read back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    pub name: String,
    /// `slack`, `webhook` or `email`.
    pub kind: String,
    /// `slack`: the incoming webhook URL.
    pub webhook_url: Option<String>,
    /// `webhook`: where the JSON is posted.
    pub url: Option<String>,
    /// `webhook`, optional: signs each body (`X-Inquest-Signature-256: sha256=<hex HMAC-SHA256>`), 16 to 512 bytes.
    pub secret: Option<String>,
    /// `email`: the addresses (`name@example.com`).
    pub to: Option<Vec<String>>,
    /// `assigned`, `escalated`, `paged`, `diagnosed`; none or empty: all.
    pub events: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// How a channel's attempts went.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// After 3 failed attempts in a row.
    pub failing: bool,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_failure_at: Option<String>,
    pub last_success_at: Option<String>,
}

/// A channel as shown: its target masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub channel_id: Uuid,
    pub name: String,
    /// `slack`, `webhook` or `email`.
    pub kind: String,
    /// The URL's scheme and host only (`https://hooks.slack.com/…`), or the addresses.
    pub target: String,
    /// A generic webhook with a signing secret.
    pub signed: bool,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub health: HealthView,
}

impl From<ChannelState> for ChannelView {
    fn from(s: ChannelState) -> Self {
        let c = s.channel;
        let h = s.health;
        ChannelView {
            channel_id: c.channel_id,
            name: c.name,
            kind: c.target.kind().as_str().into(),
            target: c.target.shown(),
            signed: matches!(&c.target, ChannelTarget::Webhook { secret_sealed: Some(_), .. }),
            events: c.events.iter().map(|e| e.as_str().to_string()).collect(),
            enabled: c.enabled,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            health: HealthView {
                failing: h.failing(),
                consecutive_failures: h.consecutive_failures,
                last_error: h.last_error,
                last_failure_at: h.last_failure_at.map(|t| t.to_rfc3339()),
                last_success_at: h.last_success_at.map(|t| t.to_rfc3339()),
            },
        }
    }
}

/// One notice on its way to one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub delivery_id: Uuid,
    pub channel_id: Uuid,
    pub incident_id: String,
    /// Why it is sent: `assigned`, `escalated`, `paged` or `diagnosed`.
    pub event: String,
    pub subject: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            delivery_id: d.delivery_id,
            channel_id: d.channel_id,
            incident_id: d.notice.incident_id.to_string(),
            event: d.notice.event.as_str().into(),
            subject: d.notice.subject(),
            state: d.state.as_str().into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.to_rfc3339(),
            last_error: d.last_error,
            created_at: d.created_at.to_rfc3339(),
            sent_at: d.sent_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPageView {
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub items: Vec<DeliveryView>,
}

/// Filters and paging of the delivery list (newest first).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryListQuery {
    /// A channel id.
    pub channel: Option<String>,
    /// An incident id.
    pub incident: Option<String>,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// Items to skip (default 0).
    pub offset: Option<String>,
}

fn field(e: inquest_ops::FieldError) -> ApiError {
    ApiError::field(&e.field, e.message)
}

fn uuid_of(field: &str, what: &str, s: &str) -> Result<Uuid, ApiError> {
    s.parse().map_err(|_| ApiError::field(field, format!("'{s}' is not a {what} id (a UUID)")))
}

fn event(field: &str, s: &str) -> Result<NoticeEvent, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| ApiError::field(field, format!("'{s}' is not one of assigned, escalated, paged, diagnosed")))
}

fn required<T>(kind: &str, name: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| ApiError::field(name, format!("is required for kind {kind}")))
}

fn refuse_extra(kind: &str, fields: &[(&str, bool)]) -> Result<(), ApiError> {
    match fields.iter().find(|(_, given)| *given) {
        Some((name, _)) => Err(ApiError::field(name, format!("does not belong to kind {kind}"))),
        None => Ok(()),
    }
}

/// The body as a `NewChannel` (validated: every refusal names the field).
fn new_channel(body: ChannelBody) -> Result<NewChannel, ApiError> {
    let kind: ChannelKind = body.kind.parse().map_err(|e: String| ApiError::field("kind", e))?;
    let k = kind.as_str();
    let target = match kind {
        ChannelKind::Slack => {
            refuse_extra(
                k,
                &[("url", body.url.is_some()), ("secret", body.secret.is_some()), ("to", body.to.is_some())],
            )?;
            NewTarget::Slack { webhook_url: required(k, "webhook_url", body.webhook_url)? }
        }
        ChannelKind::Webhook => {
            refuse_extra(k, &[("webhook_url", body.webhook_url.is_some()), ("to", body.to.is_some())])?;
            NewTarget::Webhook { url: required(k, "url", body.url)?, secret: body.secret }
        }
        ChannelKind::Email => {
            refuse_extra(
                k,
                &[
                    ("webhook_url", body.webhook_url.is_some()),
                    ("url", body.url.is_some()),
                    ("secret", body.secret.is_some()),
                ],
            )?;
            NewTarget::Email { to: required(k, "to", body.to)? }
        }
    };
    let mut events = Vec::new();
    for (i, e) in body.events.unwrap_or_default().iter().enumerate() {
        events.push(event(&format!("events[{i}]"), e)?);
    }
    let new = NewChannel { name: body.name, target, events, enabled: body.enabled.unwrap_or(true) };
    new.validate().map_err(field)?;
    Ok(new)
}

async fn find(s: &AppState, project: &ProjectId, id: &str) -> Result<ChannelState, ApiError> {
    let id = uuid_of("channel_id", "channel", id)?;
    s.notify.get_channel(project, id).await?.ok_or_else(|| ApiError::not_found(format!("no channel {id}")))
}

/// The project's channels, oldest first, with their health.
#[utoipa::path(get, path = "/api/channels", tag = "notifications",
    responses((status = 200, body = Vec<ChannelView>), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_channels(State(s): State<AppState>, auth: Authorized<Read>) -> ApiResult<Vec<ChannelView>> {
    Ok(Json(s.notify.list_channels(auth.project()).await?.into_iter().map(ChannelView::from).collect()))
}

/// Create a channel; its URL and secret are sealed at rest and shown masked from now on.
#[utoipa::path(post, path = "/api/channels", tag = "notifications", request_body = ChannelBody,
    responses((status = 201, body = ChannelView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_channel(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    JsonBody(body): JsonBody<ChannelBody>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let new = new_channel(body)?;
    let ring = s.access.keyring.clone();
    let channel = new.into_channel(auth.project(), Utc::now(), &|plain| ring.seal(plain)).map_err(field)?;
    slot.set(|n| n.resource = Some(("channel".into(), channel.channel_id.to_string())));
    s.notify.create_channel(&channel).await?;
    tracing::info!(channel = %channel.channel_id, kind = channel.target.kind().as_str(), "notification channel created");
    Ok((StatusCode::CREATED, Json(ChannelState { channel, health: ChannelHealth::default() }.into())))
}

/// One channel with its health.
#[utoipa::path(get, path = "/api/channels/{id}", tag = "notifications",
    params(("id" = String, Path, description = "channel UUID")),
    responses((status = 200, body = ChannelView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_channel(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<ChannelView> {
    Ok(Json(find(&s, auth.project(), &id).await?.into()))
}

/// Replace a channel (give its URL and secret again: they are never read back).
#[utoipa::path(put, path = "/api/channels/{id}", tag = "notifications", request_body = ChannelBody,
    params(("id" = String, Path, description = "channel UUID")),
    responses((status = 200, body = ChannelView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace_channel(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ChannelBody>,
) -> ApiResult<ChannelView> {
    let current = find(&s, auth.project(), &id).await?;
    slot.set(|n| n.resource = Some(("channel".into(), current.channel.channel_id.to_string())));
    let new = new_channel(body)?;
    let ring = s.access.keyring.clone();
    let next = new.replace(&current.channel, Utc::now(), &|plain| ring.seal(plain)).map_err(field)?;
    if !s.notify.replace_channel(&next).await? {
        return Err(ApiError::not_found(format!("no channel {}", next.channel_id)));
    }
    Ok(Json(find(&s, auth.project(), &next.channel_id.to_string()).await?.into()))
}

/// Delete a channel: nothing new is queued for it; its deliveries stay listed.
#[utoipa::path(delete, path = "/api/channels/{id}", tag = "notifications",
    params(("id" = String, Path, description = "channel UUID")),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_channel(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = uuid_of("channel_id", "channel", &id)?;
    slot.set(|n| n.resource = Some(("channel".into(), id.to_string())));
    if !s.notify.delete_channel(auth.project(), id, Utc::now()).await? {
        return Err(ApiError::not_found(format!("no channel {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The notice a test sends: no real incident, every field a message shows.
fn test_notice(channel: &Channel) -> Notice {
    let incident = IncidentId(Uuid::nil());
    Notice {
        incident_id: incident,
        event: NoticeEvent::Assigned,
        at: Utc::now(),
        service: "inquest".into(),
        severity: "info".into(),
        status: "test".into(),
        recipient: None,
        cause: None,
        link: Notice::link_of(incident),
        reason: format!("a test notice for the channel '{}'", channel.name),
    }
}

/// Queue a test notice to the channel (whatever its events); the worker sends it
/// like any other, with retries.
#[utoipa::path(post, path = "/api/channels/{id}/test", tag = "notifications",
    params(("id" = String, Path, description = "channel UUID")),
    responses((status = 202, body = DeliveryView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test_channel(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let current = find(&s, auth.project(), &id).await?;
    let id = current.channel.channel_id;
    slot.set(|n| n.resource = Some(("channel".into(), id.to_string())));
    let notice = test_notice(&current.channel);
    let d = s
        .notify
        .enqueue_to(auth.project(), id, &notice, Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no channel {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

fn parse_usize(field: &str, v: &Option<String>, min: usize, max: usize, default: usize) -> Result<usize, ApiError> {
    let Some(s) = v else { return Ok(default) };
    let n: usize = s.trim().parse().map_err(|_| ApiError::field(field, format!("'{s}' is not a number")))?;
    if n < min || n > max {
        return Err(ApiError::field(field, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

/// Deliveries, newest first: by channel, incident or state, paged.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", params(DeliveryListQuery),
    responses((status = 200, body = DeliveryPageView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_notifications(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Query(q): Query<DeliveryListQuery>,
) -> ApiResult<DeliveryPageView> {
    let query = DeliveryQuery {
        channel: q.channel.as_deref().map(|c| uuid_of("channel", "channel", c)).transpose()?,
        incident: q.incident.as_deref().map(|i| uuid_of("incident", "incident", i).map(IncidentId)).transpose()?,
        state: q.state.as_deref().map(|v| v.parse().map_err(|e: String| ApiError::field("state", e))).transpose()?,
        limit: parse_usize("limit", &q.limit, 1, model::MAX_LIMIT, model::DEFAULT_LIMIT)?,
        offset: parse_usize("offset", &q.offset, 0, usize::MAX, 0)?,
    };
    let page = s.notify.list_deliveries(auth.project(), &query).await?;
    Ok(Json(DeliveryPageView {
        total: page.total,
        limit: query.limit,
        offset: query.offset,
        items: page.deliveries.into_iter().map(DeliveryView::from).collect(),
    }))
}

/// Queue a failed delivery again, now, with a fresh count of attempts.
#[utoipa::path(post, path = "/api/notifications/{id}/retry", tag = "notifications",
    params(("id" = String, Path, description = "delivery UUID")),
    responses((status = 202, body = DeliveryView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn retry_notification(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let id = uuid_of("delivery_id", "delivery", &id)?;
    slot.set(|n| n.resource = Some(("delivery".into(), id.to_string())));
    match s.notify.retry(auth.project(), id, Utc::now()).await? {
        Retried::Queued(d) => Ok((StatusCode::ACCEPTED, Json((*d).into()))),
        Retried::NotFound => Err(ApiError::not_found(format!("no delivery {id}"))),
        Retried::NotFailed(state) => {
            Err(ApiError::Conflict(format!("delivery {id} is {}: only a failed delivery is retried", state.as_str())))
        }
    }
}
