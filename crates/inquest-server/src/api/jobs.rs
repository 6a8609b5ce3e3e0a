//! The investigation job queue, for operators.

use axum::Json;
use axum::extract::State;
use inquest_domain::ProjectId;
use inquest_intake::Job;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

/// Every investigation job with its state, attempts, lease and runs.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    responses((status = 200, description = "jobs", body = Vec<Object>), (status = 503, body = ErrorBody)))]
pub async fn list_jobs(State(s): State<AppState>) -> Result<Json<Vec<Job>>, ApiError> {
    Ok(Json(s.ingest.store_in(&ProjectId::default_project()).list_jobs().await?))
}
