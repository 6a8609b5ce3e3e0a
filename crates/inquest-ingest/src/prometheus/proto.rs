//! The remote write messages, written by hand from Prometheus's `remote.proto` /
//! `types.proto` (protocol 1.0, `prometheus.WriteRequest`) and `io/prometheus/write/v2/types.proto`
//! (protocol 2.0, `io.prometheus.write.v2.Request`). Only the fields Inquest reads are
//! declared: protobuf skips the others (exemplars, native histograms, help texts).
//! Label names, values and symbols are `bytes`, so one label that is not UTF-8 drops
//! its series instead of failing the whole body.

use bytes::Bytes;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`, as bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `prometheus.Sample` (and `io.prometheus.write.v2.Sample`: the same fields).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `prometheus.MetricMetadata.MetricType`: 1 is COUNTER, 3 HISTOGRAM, 5 SUMMARY.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub metric_family_name: Bytes,
}

/// `io.prometheus.write.v2.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestV2 {
    /// The symbol table every reference points into; symbol 0 is the empty string.
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub symbols: Vec<Bytes>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeriesV2>,
}

/// `io.prometheus.write.v2.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeriesV2 {
    /// Pairs of symbol references: name, value, name, value, ...
    #[prost(uint32, repeated, packed = "true", tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<MetadataV2>,
}

/// `io.prometheus.write.v2.Metadata`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct MetadataV2 {
    /// `io.prometheus.write.v2.Metadata.MetricType`: 1 is COUNTER, 3 HISTOGRAM, 5 SUMMARY.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
}

/// The metric types both protocols number alike.
pub mod metric_type {
    pub const COUNTER: i32 = 1;
    pub const GAUGE: i32 = 2;
    pub const HISTOGRAM: i32 = 3;
    pub const SUMMARY: i32 = 5;
}
