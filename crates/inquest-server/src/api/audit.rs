//! Reading the audit log: the project's entries, newest first, filtered, a page at a
//! time. There is no route that changes or deletes an entry.

use axum::Json;
use axum::extract::State;
use inquest_domain::{AuditEntry, AuditOutcome};
use inquest_ports::AuditQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, parse_time};
use crate::AppState;
use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// e.g. `user:admin`, `token:<id>`, `anonymous`.
    pub actor: Option<String>,
    /// e.g. `incident.feedback`, `token.create`, `auth.login`.
    pub action: Option<String>,
    /// `allowed`, `denied` or `failed`.
    pub outcome: Option<String>,
    pub resource_type: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Entries before this time (RFC 3339).
    pub to: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<String>,
}

fn cursor(e: &AuditEntry) -> String {
    format!("{}_{}", e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), e.audit_id)
}

fn parse_cursor(s: &str) -> Result<(inquest_domain::Timestamp, uuid::Uuid), ApiError> {
    let bad = || ApiError::field("before", format!("'{s}' is not a cursor (the `next` of a page)"));
    let (at, id) = s.rsplit_once('_').ok_or_else(bad)?;
    let at = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&chrono::Utc);
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// The project's audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "access", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_audit(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Query(q): Query<AuditParams>,
) -> ApiResult<AuditPage> {
    let outcome = match q.outcome.as_deref() {
        None => None,
        Some("allowed") => Some(AuditOutcome::Allowed),
        Some("denied") => Some(AuditOutcome::Denied),
        Some("failed") => Some(AuditOutcome::Failed),
        Some(other) => return Err(ApiError::field("outcome", format!("'{other}' is not allowed, denied or failed"))),
    };
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(l) => match l.trim().parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return Err(ApiError::field("limit", format!("'{l}' is not a number from 1 to 500"))),
        },
    };
    let query = AuditQuery {
        actor: q.actor,
        action: q.action,
        outcome,
        resource_type: q.resource_type,
        from: q.from.as_deref().map(|t| parse_time("from", t)).transpose()?,
        to: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        before: q.before.as_deref().map(parse_cursor).transpose()?,
        // One more than asked tells whether there is a next page.
        limit: limit + 1,
    };
    let mut entries = s.access.store.audit(auth.project(), &query).await?;
    let next = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(cursor)
    } else {
        None
    };
    Ok(Json(AuditPage { entries, next }))
}
