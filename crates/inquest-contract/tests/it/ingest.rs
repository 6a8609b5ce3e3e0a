//! The ingest store contract on the embedded store (`RedbIngestStore`), in a file
//! of its own per case so that reopening it is a real reopen.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_contract::ingest::{IngestSpace, ingest_contract};
use inquest_ingest::{IngestStore, RedbIngestStore};

struct RedbSpace(tempfile::TempDir);

#[async_trait]
impl IngestSpace for RedbSpace {
    async fn open(&self) -> Arc<dyn IngestStore> {
        Arc::new(RedbIngestStore::open(&self.0.path().join("ingest.redb")).expect("open the redb file"))
    }
}

#[tokio::test]
async fn ingest_contract_on_redb() {
    ingest_contract(|| async { RedbSpace(tempfile::tempdir().expect("tempdir")) }).await;
}
