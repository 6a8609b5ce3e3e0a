//! `/metrics`: the intake's Prometheus metrics in the text exposition format.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Prometheus metrics (text format 0.0.4): alerts, correlations, incidents, MTTA/MTTR, jobs, store errors.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(s): State<AppState>) -> Response {
    let projects = match s.access.store.list_projects().await {
        Ok(list) => list.into_iter().map(|p| p.project_id).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "listing the projects for the incident gauges failed");
            Vec::new()
        }
    };
    let body = s.ingest.render_metrics(&projects).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
