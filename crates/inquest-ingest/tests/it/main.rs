//! Integration tests of the intake: the HTTP API through the router, the embedded
//! job queue, and real Alertmanager and Prometheus processes.

mod api;
mod queue;
mod real_clients;

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

/// Under `CI=true` a missing server is a failure; locally the test is skipped.
pub fn require_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{var} is not set under CI=true: scripts/ci.d/50-alerting.sh should have set it");
            }
            eprintln!("skipping: {var} is not set (run scripts/ci.d/50-alerting.sh or install prometheus-alertmanager/prometheus)");
            None
        }
    }
}
