//! The `IngestStore` contract (inquest-contract) on Postgres, a fresh database per case.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_contract::ingest::{IngestSpace, ingest_contract};
use inquest_ingest::IngestStore;
use inquest_ports::ErrorKind;

use crate::support::{FreshDb, server_url};

#[async_trait]
impl IngestSpace for FreshDb {
    async fn open(&self) -> Arc<dyn IngestStore> {
        Arc::new(self.store())
    }
}

#[tokio::test]
async fn ingest_contract_on_postgres() {
    let Some(url) = server_url("ingest_contract_on_postgres") else { return };
    ingest_contract(|| FreshDb::create(&url)).await;
}

#[tokio::test]
async fn the_store_can_share_the_records_pool() {
    let Some(url) = server_url("the_store_can_share_the_records_pool") else { return };
    let db = FreshDb::create(&url).await;
    let records = db.records();
    let store: Arc<dyn IngestStore> = Arc::new(inquest_ingest_postgres::PostgresIngestStore::sharing(&records));
    store.check_connectivity().await.expect("connected, schema applied");
    inquest_contract::ingest::correlation_dedups_attaches_and_approves(&store).await;
}

#[tokio::test]
async fn without_the_schema_it_says_to_run_migrate() {
    let Some(url) = server_url("without_the_schema_it_says_to_run_migrate") else { return };
    let db = FreshDb::create(&url).await;
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client.batch_execute("DROP TABLE investigation_jobs").await.expect("drop");
    let err = db.store().check_connectivity().await.expect_err("no jobs table");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.to_string().contains("inquest migrate"), "{err}");
}
