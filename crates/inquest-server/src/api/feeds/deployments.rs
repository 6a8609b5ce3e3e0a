//! Deployments in: the generic deployment JSON, Argo CD notifications and Flux events,
//! each recorded with its commit range (read from a local clone when one is configured).

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::Utc;
use inquest_feeds::Feed;
use inquest_feeds::deploy::{self, argocd, flux, generic};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Webhook;
use crate::error::{ApiError, ErrorBody};
use crate::feeds::{FeedReceipt, Received, receive};

/// A deployment. Documentation only: bodies are read by hand, so that an error names
/// the field (`[2].started_at`) and a refusal is counted.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct GenericDeployment {
    /// A name or `cluster/namespace/name`, as alerts name services; created when unknown.
    service: String,
    /// RFC 3339.
    started_at: String,
    finished_at: Option<String>,
    /// `helm`, `k8s`, `argo`, `flux`, `manual` or `other`.
    deploy_type: String,
    image_ref: Option<String>,
    /// A commit sha or a build id.
    revision: Option<String>,
    /// Default: the revision of the service's previous deployment.
    previous_revision: Option<String>,
    /// `owner/name`: the commit range is read from its local clone when one is configured.
    repo: Option<String>,
    is_rollback: Option<bool>,
    /// Where the change came from (pipeline URLs, ticket ids); strings are redacted.
    #[schema(value_type = Option<Object>)]
    metadata: Option<BTreeMap<String, Value>>,
    /// The sender's id of the deployment (default: a hash of the object).
    event_id: Option<String>,
}

/// One deployment, or a batch (refused as a whole when one is invalid).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "documentation only")]
pub enum GenericDeployments {
    One(GenericDeployment),
    Batch(Vec<GenericDeployment>),
}

/// What the `app-deployed` template of `deploy/argocd/notifications.yaml` renders.
/// Documentation only.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct ArgocdDeployed {
    /// `app-deployed`; other kinds are ignored.
    kind: String,
    app: String,
    app_namespace: Option<String>,
    uid: Option<String>,
    /// The application's `inquest.io/service` annotation (default: `app`).
    service: Option<String>,
    project: Option<String>,
    #[schema(value_type = Option<Object>)]
    destination: Option<Value>,
    repo_url: Option<String>,
    revision: Option<String>,
    operation_revision: Option<String>,
    previous_revision: Option<String>,
    #[schema(value_type = Option<String>)]
    history_id: Option<Value>,
    images: Option<Vec<String>>,
    started_at: String,
    finished_at: Option<String>,
    /// `Succeeded`, `Failed`, `Error` are recorded; `Running` is ignored.
    phase: String,
    health: Option<String>,
    argocd_url: Option<String>,
}

/// A Flux notification-controller event (generic provider). Documentation only.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "documentation only")]
pub struct FluxEvent {
    /// `kind` (`Kustomization`, `HelmRelease`), `namespace`, `name`, `uid`, `apiVersion`.
    #[schema(value_type = Object)]
    involved_object: Value,
    /// `info` or `error`.
    severity: String,
    timestamp: String,
    message: String,
    /// `ReconciliationSucceeded`, `HealthCheckFailed`, `UpgradeSucceeded` ... are recorded.
    reason: String,
    /// `revision`; `service` and `repo` when the Alert's `eventMetadata` sets them.
    #[schema(value_type = Option<Object>)]
    metadata: Option<BTreeMap<String, String>>,
    reporting_controller: Option<String>,
}

/// Record deployments; one invalid deployment refuses the batch (`field` names it).
#[utoipa::path(post, path = "/api/feeds/deployments", tag = "feeds", request_body = GenericDeployments,
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_deployments(State(s): State<AppState>, hook: Webhook) -> Result<Received, ApiError> {
    let repos = s.feeds.repositories.clone();
    receive(&s, Feed::Deployments, hook, |req| async move {
        let notice = generic::parse(&req.body)?;
        deploy::deliver(&req.stores, repos, Feed::Deployments, notice, Utc::now()).await
    })
    .await
}

/// Record an Argo CD deployment, as the `app-deployed` notification template renders it.
#[utoipa::path(post, path = "/api/feeds/argocd", tag = "feeds", request_body = ArgocdDeployed,
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_argocd(State(s): State<AppState>, hook: Webhook) -> Result<Received, ApiError> {
    let repos = s.feeds.repositories.clone();
    receive(&s, Feed::Argocd, hook, |req| async move {
        let notice = argocd::parse(&req.body)?;
        deploy::deliver(&req.stores, repos, Feed::Argocd, notice, Utc::now()).await
    })
    .await
}

/// Record a Flux reconciliation that deployed something; other events are ignored and counted.
#[utoipa::path(post, path = "/api/feeds/flux", tag = "feeds", request_body = FluxEvent,
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_flux(State(s): State<AppState>, hook: Webhook) -> Result<Received, ApiError> {
    let repos = s.feeds.repositories.clone();
    receive(&s, Feed::Flux, hook, |req| async move {
        let notice = flux::parse(&req.body)?;
        deploy::deliver(&req.stores, repos, Feed::Flux, notice, Utc::now()).await
    })
    .await
}
