//! Liveness (with the build's version), readiness of the evidence stores, and the
//! intake store's health.

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

/// Liveness, and which build answers.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    pub status: String,
    /// The crate version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The git commit given as `INQUEST_GIT_COMMIT` at build time, else `unknown`.
    pub commit: String,
    /// `release` or `debug`.
    pub profile: String,
}

/// The commit of this build: read at compile time so the image needs no git.
const COMMIT: &str = match option_env!("INQUEST_GIT_COMMIT") {
    Some(c) if !c.is_empty() => c,
    _ => "unknown",
};

/// Liveness, with the version and build.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Liveness)))]
pub async fn health() -> Json<Liveness> {
    Json(Liveness {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        commit: COMMIT.into(),
        profile: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn liveness_names_the_version_and_build() {
        let Json(h) = health().await;
        assert_eq!(h.status, "ok");
        assert_eq!(h.version, env!("CARGO_PKG_VERSION"));
        assert!(!h.commit.is_empty());
        assert_eq!(h.commit, option_env!("INQUEST_GIT_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown"));
        assert!(["debug", "release"].contains(&h.profile.as_str()));
    }
}
