//! The access store contract (`inquest-contract`'s `access` suite) on `EmbeddedAccessStore`,
//! and what survives reopening its file.

use inquest_contract::access::access_contract;
use inquest_domain::ProjectId;
use inquest_ports::AccessStore;
use inquest_store_embedded::EmbeddedAccessStore;

#[tokio::test]
async fn access_contract_on_embedded_in_memory() {
    access_contract(&EmbeddedAccessStore::in_memory().expect("in memory")).await;
}

#[tokio::test]
async fn access_contract_on_an_embedded_file_and_its_rows_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.redb");
    {
        let store = EmbeddedAccessStore::open(&path).expect("open");
        access_contract(&store).await;
    }
    let store = EmbeddedAccessStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 1);
    assert_eq!(store.count_users().await.expect("count"), 2);
    let pay = ProjectId::new("payments").expect("id");
    assert!(store.get_project(&pay).await.expect("get").is_some());
    assert_eq!(store.token_by_hash("aa11").await.expect("by hash").map(|t| t.token_hash), Some("aa11".into()));
    assert_eq!(store.list_projects().await.expect("list").len(), 3, "default is not created twice");
}
