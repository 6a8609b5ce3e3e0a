//! Integration tests of the intake service on the embedded stores: the workers
//! and the job queue, group commit through the service, and the incident rows it
//! writes to the records store (real Alertmanager and Prometheus:
//! `crates/inquest/tests/it/alerting.rs`).

mod group;
mod projects;
mod queue;
mod records;
mod respond;

use std::sync::Arc;

use inquest_intake::Policy;
use inquest_intake_service::{Ingest, Metrics};
use inquest_ports::Stores;
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use inquest_telemetry::{ObservedIntake, StoreMetrics, Timeouts, observe};

/// An intake on in-memory stores, with the records stores it writes to.
pub fn in_memory(policy: Policy) -> (Arc<Ingest>, Stores) {
    let (ingest, stores, _) = observed_in_memory(policy);
    (ingest, stores)
}

/// `in_memory` as `inquest serve` builds it: every store behind its wrapper, counted
/// on the intake's registry; the `StoreMetrics` wrap the stores a test adds.
pub fn observed_in_memory(policy: Policy) -> (Arc<Ingest>, Stores, StoreMetrics) {
    let metrics = Metrics::new();
    let store_metrics = StoreMetrics::new(metrics.registry()).expect("store metrics on the intake's registry");
    let timeouts = Timeouts::default();
    let stores = observe(EmbeddedStore::in_memory().expect("records store").stores(), &store_metrics, timeouts);
    let store = EmbeddedIntakeStore::in_memory().expect("ingest store");
    let store = ObservedIntake::new(Arc::new(store), &store_metrics, timeouts.intake);
    let ingest = Ingest::with_metrics(Arc::new(store), stores.records.clone(), policy, Arc::new(metrics));
    (Arc::new(ingest), stores, store_metrics)
}
