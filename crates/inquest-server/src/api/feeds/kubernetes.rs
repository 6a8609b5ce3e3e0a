//! `POST /api/feeds/kubernetes/audit`: the Kubernetes API server's audit webhook
//! backend (`--audit-webhook-config-file`). Each `EventList` is one delivery; events
//! the feed does not handle are counted in `inquest_feed_ignored_total` by reason.

use axum::extract::{Path, State};
use chrono::Utc;
use inquest_feeds::Feed;
use inquest_feeds::kubernetes::parse_audit;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Webhook;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::feeds::{FeedReceipt, Received, receive};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The cluster the API server runs (the first part of service keys); default `default`.
    cluster: Option<String>,
}

/// The body the API server posts: an `audit.k8s.io/v1` `EventList`. Documentation
/// only: the body is read by hand so that an error names the field (`items[3].auditID`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "documentation only")]
pub struct AuditEventList {
    /// `EventList`
    kind: String,
    /// `audit.k8s.io/v1`
    api_version: String,
    items: Vec<AuditEvent>,
}

/// One audit event. Handled: stage `ResponseComplete`, verbs `create`, `update`, `patch`
/// and `delete` of ConfigMaps, Secrets, Deployments, StatefulSets and DaemonSets (and
/// their `scale`), with a response below 300, at level `RequestResponse`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "documentation only")]
pub struct AuditEvent {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    verb: String,
    #[serde(rename = "requestURI")]
    request_uri: String,
    /// `username` becomes the row's actor.
    #[schema(value_type = Object)]
    user: Value,
    /// `resource`, `apiGroup`, `namespace`, `name`, `subresource`.
    #[schema(value_type = Object)]
    object_ref: Value,
    #[schema(value_type = Option<Object>)]
    response_status: Option<Value>,
    /// The object after the change (its `data` of a Secret is hashed, never kept).
    #[schema(value_type = Option<Object>)]
    response_object: Option<Value>,
    #[schema(value_type = Option<Object>)]
    request_object: Option<Value>,
    /// When the change happened (RFC 3339, microseconds): the row's `detected_at`.
    stage_timestamp: String,
}

/// Store the config changes of an audit `EventList`: one row per changed image, env
/// var, resource quantity, replica count, ConfigMap key or Secret key (never a value).
#[utoipa::path(post, path = "/api/feeds/kubernetes/audit", tag = "feeds", params(AuditQuery),
    request_body = AuditEventList,
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_audit(
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
    hook: Webhook,
) -> Result<Received, ApiError> {
    audit(s, q.cluster.unwrap_or_else(|| "default".to_string()), hook).await
}

/// The same, the cluster named in the path: the API server's webhook client drops a
/// query string of the kubeconfig's `server`.
#[utoipa::path(post, path = "/api/feeds/kubernetes/audit/{cluster}", tag = "feeds",
    params(("cluster" = String, Path, description = "The cluster the API server runs")),
    request_body = AuditEventList,
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_cluster_audit(
    State(s): State<AppState>,
    Path(cluster): Path<String>,
    hook: Webhook,
) -> Result<Received, ApiError> {
    audit(s, cluster, hook).await
}

async fn audit(s: AppState, cluster: String, hook: Webhook) -> Result<Received, ApiError> {
    let keys = s.feeds.secret_keys.clone();
    let ignored = s.feeds.metrics.ignored.clone();
    receive(&s, Feed::KubernetesAudit, hook, |req| async move {
        let parsed = parse_audit(req.stores.records.as_ref(), &keys, &cluster, &req.body, Utc::now()).await?;
        Ok(parsed.into_parsed(|reason| ignored.with_label_values(&[Feed::KubernetesAudit.as_str(), reason]).inc()))
    })
    .await
}
