//! The `IngestStore` contract (inquest-contract) on `PostgresIntakeStore`, a fresh
//! database per case.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_contract::ingest::{IngestSpace, ingest_contract};
use inquest_intake::IngestStore;
use inquest_ports::ErrorKind;

use crate::support::{IntakeDb, server_url};

#[async_trait]
impl IngestSpace for IntakeDb {
    async fn open(&self) -> Arc<dyn IngestStore> {
        Arc::new(self.store())
    }
}

#[tokio::test]
async fn ingest_contract_on_postgres() {
    let Some(url) = server_url("ingest_contract_on_postgres") else { return };
    ingest_contract(|| IntakeDb::create(&url)).await;
}

#[tokio::test]
async fn the_store_can_share_the_records_pool() {
    let Some(url) = server_url("the_store_can_share_the_records_pool") else { return };
    let db = IntakeDb::create(&url).await;
    let records = db.records();
    let store: Arc<dyn IngestStore> = Arc::new(records.intake());
    store.check_connectivity().await.expect("connected, schema applied");
    inquest_contract::ingest::correlation_dedups_attaches_and_approves(&store).await;
}

#[tokio::test]
async fn without_the_schema_it_says_to_run_migrate() {
    let Some(url) = server_url("without_the_schema_it_says_to_run_migrate") else { return };
    let db = IntakeDb::create(&url).await;
    let (client, conn) = tokio_postgres::connect(&db.db.url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client.batch_execute("DROP TABLE investigation_jobs").await.expect("drop");
    let err = db.store().check_connectivity().await.expect_err("no jobs table");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.to_string().contains("inquest migrate"), "{err}");
}
