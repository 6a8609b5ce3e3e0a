//! Runbooks: list, create, read (rebuilt from its chunks), replace and delete, in the
//! caller's project. A runbook is markdown, optionally opening with YAML front matter,
//! stored as one `runbooks` point per section (`inquest_feeds::runbooks`). Writes are
//! counted as feed `runbooks`; a runbook written by folder sync belongs to its folder
//! and is changed there, not here (`409`).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use inquest_feeds::runbooks::{self, API_ORIGIN, Fields, Runbook, Section, Stored, Summary};
use inquest_feeds::{Feed, FeedError};
use inquest_ports::Stores;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiResult;
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, Ingest, Read};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;

/// A runbook to write. `body` is markdown and may open with YAML front matter
/// (`title`, `service`, `tags`, `source_url`); the fields given here win over it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookRequest {
    /// For a create: the id (1 to 200 of `A-Z a-z 0-9 . _ - /`), derived from the
    /// title when absent. For a replace: absent or the path's id.
    pub id: Option<String>,
    pub title: Option<String>,
    /// A service name (`checkout`) or key (`cluster/namespace/name`).
    pub service: Option<String>,
    pub tags: Option<Vec<String>>,
    pub source_url: Option<String>,
    pub body: String,
}

/// A runbook as listed.
#[derive(Serialize, ToSchema)]
pub struct RunbookItem {
    pub id: String,
    pub title: String,
    /// The service key, when the runbook names one.
    pub service: Option<String>,
    pub tags: Vec<String>,
    pub source_url: Option<String>,
    /// `api` or `folder:<dir>`.
    pub origin: String,
    pub chunks: usize,
}

impl From<Summary> for RunbookItem {
    fn from(s: Summary) -> Self {
        RunbookItem {
            id: s.id,
            title: s.title,
            service: s.service_key,
            tags: s.tags,
            source_url: s.source_url,
            origin: s.origin,
            chunks: s.chunks,
        }
    }
}

/// One section of a runbook with its steps (the list items).
#[derive(Serialize, ToSchema)]
pub struct SectionView {
    pub heading: Option<String>,
    pub level: u8,
    pub markdown: String,
    pub steps: Vec<String>,
}

/// A runbook rebuilt from its chunks.
#[derive(Serialize, ToSchema)]
pub struct RunbookView {
    #[serde(flatten)]
    pub runbook: RunbookItem,
    /// The markdown body (secrets redacted), without front matter.
    pub body: String,
    pub sections: Vec<SectionView>,
}

impl From<Stored> for RunbookView {
    fn from(s: Stored) -> Self {
        RunbookView {
            runbook: s.summary.into(),
            body: s.body,
            sections: s
                .sections
                .into_iter()
                .map(|Section { heading, level, text, steps }| SectionView { heading, level, markdown: text, steps })
                .collect(),
        }
    }
}

/// What a write did.
#[derive(Serialize, ToSchema)]
pub struct RunbookWritten {
    pub id: String,
    pub chunks: usize,
    /// Chunks of the previous version removed (a shorter body).
    pub removed: u64,
}

fn count(s: &AppState, outcome: &str) {
    s.feeds.metrics.events.with_label_values(&[Feed::Runbooks.as_str(), outcome]).inc();
}

fn refuse(s: &AppState, e: FeedError) -> ApiError {
    count(s, "rejected");
    s.feeds.metrics.rejected.with_label_values(&[Feed::Runbooks.as_str(), e.reason()]).inc();
    match e {
        FeedError::Invalid { field, message } => ApiError::field(&field, message),
        FeedError::Store(e) => e.into(),
    }
}

/// An id from a title: lowercase words joined by `-`.
fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(200).collect()
}

fn parse(id: &str, body: RunbookRequest) -> Result<Runbook, FeedError> {
    let fields = Fields { title: body.title, service: body.service, tags: body.tags, source_url: body.source_url };
    Runbook::parse(id, fields, &body.body)
}

async fn write(
    s: &AppState,
    stores: &Stores,
    runbook: &Runbook,
    previous: &[inquest_ports::StoredPoint],
) -> Result<RunbookWritten, ApiError> {
    let w = runbooks::put(stores, runbook, API_ORIGIN, previous).await.map_err(|e| refuse(s, e))?;
    count(s, "stored");
    tracing::info!(runbook = %runbook.id, chunks = w.chunks, removed = w.removed, "runbook written");
    Ok(RunbookWritten { id: runbook.id.clone(), chunks: w.chunks, removed: w.removed })
}

/// The project's runbooks.
#[utoipa::path(get, path = "/api/runbooks", tag = "runbooks",
    responses((status = 200, body = Vec<RunbookItem>), (status = 503, body = ErrorBody)))]
pub async fn list_runbooks(State(s): State<AppState>, auth: Authorized<Read>) -> ApiResult<Vec<RunbookItem>> {
    let stores = s.stores.for_project(auth.project());
    Ok(Json(runbooks::list(&stores).await?.into_iter().map(RunbookItem::from).collect()))
}

/// Create a runbook; `409` when its id exists.
#[utoipa::path(post, path = "/api/runbooks", tag = "runbooks", request_body = RunbookRequest,
    responses((status = 201, body = RunbookWritten), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_runbook(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Ingest>,
    JsonBody(body): JsonBody<RunbookRequest>,
) -> Result<(StatusCode, Json<RunbookWritten>), ApiError> {
    count(&s, "received");
    let id = match &body.id {
        Some(id) => id.clone(),
        None => {
            let title = body
                .title
                .clone()
                .or_else(|| Runbook::parse("untitled", Fields::default(), &body.body).ok().map(|r| r.title));
            // Without a title the parser below refuses it, naming `title`.
            Some(slug(title.as_deref().unwrap_or_default())).filter(|s| !s.is_empty()).unwrap_or("untitled".into())
        }
    };
    let runbook = parse(&id, body).map_err(|e| refuse(&s, e))?;
    slot.set(|n| n.resource = Some(("runbook".into(), runbook.id.clone())));
    let stores = s.stores.for_project(auth.project());
    if !runbooks::points(&stores, &runbook.id).await?.is_empty() {
        count(&s, "duplicate");
        return Err(ApiError::Conflict(format!("runbook '{}' exists: replace it with PUT", runbook.id)));
    }
    Ok((StatusCode::CREATED, Json(write(&s, &stores, &runbook, &[]).await?)))
}

async fn existing(stores: &Stores, id: &str) -> Result<(Vec<inquest_ports::StoredPoint>, Stored), ApiError> {
    runbooks::check_id(id).map_err(|e| match e {
        FeedError::Invalid { field, message } => ApiError::field(&field, message),
        FeedError::Store(e) => e.into(),
    })?;
    let points = runbooks::points(stores, id).await?;
    let stored = runbooks::rebuild(points.clone()).ok_or_else(|| ApiError::not_found(format!("no runbook '{id}'")))?;
    Ok((points, stored))
}

fn owned_here(stored: &Stored) -> Result<(), ApiError> {
    if stored.summary.origin.starts_with("folder:") {
        return Err(ApiError::Conflict(format!(
            "runbook '{}' comes from folder sync ({}): change its file",
            stored.summary.id, stored.summary.origin
        )));
    }
    Ok(())
}

/// One runbook, rebuilt from its chunks: the body and its sections with their steps.
#[utoipa::path(get, path = "/api/runbooks/{id}", tag = "runbooks",
    params(("id" = String, Path, description = "runbook id (a `/` in it is sent as `%2F`)")),
    responses((status = 200, body = RunbookView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_runbook(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Path(id): Path<String>,
) -> ApiResult<RunbookView> {
    let (_, stored) = existing(&s.stores.for_project(auth.project()), &id).await?;
    Ok(Json(stored.into()))
}

/// Replace a runbook: every chunk is rewritten and those past the new end removed.
#[utoipa::path(put, path = "/api/runbooks/{id}", tag = "runbooks", request_body = RunbookRequest,
    params(("id" = String, Path, description = "runbook id")),
    responses((status = 200, body = RunbookWritten), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn replace_runbook(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Ingest>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RunbookRequest>,
) -> ApiResult<RunbookWritten> {
    count(&s, "received");
    slot.set(|n| n.resource = Some(("runbook".into(), id.clone())));
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(refuse(&s, FeedError::invalid("id", "differs from the path's id")));
    }
    let stores = s.stores.for_project(auth.project());
    let (previous, stored) = existing(&stores, &id).await?;
    owned_here(&stored)?;
    let runbook = parse(&id, body).map_err(|e| refuse(&s, e))?;
    Ok(Json(write(&s, &stores, &runbook, &previous).await?))
}

/// Delete a runbook and every chunk of it.
#[utoipa::path(delete, path = "/api/runbooks/{id}", tag = "runbooks",
    params(("id" = String, Path, description = "runbook id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_runbook(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<Ingest>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    slot.set(|n| n.resource = Some(("runbook".into(), id.clone())));
    let stores = s.stores.for_project(auth.project());
    let (_, stored) = existing(&stores, &id).await?;
    owned_here(&stored)?;
    let removed = runbooks::delete(&stores, &id).await?;
    tracing::info!(runbook = %id, removed, "runbook deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slug("Postgres failover: the primary is down!"), "postgres-failover-the-primary-is-down");
        assert_eq!(super::slug("  "), "");
    }
}
