//! A fresh, randomly named database per test (`inquest_contract::postgres`), with
//! the records store on it, and the migrated database of the intake tests.

pub use inquest_contract::postgres::{FreshDb, server_url};
use inquest_store_postgres::{PoolSettings, PostgresIntakeStore, PostgresStore};

/// The records store on a test database.
pub trait RecordsOn {
    fn store(&self) -> PostgresStore;
    async fn migrated_store(&self) -> PostgresStore;
}

impl RecordsOn for FreshDb {
    fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url, &PoolSettings::default()).expect("pool")
    }

    async fn migrated_store(&self) -> PostgresStore {
        let store = self.store();
        store.migrate().await.expect("migrate");
        store
    }
}

/// A migrated database for the intake tests, with the records and intake stores on it.
pub struct IntakeDb {
    pub db: FreshDb,
}

impl IntakeDb {
    pub async fn create(admin_url: &str) -> Self {
        let db = FreshDb::create(admin_url).await;
        db.migrated_store().await;
        Self { db }
    }

    /// The records store on this database, with a pool of its own.
    pub fn records(&self) -> PostgresStore {
        self.db.store()
    }

    /// An intake store on a pool of its own (as another process would have).
    pub fn store(&self) -> PostgresIntakeStore {
        self.records().intake()
    }
}
