//! Integration tests of the intake service on the embedded stores: the workers
//! and the job queue, group commit through the service, and the incident rows it
//! writes to the records store (real Alertmanager and Prometheus:
//! `crates/inquest/tests/it/alerting.rs`).

mod group;
mod queue;
mod records;

use std::sync::Arc;

use inquest_intake::Policy;
use inquest_intake_service::Ingest;
use inquest_ports::Stores;
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};

/// An intake on in-memory stores, with the records stores it writes to.
pub fn in_memory(policy: Policy) -> (Arc<Ingest>, Stores) {
    let records = EmbeddedStore::in_memory().expect("records store").stores();
    let store = EmbeddedIntakeStore::in_memory().expect("ingest store");
    (Arc::new(Ingest::new(Arc::new(store), records.records.clone(), policy)), records)
}
