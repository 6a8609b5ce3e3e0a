//! The same sync on Postgres (skipped without `INQUEST_TEST_POSTGRES_URL`, a failure
//! under `CI=true`).

use std::sync::Arc;

use inquest_git::{SyncOptions, cursor, sync};
use inquest_ports::{HashEmbedder, Stores};
use inquest_store_embedded::EmbeddedStore;
use inquest_store_postgres::{PoolSettings, PostgresStore};

use crate::support::{REPO, TestRepo, story};

#[tokio::test]
async fn the_sync_on_postgres_stores_the_same_rows_and_resumes() {
    let Some(admin) = inquest_contract::postgres::server_url("the_sync_on_postgres_stores_the_same_rows_and_resumes")
    else {
        return;
    };
    let db = inquest_contract::postgres::FreshDb::create(&admin).await;
    let records = PostgresStore::connect(&db.url, &PoolSettings::default()).expect("pool");
    records.migrate().await.expect("migrate");
    let embedded = EmbeddedStore::in_memory().expect("embedded").stores();
    let stores = Stores { records: Arc::new(records), embedder: Arc::new(HashEmbedder::default()), ..embedded };

    let repo = TestRepo::new();
    let s = story(&repo);
    let options = SyncOptions { chunk_commits: 3, ..SyncOptions::default() };
    let first = sync(&stores, REPO, &repo.path(), &options).await.expect("sync");
    assert_eq!((first.commits, first.deliveries), (8, 3));
    crate::sync::check_story(&stores, &s).await;
    let again = sync(&stores, REPO, &repo.path(), &options).await.expect("again");
    assert_eq!((again.commits, again.deliveries), (0, 0));
    assert_eq!(cursor(&stores, REPO).await.expect("cursor").tips, vec![s.secret]);
}
