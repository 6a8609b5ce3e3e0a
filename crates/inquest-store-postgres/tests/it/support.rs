//! A fresh, randomly named database per test (`inquest_contract::postgres`), with
//! the records store on it.

pub use inquest_contract::postgres::{FreshDb, server_url};
use inquest_store_postgres::{PoolSettings, PostgresStore};

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
