//! OTLP/HTTP trace bodies: an `ExportTraceServiceRequest` as protobuf or as OTLP JSON
//! (hex ids, enums as integers, camelCase, 64-bit integers as strings or numbers),
//! optionally gzip-compressed, turned into the `Span`s of the service graph; and the
//! `ExportTraceServiceResponse` answered in the request's encoding.
//!
//! A span without valid ids or times, or from a resource without `service.name`, is
//! rejected and counted by reason (OTLP's partial success); the others are kept.

use std::io::Read;

use chrono::DateTime;
use inquest_domain::{NodeKind, TopologyNode, service_key};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message;

use inquest_ingest::traces::{Span, SpanKind};

/// How a body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf` (also `application/protobuf`).
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The encoding of a `Content-Type` value (parameters such as `charset` ignored);
    /// `None` for any other media type.
    pub fn of_content_type(content_type: &str) -> Option<Encoding> {
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The `Content-Type` the answer carries.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why a body was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    /// A `Content-Encoding` other than `gzip` or `identity`: `415`.
    #[error("unsupported Content-Encoding '{0}' (expected gzip or identity)")]
    UnsupportedEncoding(String),
    /// The body, or what it decompresses to, is larger than the limit: `413`.
    #[error("the body is larger than {limit} bytes{}", if *.decompressed { " once decompressed" } else { "" })]
    TooLarge { limit: usize, decompressed: bool },
    /// The body is no gzip stream, protobuf message or OTLP JSON document: `400`.
    #[error("malformed {what}: {message}")]
    Malformed { what: &'static str, message: String },
}

impl OtlpError {
    /// The `reason` label of the rejection counter.
    pub fn reason(&self) -> &'static str {
        match self {
            OtlpError::UnsupportedEncoding(_) => "unsupported_encoding",
            OtlpError::TooLarge { .. } => "too_large",
            OtlpError::Malformed { .. } => "malformed",
        }
    }
}

/// The body as sent, decompressed when `content_encoding` says gzip, at most `limit` bytes.
pub fn decompress(body: &[u8], content_encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, OtlpError> {
    if body.len() > limit {
        return Err(OtlpError::TooLarge { limit, decompressed: false });
    }
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            // One byte past the limit tells an oversized stream from one exactly at it.
            let mut reader = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
            reader
                .read_to_end(&mut out)
                .map_err(|e| OtlpError::Malformed { what: "gzip body", message: e.to_string() })?;
            if out.len() > limit {
                return Err(OtlpError::TooLarge { limit, decompressed: true });
            }
            Ok(out)
        }
        Some(other) => Err(OtlpError::UnsupportedEncoding(other.to_string())),
    }
}

/// The request in `body` (already decompressed).
pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, OtlpError> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| OtlpError::Malformed { what: "protobuf ExportTraceServiceRequest", message: e.to_string() }),
        Encoding::Json => {
            let malformed = |message: String| OtlpError::Malformed { what: "OTLP JSON", message };
            let mut value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
            numbers_as_strings(&mut value);
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                malformed(format!("at {path}: {}", e.into_inner()))
            })
        }
    }
}

/// The 64-bit fields the generated types read only as strings: OTLP JSON allows numbers too.
fn numbers_as_strings(value: &mut serde_json::Value) {
    const FIELDS: [&str; 3] = ["startTimeUnixNano", "endTimeUnixNano", "timeUnixNano"];
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if FIELDS.contains(&key.as_str())
                    && let serde_json::Value::Number(n) = v
                {
                    *v = serde_json::Value::String(n.to_string());
                } else {
                    numbers_as_strings(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(numbers_as_strings),
        _ => {}
    }
}

/// Why one span was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// No 16-byte trace id or 8-byte span id (or all zeros), or a parent id of another length.
    InvalidIds,
    /// No start or end time, or the end before the start.
    InvalidTimes,
    /// Its resource names no `service.name`.
    NoService,
}

impl Rejection {
    pub const ALL: [Rejection; 3] = [Rejection::InvalidIds, Rejection::InvalidTimes, Rejection::NoService];

    /// The `reason` label of the rejection counter.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::InvalidIds => "invalid_ids",
            Rejection::InvalidTimes => "invalid_times",
            Rejection::NoService => "no_service",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Rejection::InvalidIds => "a span without a valid traceId or spanId",
            Rejection::InvalidTimes => "a span without valid start and end times",
            Rejection::NoService => "a span whose resource has no service.name",
        }
    }
}

/// The spans of one request: those taken, the nodes their peers name (databases), and
/// how many were rejected, by reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub spans: Vec<Span>,
    /// A `Database` node per database a client span names (`db.system`).
    pub peers: Vec<TopologyNode>,
    /// `(reason, count)`, reasons in `Rejection::ALL` order, only those that occurred.
    pub rejected: Vec<(Rejection, u64)>,
}

impl Decoded {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    /// The partial-success message: what was wrong with the rejected spans.
    pub fn error_message(&self) -> String {
        self.rejected.iter().map(|(r, n)| format!("{n} rejected: {}", r.message())).collect::<Vec<_>>().join("; ")
    }
}

fn string_of(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int_of(value: &Option<AnyValue>) -> Option<i64> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        any_value::Value::DoubleValue(d) => Some(*d as i64),
        _ => None,
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Option<AnyValue>> {
    attributes.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn attr_string(attributes: &[KeyValue], key: &str) -> Option<String> {
    attr(attributes, key).and_then(string_of)
}

fn kind_of(kind: i32) -> SpanKind {
    match span::SpanKind::try_from(kind) {
        Ok(span::SpanKind::Internal) => SpanKind::Internal,
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(span::SpanKind::Unspecified) | Err(_) => SpanKind::Unspecified,
    }
}

/// A valid id: the expected length and not all zeros.
fn id_of(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex::encode(bytes))
}

/// The service key of a resource: `service.name` in its `k8s.cluster.name` and
/// `k8s.namespace.name` (each `default` when absent); a name that is a whole
/// `cluster/namespace/name` key is taken as it is.
fn resource_service(attributes: &[KeyValue]) -> Option<(String, String, String)> {
    let name = attr_string(attributes, "service.name")?;
    let cluster = attr_string(attributes, "k8s.cluster.name").unwrap_or_else(|| "default".into());
    let namespace = attr_string(attributes, "k8s.namespace.name").unwrap_or_else(|| "default".into());
    Some((cluster, namespace, name))
}

/// A callee name as a key next to the caller (a whole key is kept).
fn key_near(cluster: &str, namespace: &str, name: &str) -> String {
    if name.split('/').count() == 3 { name.to_string() } else { service_key(cluster, namespace, name) }
}

/// What a client span calls, when nothing of the callee answers it: `peer.service`,
/// else the database (`db.system`, with `db.namespace` or `db.name`), else `server.address`.
fn peer_of(attributes: &[KeyValue], cluster: &str, namespace: &str) -> Option<(String, Option<TopologyNode>)> {
    if let Some(peer) = attr_string(attributes, "peer.service") {
        return Some((key_near(cluster, namespace, &peer), None));
    }
    if let Some(system) = attr_string(attributes, "db.system.name").or_else(|| attr_string(attributes, "db.system")) {
        let db = attr_string(attributes, "db.namespace").or_else(|| attr_string(attributes, "db.name"));
        let name = match db {
            Some(db) => format!("{system}:{db}"),
            None => system.clone(),
        };
        let key = key_near(cluster, namespace, &name);
        let node = TopologyNode { key: key.clone(), kind: NodeKind::Database, detail: Some(system) };
        return Some((key, Some(node)));
    }
    attr_string(attributes, "server.address")
        .or_else(|| attr_string(attributes, "net.peer.name"))
        .map(|address| (key_near(cluster, namespace, &address), None))
}

fn http_status(attributes: &[KeyValue]) -> Option<i64> {
    attr(attributes, "http.response.status_code").or_else(|| attr(attributes, "http.status_code")).and_then(int_of)
}

/// The spans of `request`, each checked; see [`Decoded`].
pub fn spans(request: ExportTraceServiceRequest) -> Decoded {
    let mut out = Decoded::default();
    let mut rejected = [0u64; 3];
    let mut reject = |r: Rejection, n: u64| rejected[Rejection::ALL.iter().position(|x| *x == r).unwrap_or(0)] += n;
    for resource_spans in request.resource_spans {
        let attributes = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
        let service = resource_service(&attributes);
        for scope in resource_spans.scope_spans {
            let Some((cluster, namespace, name)) = &service else {
                reject(Rejection::NoService, scope.spans.len() as u64);
                continue;
            };
            let service_key = key_near(cluster, namespace, name);
            for s in scope.spans {
                let (Some(trace_id), Some(span_id)) = (id_of(&s.trace_id, 16), id_of(&s.span_id, 8)) else {
                    reject(Rejection::InvalidIds, 1);
                    continue;
                };
                let parent_span_id = match s.parent_span_id.as_slice() {
                    [] => None,
                    bytes => match id_of(bytes, 8) {
                        Some(id) => Some(id),
                        None => {
                            reject(Rejection::InvalidIds, 1);
                            continue;
                        }
                    },
                };
                let time = |ns: u64| i64::try_from(ns).ok().filter(|ns| *ns > 0).map(DateTime::from_timestamp_nanos);
                let (Some(start), Some(end)) = (time(s.start_time_unix_nano), time(s.end_time_unix_nano)) else {
                    reject(Rejection::InvalidTimes, 1);
                    continue;
                };
                if end < start {
                    reject(Rejection::InvalidTimes, 1);
                    continue;
                }
                let kind = kind_of(s.kind);
                let status_error = s.status.as_ref().is_some_and(|st| st.code == status::StatusCode::Error as i32);
                let http_error = kind == SpanKind::Server && http_status(&s.attributes).is_some_and(|c| c >= 500);
                let peer = match kind {
                    SpanKind::Client | SpanKind::Producer => peer_of(&s.attributes, cluster, namespace),
                    _ => None,
                };
                let peer = peer.map(|(key, node)| {
                    if let Some(node) = node
                        && !out.peers.contains(&node)
                    {
                        out.peers.push(node);
                    }
                    key
                });
                out.spans.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    service: service_key.clone(),
                    kind,
                    start,
                    end,
                    error: status_error || http_error,
                    peer,
                });
            }
        }
    }
    out.rejected = Rejection::ALL.iter().zip(rejected).filter(|(_, n)| *n > 0).map(|(r, n)| (*r, n)).collect();
    out
}

/// The answer to an export: empty when every span was taken, else a partial success
/// with the count and what was wrong.
pub fn response(decoded: &Decoded, encoding: Encoding) -> Vec<u8> {
    let rejected = decoded.rejected_total();
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: decoded.error_message(),
        }),
    };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => {
            // rejectedSpans is an int64: a string in OTLP JSON.
            let body = match &response.partial_success {
                Some(p) => serde_json::json!({
                    "partialSuccess": { "rejectedSpans": p.rejected_spans.to_string(), "errorMessage": p.error_message }
                }),
                None => serde_json::json!({}),
            };
            body.to_string().into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan, Status};

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }) }
    }

    fn s(key: &str, v: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(v.into()))
    }

    fn proto_span(id: u8, parent: Option<u8>, kind: span::SpanKind, attributes: Vec<KeyValue>) -> ProtoSpan {
        ProtoSpan {
            trace_id: vec![7; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: "op".into(),
            kind: kind as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            attributes,
            ..Default::default()
        }
    }

    fn request(resource: Vec<KeyValue>, spans: Vec<ProtoSpan>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: resource, dropped_attributes_count: 0 }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn content_types_and_encodings_are_recognised() {
        assert_eq!(Encoding::of_content_type("application/x-protobuf"), Some(Encoding::Protobuf));
        assert_eq!(Encoding::of_content_type("Application/JSON; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(Encoding::of_content_type("text/plain"), None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[b'a'; 1000]).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert!(gz.len() < 100);
        assert_eq!(decompress(&gz, Some("gzip"), 1000).expect("gunzip"), vec![b'a'; 1000]);
        assert_eq!(decompress(&gz, Some("gzip"), 999), Err(OtlpError::TooLarge { limit: 999, decompressed: true }));
        assert_eq!(decompress(b"hello", None, 4), Err(OtlpError::TooLarge { limit: 4, decompressed: false }));
        assert!(matches!(decompress(b"hello", Some("gzip"), 100), Err(OtlpError::Malformed { .. })));
        assert_eq!(decompress(b"x", Some("br"), 100), Err(OtlpError::UnsupportedEncoding("br".into())));
    }

    #[test]
    fn protobuf_spans_map_service_kind_error_and_peer() {
        let resource =
            vec![s("service.name", "checkout"), s("k8s.cluster.name", "prod"), s("k8s.namespace.name", "shop")];
        let mut failing = proto_span(
            2,
            Some(1),
            span::SpanKind::Server,
            vec![kv("http.response.status_code", any_value::Value::IntValue(503))],
        );
        failing.status = None;
        let mut status_error = proto_span(3, None, span::SpanKind::Internal, vec![]);
        status_error.status = Some(Status { message: "boom".into(), code: status::StatusCode::Error as i32 });
        let db =
            proto_span(4, Some(3), span::SpanKind::Client, vec![s("db.system", "postgresql"), s("db.name", "orders")]);
        let peer = proto_span(5, Some(3), span::SpanKind::Client, vec![s("peer.service", "stripe")]);
        let client_500 = proto_span(
            6,
            None,
            span::SpanKind::Client,
            vec![kv("http.status_code", any_value::Value::StringValue("500".into()))],
        );
        let body = request(resource, vec![failing, status_error, db, peer, client_500]).encode_to_vec();
        let d = spans(decode(&body, Encoding::Protobuf).expect("decodes"));
        assert!(d.rejected.is_empty());
        assert_eq!(d.spans.len(), 5);
        let first = &d.spans[0];
        assert_eq!(first.service, "prod/shop/checkout");
        assert_eq!(first.trace_id, "07".repeat(16));
        assert_eq!(first.parent_span_id.as_deref(), Some("0101010101010101"));
        assert_eq!(first.kind, SpanKind::Server);
        assert!(first.error, "a 5xx on a server span is an error");
        assert_eq!((first.end - first.start).num_milliseconds(), 250);
        assert!(d.spans[1].error, "status ERROR");
        assert_eq!(d.spans[2].peer.as_deref(), Some("prod/shop/postgresql:orders"));
        assert_eq!(d.spans[3].peer.as_deref(), Some("prod/shop/stripe"));
        assert!(!d.spans[4].error, "a 5xx seen by a client is the callee's error, not the caller's");
        assert_eq!(
            d.peers,
            vec![TopologyNode {
                key: "prod/shop/postgresql:orders".into(),
                kind: NodeKind::Database,
                detail: Some("postgresql".into())
            }]
        );
        assert!(response(&d, Encoding::Protobuf).is_empty(), "nothing rejected: an empty response");
    }

    #[test]
    fn spans_without_ids_times_or_service_are_rejected_and_counted() {
        let mut no_ids = proto_span(1, None, span::SpanKind::Server, vec![]);
        no_ids.trace_id = vec![0; 16];
        let mut short_parent = proto_span(2, None, span::SpanKind::Server, vec![]);
        short_parent.parent_span_id = vec![1, 2];
        let mut no_times = proto_span(3, None, span::SpanKind::Server, vec![]);
        no_times.start_time_unix_nano = 0;
        let mut backwards = proto_span(4, None, span::SpanKind::Server, vec![]);
        backwards.end_time_unix_nano = 1;
        let good = proto_span(5, None, span::SpanKind::Server, vec![]);
        let mut req = request(vec![s("service.name", "api")], vec![no_ids, short_parent, no_times, backwards, good]);
        req.resource_spans
            .extend(request(vec![], vec![proto_span(6, None, span::SpanKind::Server, vec![])]).resource_spans);
        let d = spans(req);
        assert_eq!(d.spans.len(), 1);
        assert_eq!(d.spans[0].service, "default/default/api");
        assert_eq!(
            d.rejected,
            vec![(Rejection::InvalidIds, 2), (Rejection::InvalidTimes, 2), (Rejection::NoService, 1)]
        );
        let answer = ExportTraceServiceResponse::decode(response(&d, Encoding::Protobuf).as_slice()).expect("response");
        let partial = answer.partial_success.expect("partial success");
        assert_eq!(partial.rejected_spans, 5);
        assert!(partial.error_message.contains("traceId"), "{}", partial.error_message);
        let json: serde_json::Value = serde_json::from_slice(&response(&d, Encoding::Json)).expect("json");
        assert_eq!(json["partialSuccess"]["rejectedSpans"], "5");
    }

    #[test]
    fn otlp_json_has_hex_ids_int_enums_and_string_or_number_times() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[
              {"key":"service.name","value":{"stringValue":"cart"}}]},
            "scopeSpans":[{"scope":{"name":"t"},"spans":[
              {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
               "parentSpanId":"eee19b7ec3c1b173","name":"GET /cart","kind":2,
               "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
               "attributes":[{"key":"http.response.status_code","value":{"intValue":"502"}}],
               "status":{"code":0}},
              {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175",
               "parentSpanId":"","name":"root","kind":1,
               "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
               "status":{"code":2}}]}]}]}"#;
        let d = spans(decode(body, Encoding::Json).expect("decodes"));
        assert_eq!(d.spans.len(), 2, "{d:?}");
        assert_eq!(d.spans[0].trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(d.spans[0].parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
        assert_eq!(d.spans[0].kind, SpanKind::Server);
        assert!(d.spans[0].error);
        assert_eq!(d.spans[1].parent_span_id, None);
        assert_eq!(d.spans[1].kind, SpanKind::Internal);
        assert!(d.spans[1].error);
    }

    #[test]
    fn malformed_bodies_name_what_was_wrong() {
        let e = decode(b"\xff\xff\xff", Encoding::Protobuf).expect_err("not protobuf");
        assert!(e.to_string().contains("protobuf"), "{e}");
        let e = decode(b"{", Encoding::Json).expect_err("not json");
        assert!(e.to_string().contains("not JSON"), "{e}");
        let e = decode(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#, Encoding::Json)
            .expect_err("bad hex");
        assert!(e.to_string().contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"), "{e}");
    }
}
