//! Integration tests of the port wrappers: doubles that fail or stall, the span
//! fields, and the contract suites (the intake's too) through the wrappers over the embedded store.

mod contract;
mod doubles;
mod intake;
mod spans;

use prometheus::{Encoder, Registry, TextEncoder};

/// The registry in the text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf).expect("encode metrics");
    String::from_utf8(buf).expect("metrics are utf-8")
}
