//! Telemetry ingest: what Prometheus and OpenTelemetry send, turned into metric points
//! for the metrics port and edges for the topology port. Pure: decoding and derivation
//! here, the routes and the writes in the server.

pub mod poll;
pub mod prometheus;
pub mod traces;
