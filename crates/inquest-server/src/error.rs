//! `ApiError`: every failure of every route, turned into a response in one place
//! with one JSON shape, `{"error": {"status", "code", "message", "field"?}}`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use inquest_domain::Permission;
use inquest_intake::{LifecycleError, model::ValidationError};
use inquest_ports::{ErrorKind, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client is asked to wait before retrying a `503`.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// The one error format of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The HTTP status, repeated.
    pub status: u16,
    /// `invalid_input`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `too_many_requests`,
    /// `unavailable` or `internal`.
    pub code: String,
    pub message: String,
    /// For `invalid_input`: the JSON path of the offending field (`body`, `[1].severity`, `action`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `forbidden`: the permission the request lacked (`respond`, `manage_project`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

/// Every failure a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input: `400`. Stores refusing input land here too, since
    /// a retry (Alertmanager retries a `5xx`) would be refused again.
    #[error("{message}")]
    InvalidInput { field: Option<String>, message: String },
    /// No credential, or one that is malformed, unknown, expired or revoked: `401` with
    /// `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized { message: String, invalid_token: bool },
    /// A valid identity without the permission (or a session request without its CSRF token): `403`.
    #[error("{message}")]
    Forbidden { message: String, permission: Option<Permission> },
    #[error("{0}")]
    NotFound(String),
    /// Too many failed attempts (logins): `429` with `Retry-After`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// The body is larger than the route takes: `413`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A body in a content type or encoding the route does not take: `415`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request conflicts with the current state (an invalid lifecycle transition).
    #[error("{0}")]
    Conflict(String),
    /// A store is down or timed out: `503` with `Retry-After`.
    #[error("a store is unavailable")]
    Unavailable(#[source] StoreError),
    /// Anything else: `500`; the detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// Invalid input naming the field: the message is `invalid {field}: {why}`.
    pub fn field(field: &str, why: impl std::fmt::Display) -> Self {
        Self::InvalidInput { field: Some(field.to_string()), message: format!("invalid {field}: {why}") }
    }

    /// No credential where one is needed.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized { message: message.into(), invalid_token: false }
    }

    /// A credential that was refused (unknown, expired, revoked, badly signed).
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::Unauthorized { message: message.into(), invalid_token: true }
    }

    /// The identity lacks `permission` in its project.
    pub fn forbidden(permission: Permission) -> Self {
        Self::Forbidden {
            message: format!("this needs the '{permission}' permission in the project"),
            permission: Some(permission),
        }
    }

    /// Invalid input with no single field to blame.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput { field: None, message: message.into() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.kind {
            ErrorKind::InvalidInput => {
                tracing::warn!(error = %e, "a store refused the input");
                Self::invalid("a store cannot hold this input")
            }
            ErrorKind::Conflict => {
                // Store details are logged, not returned.
                tracing::info!(error = %e, "a store refused a duplicate");
                Self::Conflict("it exists already".into())
            }
            _ if e.retryable() => Self::Unavailable(e),
            _ => Self::Internal(e.to_string()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::field(&e.field, e.message)
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound(_) => Self::NotFound(e.to_string()),
            LifecycleError::Invalid(_) => Self::Conflict(e.to_string()),
            LifecycleError::Store(s) => s.into(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::field("query", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::field("path", e.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::PayloadTooLarge(format!("the body is too large: {}", e.body_text()));
        }
        Self::field("body", e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut challenge = None;
        let mut retry_after = None;
        let mut lacking = None;
        let (status, code, message, field) = match self {
            Self::InvalidInput { field, message } => (StatusCode::BAD_REQUEST, "invalid_input", message, field),
            Self::Unauthorized { message, invalid_token } => {
                challenge = Some(if invalid_token {
                    r#"Bearer realm="inquest", error="invalid_token""#
                } else {
                    r#"Bearer realm="inquest""#
                });
                (StatusCode::UNAUTHORIZED, "unauthorized", message, None)
            }
            Self::Forbidden { message, permission } => {
                lacking = permission.map(|p| p.as_str().to_string());
                (StatusCode::FORBIDDEN, "forbidden", message, None)
            }
            Self::TooManyRequests { message, retry_after_secs } => {
                retry_after = Some(retry_after_secs);
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message, None)
            }
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, None),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, None),
            Self::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", m, None)
            }
            Self::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m, None),
            Self::Unavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                let message = "a store is unavailable, retry later".to_string();
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
            }
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_string(), None)
            }
        };
        let body = ErrorBody {
            error: ErrorDetail { status: status.as_u16(), code: code.to_string(), message, field, permission: lacking },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            retry_after = Some(RETRY_AFTER_SECONDS);
        }
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(c) = challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_by_kind_and_only_retryable_ones_are_503() {
        let status = |kind| ApiError::from(StoreError::new(kind, "ingest/postgres", "ingest", "boom")).into_response();
        assert_eq!(status(ErrorKind::InvalidInput).status(), StatusCode::BAD_REQUEST);
        let down = status(ErrorKind::Unavailable);
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
        assert_eq!(status(ErrorKind::Timeout).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(ErrorKind::Internal).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(ErrorKind::NotFound).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
