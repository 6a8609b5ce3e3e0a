//! Prometheus remote write: the body (snappy block format around a protobuf
//! `prometheus.WriteRequest`, protocol 1.0, or `io.prometheus.write.v2.Request`,
//! protocol 2.0) decoded into series, mapped to services by label rules, and turned
//! into metric points: every sample stored raw under its series name, counters also as
//! `rate(...)`, classic histograms also as `histogram_quantile(...)` (see `derive`).

use bytes::Bytes;
use prost::Message;

pub mod derive;
pub mod proto;
pub mod rules;

pub use derive::{Counts, Receiver, ReceiverLimits, Received, SeriesDrop, SampleReject};
pub use rules::{Matcher, RuleError, RuleSpec, Rules};

/// Which message the body holds, from the `proto=` parameter of its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `prometheus.WriteRequest` (remote write 1.0; the default).
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    V2,
}

impl Protocol {
    /// The protocol a `Content-Type` names: `application/x-protobuf` alone or with
    /// `proto=prometheus.WriteRequest` is 1.0, `proto=io.prometheus.write.v2.Request`
    /// is 2.0; anything else is `Err` with what was wrong.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Protocol, String> {
        let Some(ct) = content_type else { return Ok(Protocol::V1) };
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(format!("content type '{ct}' is not application/x-protobuf"));
        }
        for param in parts {
            let Some((k, v)) = param.split_once('=') else { continue };
            if k.trim().eq_ignore_ascii_case("proto") {
                return match v.trim().trim_matches('"') {
                    "prometheus.WriteRequest" => Ok(Protocol::V1),
                    "io.prometheus.write.v2.Request" => Ok(Protocol::V2),
                    other => Err(format!(
                        "proto '{other}' is not prometheus.WriteRequest or io.prometheus.write.v2.Request"
                    )),
                };
            }
        }
        Ok(Protocol::V1)
    }

    /// The message name, as the content type's `proto=` parameter spells it.
    pub fn message(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
        }
    }
}

/// Why a body could not be read. The whole body is refused (HTTP 400, or 413 for
/// `TooLarge`): Prometheus does not retry either.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not snappy block format: {0}")]
    Snappy(String),
    #[error("the body decompresses to {claimed} bytes, more than the {limit} taken")]
    TooLarge { claimed: usize, limit: usize },
    #[error("the body is not a protobuf {message}: {detail}")]
    Protobuf { message: &'static str, detail: String },
    #[error("{message}: {field}: {detail}")]
    Field { message: &'static str, field: String, detail: String },
}

/// One series as sent: its labels (undecoded bytes) and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct WireSeries {
    pub labels: Vec<proto::Label>,
    pub samples: Vec<proto::Sample>,
    /// The metric type sent with the series (protocol 2.0), `proto::metric_type`.
    pub metric_type: Option<i32>,
}

/// A decoded body: its series and, for protocol 1.0, the metadata sent alongside
/// (a family name and its type), usually in requests of their own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    pub series: Vec<WireSeries>,
    pub metadata: Vec<(Bytes, i32)>,
}

impl WriteBatch {
    pub fn samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// Undo the snappy block format, refusing a body that claims more than `limit` bytes
/// before decompressing anything.
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let claimed = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if claimed > limit {
        return Err(DecodeError::TooLarge { claimed, limit });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| DecodeError::Snappy(e.to_string()))
}

/// Decode a decompressed body of `protocol`.
pub fn decode(protocol: Protocol, body: Bytes) -> Result<WriteBatch, DecodeError> {
    let message = protocol.message();
    let bad = |e: prost::DecodeError| DecodeError::Protobuf { message, detail: e.to_string() };
    match protocol {
        Protocol::V1 => {
            let req = proto::WriteRequest::decode(body).map_err(bad)?;
            Ok(WriteBatch {
                series: req
                    .timeseries
                    .into_iter()
                    .map(|t| WireSeries { labels: t.labels, samples: t.samples, metric_type: None })
                    .collect(),
                metadata: req.metadata.into_iter().map(|m| (m.metric_family_name, m.r#type)).collect(),
            })
        }
        Protocol::V2 => {
            let req = proto::RequestV2::decode(body).map_err(bad)?;
            let symbols = &req.symbols;
            let mut series = Vec::with_capacity(req.timeseries.len());
            for (i, t) in req.timeseries.into_iter().enumerate() {
                let field = || format!("timeseries[{i}].labels_refs");
                if t.labels_refs.len() % 2 != 0 {
                    return Err(DecodeError::Field {
                        message,
                        field: field(),
                        detail: format!("{} references, not name and value pairs", t.labels_refs.len()),
                    });
                }
                let mut labels = Vec::with_capacity(t.labels_refs.len() / 2);
                for pair in t.labels_refs.chunks_exact(2) {
                    let symbol = |r: u32| {
                        symbols.get(r as usize).cloned().ok_or_else(|| DecodeError::Field {
                            message,
                            field: field(),
                            detail: format!("symbol {r} is past the table's {} symbols", symbols.len()),
                        })
                    };
                    labels.push(proto::Label { name: symbol(pair[0])?, value: symbol(pair[1])? });
                }
                series.push(WireSeries {
                    labels,
                    samples: t.samples,
                    metric_type: t.metadata.map(|m| m.r#type).filter(|t| *t != 0),
                });
            }
            Ok(WriteBatch { series, metadata: Vec::new() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(n: &str, v: &str) -> proto::Label {
        proto::Label { name: Bytes::copy_from_slice(n.as_bytes()), value: Bytes::copy_from_slice(v.as_bytes()) }
    }

    #[test]
    fn content_types_name_the_protocol() {
        assert_eq!(Protocol::from_content_type(None), Ok(Protocol::V1));
        assert_eq!(Protocol::from_content_type(Some("application/x-protobuf")), Ok(Protocol::V1));
        assert_eq!(
            Protocol::from_content_type(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request")),
            Ok(Protocol::V2)
        );
        assert!(Protocol::from_content_type(Some("application/json")).is_err());
        assert!(Protocol::from_content_type(Some("application/x-protobuf; proto=foo.Bar")).is_err());
    }

    #[test]
    fn a_v1_body_round_trips_through_snappy_and_protobuf() {
        let req = proto::WriteRequest {
            timeseries: vec![proto::TimeSeries {
                labels: vec![label("__name__", "up"), label("job", "api")],
                samples: vec![proto::Sample { value: 1.0, timestamp: 1000 }],
            }],
            metadata: vec![proto::MetricMetadata { r#type: 1, metric_family_name: Bytes::from_static(b"x") }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("compress");
        let raw = decompress(&body, 1 << 20).expect("snappy");
        let batch = decode(Protocol::V1, Bytes::from(raw)).expect("protobuf");
        assert_eq!(batch.series.len(), 1);
        assert_eq!(batch.series[0].labels[1], label("job", "api"));
        assert_eq!(batch.metadata, vec![(Bytes::from_static(b"x"), 1)]);
        assert_eq!(batch.samples(), 1);
    }

    #[test]
    fn v2_labels_come_from_the_symbol_table() {
        let req = proto::RequestV2 {
            symbols: ["", "__name__", "up", "job", "api"].iter().map(|s| Bytes::from(s.to_string())).collect(),
            timeseries: vec![proto::TimeSeriesV2 {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![proto::Sample { value: 1.0, timestamp: 5 }],
                metadata: Some(proto::MetadataV2 { r#type: proto::metric_type::GAUGE }),
            }],
        };
        let batch = decode(Protocol::V2, Bytes::from(req.encode_to_vec())).expect("v2");
        assert_eq!(batch.series[0].labels, vec![label("__name__", "up"), label("job", "api")]);
        assert_eq!(batch.series[0].metric_type, Some(proto::metric_type::GAUGE));

        let bad = proto::RequestV2 {
            symbols: vec![Bytes::new()],
            timeseries: vec![proto::TimeSeriesV2 { labels_refs: vec![0, 7], samples: vec![], metadata: None }],
        };
        let err = decode(Protocol::V2, Bytes::from(bad.encode_to_vec())).expect_err("a reference out of the table");
        assert!(err.to_string().contains("timeseries[0].labels_refs"), "{err}");
    }

    #[test]
    fn bad_bodies_say_what_failed() {
        let err = decompress(b"\xff\xff\xff\xff\xff\xff", 1 << 20).expect_err("not snappy");
        assert!(matches!(err, DecodeError::Snappy(_)), "{err}");
        let big = snap::raw::Encoder::new().compress_vec(&vec![0u8; 4096]).expect("compress");
        assert!(matches!(decompress(&big, 1024), Err(DecodeError::TooLarge { claimed: 4096, limit: 1024 })));
        let err = decode(Protocol::V1, Bytes::from_static(b"\x0a\xff\xff")).expect_err("truncated protobuf");
        assert!(err.to_string().contains("prometheus.WriteRequest"), "{err}");
    }
}
