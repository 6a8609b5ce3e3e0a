//! `POST /api/v1/write`: Prometheus remote write (1.0, and 2.0 by `proto=`) into the
//! metrics store of the sender's project. `204` only once `insert_points` returned;
//! what Prometheus must not retry is `4xx` (a malformed body `400`, `413`, `415`), what
//! it should retry is `429` (too many samples waiting) or `503` (store down), both with
//! `Retry-After`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use inquest_ingest::prometheus::{self, DecodeError, Protocol};
use inquest_ports::ErrorKind;

use crate::AppState;
use crate::auth::{Authorized, Ingest};
use crate::error::{ApiError, ErrorBody};

/// Samples written, as remote write 2.0 asks receivers to say.
const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";

/// Store a remote write body: every finite sample raw, counters also as `rate(...)`,
/// classic histograms also as `histogram_quantile(0.5|0.9|0.99, ...)`. A series that
/// cannot be stored (a label not UTF-8 or too long, no service label) is dropped and
/// counted; the rest are stored.
#[utoipa::path(post, path = "/api/v1/write", tag = "telemetry",
    request_body(content = Vec<u8>, content_type = "application/x-protobuf",
        description = "snappy-compressed (block format) prometheus.WriteRequest, or io.prometheus.write.v2.Request \
                       with `Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request`; \
                       `Content-Encoding: snappy`"),
    responses(
        (status = 204, description = "stored"),
        (status = 400, body = ErrorBody, description = "not snappy, not protobuf, or a field out of range"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "remote write is turned off"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many samples waiting; retry after Retry-After"),
        (status = 503, body = ErrorBody, description = "the metrics store is unavailable; retry after Retry-After")))]
pub async fn post_write(
    State(s): State<AppState>,
    auth: Authorized<Ingest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let rw = &s.remote_write;
    let limits = rw.limits;
    if !limits.enabled {
        return Err(ApiError::not_found("remote write is turned off (telemetry.remote_write.enabled)"));
    }
    let refuse = |reason: &str, e: ApiError| {
        rw.metrics.refused(reason);
        e
    };
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?"));
    if !encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("snappy")) {
        let e = ApiError::UnsupportedMediaType(format!(
            "content encoding {} is not snappy",
            encoding.map_or("(none)".to_string(), |e| format!("'{e}'"))
        ));
        return Err(refuse("unsupported_media_type", e));
    }
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
    let protocol = Protocol::from_content_type(content_type)
        .map_err(|e| refuse("unsupported_media_type", ApiError::UnsupportedMediaType(e)))?;
    let compressed = match axum::body::to_bytes(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
            let e = ApiError::PayloadTooLarge(format!("the body is larger than {} bytes", limits.max_body_bytes));
            return Err(refuse("too_large", e));
        }
        Err(e) => return Err(refuse("malformed", ApiError::field("body", format!("cannot read the body: {e}")))),
    };
    let batch = prometheus::decompress(&compressed, limits.max_decoded_bytes)
        .and_then(|raw| prometheus::decode(protocol, Bytes::from(raw)))
        .map_err(|e| match e {
            DecodeError::TooLarge { .. } => refuse("too_large", ApiError::PayloadTooLarge(e.to_string())),
            e => refuse("malformed", ApiError::field("body", e)),
        })?;
    let Some(_reserved) = rw.reserve(batch.samples()) else {
        let message = format!(
            "more than {} samples are waiting to be written, retry later",
            limits.max_queued_samples
        );
        return Err(refuse(
            "saturated",
            ApiError::TooManyRequests { message, retry_after_secs: limits.retry_after_secs },
        ));
    };
    let received = rw.receiver.receive(batch, chrono::Utc::now().timestamp_millis());
    if !received.points.is_empty() {
        let store = s.stores.metrics.scoped(auth.project());
        let written = {
            let _permit = rw.writers.acquire().await;
            store.insert_points(&received.points).await
        };
        if let Err(e) = written {
            rw.receiver.rollback(received);
            return Err(match e.kind {
                ErrorKind::InvalidInput => refuse("store_refused", e.into()),
                _ => refuse("unavailable", e.into()),
            });
        }
    }
    let counts = &received.counts;
    rw.metrics.stored(counts);
    rw.metrics.active_series.set(rw.receiver.active_series() as i64);
    if let Some(newest) = counts.newest_ms {
        let lag = (chrono::Utc::now().timestamp_millis() - newest) as f64 / 1000.0;
        rw.metrics.write_lag.set(lag.max(0.0));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(SAMPLES_WRITTEN, HeaderValue::from(counts.stored));
    h.insert(HISTOGRAMS_WRITTEN, HeaderValue::from(0));
    h.insert(EXEMPLARS_WRITTEN, HeaderValue::from(0));
    Ok(response)
}
