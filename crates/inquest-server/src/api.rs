//! The API routes, one module per concern, all registered with their OpenAPI
//! description in `router()`; helpers the handlers share.

use std::collections::HashMap;

use axum::Json;
use chrono::Utc;
use inquest_domain::{Service, ServiceId, Timestamp};
use inquest_ports::Stores;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiError;

mod access;
mod alerts;
mod audit;
mod auth;
mod changes;
mod channels;
mod feedback;
mod feeds;
mod health;
mod incident_metrics;
mod incidents;
mod integrations;
mod invariants;
mod jobs;
mod lifecycle;
mod metrics;
mod oncall;
mod ranking;
mod remote_write;
mod runbooks;
mod slos;
mod stats;
mod tickets;
mod topology;
mod traces;

#[derive(OpenApi)]
#[openapi(info(
    title = "Inquest API",
    description = "Incidents, ranked root-cause hypotheses with their evidence, human feedback, \
                   alert intake, the incident lifecycle, investigation jobs, and who may do what: \
                   projects, members, API tokens, integrations and the audit log; SLOs with \
                   multiwindow burn rates, and invariants; follow-up tickets; on-call schedules, \
                   who is on call, and incidents' assignments and escalations; notification \
                   channels and their deliveries"
))]
struct ApiDoc;

/// Every API route. A route added anywhere else would be missing from the document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::intake))
        .routes(routes!(metrics::metrics))
        .routes(routes!(incidents::list_incidents))
        .routes(routes!(incidents::get_incident))
        .routes(routes!(incidents::reinvestigate))
        .routes(routes!(incident_metrics::incident_metrics))
        .routes(routes!(feedback::post_feedback))
        .routes(routes!(feedback::get_priors))
        .routes(routes!(ranking::get_weights))
        .routes(routes!(alerts::post_alerts))
        .routes(routes!(alerts::post_alertmanager))
        .routes(routes!(lifecycle::list_lifecycles))
        .routes(routes!(lifecycle::get_lifecycle))
        .routes(routes!(lifecycle::post_transition))
        .routes(routes!(lifecycle::post_note))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(auth::me))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::switch_project))
        .routes(routes!(access::create_project))
        .routes(routes!(access::list_members))
        .routes(routes!(access::put_member, access::remove_member))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(integrations::list_integrations, integrations::create_integration))
        .routes(routes!(integrations::get_integration, integrations::delete_integration))
        .routes(routes!(integrations::test_integration))
        .routes(routes!(audit::list_audit))
        .routes(routes!(feeds::kubernetes::post_audit))
        .routes(routes!(feeds::kubernetes::post_cluster_audit))
        .routes(routes!(feeds::schema_changes::post_schema_change))
        .routes(routes!(feeds::deployments::post_deployments))
        .routes(routes!(feeds::deployments::post_argocd))
        .routes(routes!(feeds::deployments::post_flux))
        .routes(routes!(feeds::github::post_github))
        .routes(routes!(topology::put_source))
        .routes(routes!(topology::get_radius))
        .routes(routes!(changes::list_changes))
        .routes(routes!(changes::incident_changes))
        .routes(routes!(runbooks::list_runbooks, runbooks::create_runbook))
        .routes(routes!(runbooks::get_runbook, runbooks::replace_runbook, runbooks::delete_runbook))
        .routes(routes!(traces::post_traces))
        .routes(routes!(remote_write::post_write))
        .routes(routes!(tickets::list_tickets, tickets::create_ticket))
        .routes(routes!(tickets::get_ticket, tickets::patch_ticket))
        .routes(routes!(tickets::list_events, tickets::post_event))
        .routes(routes!(tickets::list_dependencies, tickets::add_dependency))
        .routes(routes!(tickets::remove_dependency))
        .routes(routes!(tickets::incident_tickets))
        .routes(routes!(stats::stats))
        .routes(routes!(slos::list_slos, slos::create_slo))
        .routes(routes!(slos::get_slo, slos::replace_slo, slos::delete_slo))
        .routes(routes!(slos::get_burn))
        .routes(routes!(invariants::list_invariants, invariants::create_invariant))
        .routes(routes!(invariants::get_invariant, invariants::replace_invariant, invariants::delete_invariant))
        .routes(routes!(invariants::run_invariant))
        .routes(routes!(oncall::list_schedules, oncall::create_schedule))
        .routes(routes!(oncall::get_schedule, oncall::replace_schedule, oncall::delete_schedule))
        .routes(routes!(oncall::add_override))
        .routes(routes!(oncall::now))
        .routes(routes!(oncall::incident_assignment))
        .routes(routes!(channels::list_channels, channels::create_channel))
        .routes(routes!(channels::get_channel, channels::replace_channel, channels::delete_channel))
        .routes(routes!(channels::test_channel))
        .routes(routes!(channels::list_notifications))
        .routes(routes!(channels::retry_notification))
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn parse_id<T: std::str::FromStr>(field: &str, s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| ApiError::field(field, e))
}

fn parse_time(field: &str, s: &str) -> Result<Timestamp, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ApiError::field(field, format!("{e} (expected RFC 3339, e.g. 2026-09-01T10:00:00Z)")))
}

async fn service_keys(stores: &Stores) -> Result<HashMap<ServiceId, Service>, ApiError> {
    Ok(stores.records.list_services().await?.into_iter().map(|s| (s.service_id, s)).collect())
}
