//! The records contract on the embedded store, in memory and on a file.

use std::sync::Arc;

use inquest_store_embedded::EmbeddedStore;

#[tokio::test]
async fn records_contract_in_memory() {
    let store = EmbeddedStore::in_memory().expect("in-memory store");
    inquest_contract::records::records_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn records_contract_on_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(&dir.path().join("inquest.redb")).expect("file store");
    inquest_contract::records::records_contract(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_deliveries_at_once_store_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(&dir.path().join("inquest.redb")).expect("file store");
    inquest_contract::records::concurrent_deliveries(Arc::new(store)).await;
}
