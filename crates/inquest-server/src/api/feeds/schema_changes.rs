//! `POST /api/feeds/schema-changes`: a migration tool's hook (Flyway callback,
//! Liquibase, sqlx, Rails) reports one applied migration.

use axum::extract::State;
use chrono::Utc;
use inquest_feeds::{Feed, schema_change};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Webhook;
use crate::error::{ApiError, ErrorBody};
use crate::feeds::{FeedReceipt, Received, receive};

/// One applied migration. Documentation only: the body is read by hand so that an
/// error names the field.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct SchemaChangeBody {
    /// A service name or `cluster/namespace/name`.
    service: String,
    /// The database or schema migrated (default: the service's).
    database: Option<String>,
    /// The migration's version or id (`version` is accepted too); text or a number.
    #[schema(value_type = String)]
    migration_id: String,
    description: Option<String>,
    /// The SQL applied: a text or a list of texts; redacted, kept up to 8192 characters.
    #[schema(value_type = Option<Object>)]
    statements: Option<serde_json::Value>,
    /// When it was applied (RFC 3339).
    applied_at: String,
    actor: Option<String>,
    /// `flyway`, `liquibase`, `sqlx`, `rails` ...
    tool: Option<String>,
}

/// Store one schema change (`db_schema`, `db_schema_alter`) going from the last version
/// seen for the database to this one; the same migration again is a duplicate.
#[utoipa::path(post, path = "/api/feeds/schema-changes", tag = "feeds", request_body = SchemaChangeBody,
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_schema_change(State(s): State<AppState>, hook: Webhook) -> Result<Received, ApiError> {
    receive(&s, Feed::SchemaChanges, hook, |req| async move {
        schema_change::parse(req.stores.records.as_ref(), &req.body, Utc::now()).await
    })
    .await
}
