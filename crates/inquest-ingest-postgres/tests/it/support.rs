//! A fresh, randomly named, migrated database per test (`inquest_contract::postgres`),
//! with the records store and intake stores on it.

pub use inquest_contract::postgres::server_url;
use inquest_ingest_postgres::PostgresIngestStore;
use inquest_store_postgres::{PoolSettings, PostgresStore};

/// A migrated database created for one test, dropped when the test ends.
pub struct FreshDb {
    pub url: String,
    _db: inquest_contract::postgres::FreshDb,
}

impl FreshDb {
    pub async fn create(admin_url: &str) -> Self {
        let db = inquest_contract::postgres::FreshDb::create(admin_url).await;
        let fresh = Self { url: db.url.clone(), _db: db };
        fresh.records().migrate().await.expect("migrate");
        fresh
    }

    /// The records store on this database.
    pub fn records(&self) -> PostgresStore {
        PostgresStore::connect(&self.url, &PoolSettings::default()).expect("pool")
    }

    /// An ingest store with a pool of its own (as another process would have).
    pub fn store(&self) -> PostgresIngestStore {
        PostgresIngestStore::connect(&self.url, &PoolSettings::default()).expect("pool")
    }
}
