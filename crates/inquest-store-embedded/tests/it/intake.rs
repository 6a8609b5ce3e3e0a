//! The intake store contract (`inquest-contract`'s `ingest` suite) on
//! `EmbeddedIntakeStore`, in a file of its own per case so that reopening it is a real reopen.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_contract::ingest::{IngestSpace, ingest_contract};
use inquest_intake::IngestStore;
use inquest_store_embedded::EmbeddedIntakeStore;

struct IntakeFile(tempfile::TempDir);

#[async_trait]
impl IngestSpace for IntakeFile {
    async fn open(&self) -> Arc<dyn IngestStore> {
        Arc::new(EmbeddedIntakeStore::open(&self.0.path().join("ingest.redb")).expect("open the redb file"))
    }
}

#[tokio::test]
async fn ingest_contract_on_embedded() {
    ingest_contract(|| async { IntakeFile(tempfile::tempdir().expect("tempdir")) }).await;
}
