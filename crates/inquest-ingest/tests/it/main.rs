//! Integration tests of the intake: the embedded job queue, webhook groups and the
//! records outbox (its HTTP routes: `crates/inquest-server/tests/it/intake.rs`; real
//! Alertmanager and Prometheus: `crates/inquest/tests/it/alerting.rs`).

mod group;
mod queue;
mod records;

use std::sync::Arc;

use inquest_ingest::{Ingest, Policy, RedbIngestStore};
use inquest_ports::Stores;
use inquest_store_embedded::EmbeddedStore;

/// An intake on in-memory stores, with the records stores it writes to.
pub fn in_memory(policy: Policy) -> (Arc<Ingest>, Stores) {
    let records = EmbeddedStore::in_memory().expect("records store").stores();
    let store = RedbIngestStore::in_memory().expect("ingest store");
    (Arc::new(Ingest::new(Arc::new(store), records.records.clone(), policy)), records)
}
