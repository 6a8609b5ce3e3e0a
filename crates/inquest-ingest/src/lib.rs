//! Telemetry ingest: what Prometheus and OpenTelemetry send, turned into metric points
//! for the metrics port and edges for the topology port. Pure: derivation here; the
//! OTLP wire decoding (its generated messages link tonic) and the routes and writes
//! live in the server.

pub mod poll;
pub mod prometheus;
pub mod traces;
