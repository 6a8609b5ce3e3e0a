//! Liveness, readiness of the evidence stores, and the intake store's health.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

#[derive(Serialize, ToSchema)]
pub struct StoreCheck {
    pub port: String,
    pub backend: String,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub stores: Vec<StoreCheck>,
}

/// Readiness: each store's connectivity check; 503 when one fails.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(State(s): State<AppState>) -> Response {
    let stores: Vec<StoreCheck> = s
        .stores
        .check_all()
        .await
        .into_iter()
        .map(|(port, backend, r)| StoreCheck {
            port: port.into(),
            backend: backend.into(),
            ok: r.is_ok(),
            error: r.err().map(|e| {
                tracing::warn!(port, backend, error = %e, "readiness check failed");
                format!("{:?}", e.kind).to_lowercase()
            }),
        })
        .collect();
    let ready = stores.iter().all(|c| c.ok);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { ready, stores })).into_response()
}

/// The intake store's connectivity; 503 (with `Retry-After`) when it fails.
#[utoipa::path(get, path = "/health/intake", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn intake(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    // Whatever the kind, a failed check means the intake cannot take alerts now.
    s.ingest.store.check_connectivity().await.map_err(ApiError::Unavailable)?;
    Ok(Json(Health { status: "ok".into() }))
}
