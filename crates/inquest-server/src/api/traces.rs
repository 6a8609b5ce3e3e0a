//! `POST /v1/traces`: the OTLP/HTTP trace receiver. An OpenTelemetry SDK or Collector
//! exports `ExportTraceServiceRequest`s here (protobuf or OTLP JSON, gzip or not) with
//! a credential allowed `ingest`; the spans feed the project's service graph, which
//! the flush writes to the stores. The answer is an `ExportTraceServiceResponse` in
//! the request's encoding, with `partial_success` when spans were rejected.

use crate::otlp::{self, Encoding, OtlpError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{Authorized, Ingest};
use crate::error::{ApiError, ErrorBody};

/// Take OTLP spans into the project's service graph (edges and per-edge request rate,
/// error ratio and latency series, written every `flush_seconds`).
#[utoipa::path(post, path = "/v1/traces", tag = "intake",
    request_body(content = Vec<u8>, content_type = "application/x-protobuf",
        description = "An OTLP `ExportTraceServiceRequest`: protobuf (`application/x-protobuf`) or OTLP JSON \
                       (`application/json`), optionally `Content-Encoding: gzip`"),
    responses(
        (status = 200, description = "An `ExportTraceServiceResponse` in the request's encoding; \
                                      `partial_success` counts the spans rejected", body = Vec<u8>,
         content_type = "application/x-protobuf"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub async fn post_traces(
    State(s): State<AppState>,
    auth: Authorized<Ingest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let traces = &s.traces;
    let refused = |reason: &str, e: ApiError| {
        traces.metrics.requests_rejected.with_label_values(&[reason]).inc();
        tracing::debug!(reason, error = %e, "otlp traces refused");
        e
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(encoding) = Encoding::of_content_type(content_type) else {
        let shown = if content_type.is_empty() { "none" } else { content_type };
        let e = ApiError::UnsupportedMediaType(format!(
            "Content-Type {shown} is not taken: send application/x-protobuf or application/json"
        ));
        return Err(refused("unsupported_media_type", e));
    };
    let limit = traces.config.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
            return Err(refused(
                "too_large",
                ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes")),
            ));
        }
        Err(e) => return Err(refused("malformed", ApiError::field("body", format!("cannot read the body: {e}")))),
    };
    let coding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    let request =
        otlp::decompress(&bytes, coding, limit).and_then(|plain| otlp::decode(&plain, encoding)).map_err(|e| {
            let reason = e.reason();
            let api = match &e {
                OtlpError::UnsupportedEncoding(_) => ApiError::UnsupportedMediaType(e.to_string()),
                OtlpError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
                OtlpError::Malformed { .. } => ApiError::field("body", e),
            };
            refused(reason, api)
        })?;
    let decoded = otlp::spans(request);
    let answer = otlp::response(&decoded, encoding);
    if !decoded.rejected.is_empty() {
        tracing::debug!(rejected = decoded.rejected_total(), why = %decoded.error_message(), "otlp spans rejected");
    }
    traces.take(auth.project(), decoded);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], answer).into_response())
}
