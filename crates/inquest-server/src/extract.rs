//! Extractors whose rejections are `ApiError`s, so a malformed body, query or path
//! gets the same `400` and shape on every route.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use inquest_domain::IncidentId;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Unlike `axum::Json` it does not insist on a `content-type`
/// (Alertmanager and `curl -d` both send JSON); errors name the field's path.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be absent (an empty body is `T::default()`).
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// Deserialize `bytes`; the error names the failing field (`body` for the whole).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        if e.inner().is_syntax() || e.inner().is_eof() {
            return ApiError::field("body", format!("not JSON: {}", e.inner()));
        }
        let path = e.path().to_string();
        ApiError::field(if path == "." { "body" } else { &path }, e.inner())
    })
}

/// A query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(q) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(q))
    }
}

/// The `{id}` of a path, parsed as an incident id.
pub struct IncidentPath(pub IncidentId);

impl<S: Send + Sync> FromRequestParts<S> for IncidentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(id) = axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        id.parse::<IncidentId>()
            .map(IncidentPath)
            .map_err(|_| ApiError::field("incident_id", format!("'{id}' is not an incident id (a UUID)")))
    }
}
