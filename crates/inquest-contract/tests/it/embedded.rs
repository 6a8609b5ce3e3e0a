//! Every suite on `EmbeddedStore::in_memory()`.

use std::sync::Arc;

use inquest_contract::{metrics::metrics_contract, semantic::semantic_contract, topology::topology_contract};
use inquest_store_embedded::EmbeddedStore;

fn store() -> EmbeddedStore {
    EmbeddedStore::in_memory().expect("in-memory store")
}

#[tokio::test]
async fn metrics_contract_on_embedded() {
    metrics_contract(Arc::new(store())).await;
}

#[tokio::test]
async fn topology_contract_on_embedded() {
    topology_contract(Arc::new(store())).await;
}

#[tokio::test]
async fn semantic_contract_on_embedded() {
    let created = semantic_contract(Arc::new(store())).await;
    assert_eq!(created.len(), 2);
}
