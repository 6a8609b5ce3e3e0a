//! The records contract on Postgres, in a fresh database.

use std::sync::Arc;

use crate::support::{FreshDb, RecordsOn, server_url};

#[tokio::test]
async fn records_contract_on_postgres() {
    let Some(url) = server_url("records_contract_on_postgres") else { return };
    let db = FreshDb::create(&url).await;
    let store = db.migrated_store().await;
    inquest_contract::records::records_contract(Arc::new(store)).await;
}

/// Many connections at once: the delivery's key decides, one transaction stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_deliveries_at_once_store_one_on_postgres() {
    let Some(url) = server_url("identical_deliveries_at_once_store_one_on_postgres") else { return };
    let db = FreshDb::create(&url).await;
    let store = db.migrated_store().await;
    inquest_contract::records::concurrent_deliveries(Arc::new(store)).await;
}

#[tokio::test]
async fn without_the_schema_a_read_says_to_run_migrate() {
    let Some(url) = server_url("without_the_schema_a_read_says_to_run_migrate") else { return };
    let db = FreshDb::create(&url).await;
    let store: Arc<dyn inquest_ports::RecordStore> = Arc::new(db.store());
    let err = store.list_services().await.expect_err("no tables yet");
    assert!(err.to_string().contains("inquest migrate"), "{err}");
}
