//! The SLO and invariant contract (`inquest-contract`'s `ops` suite) on
//! `EmbeddedOpsStore`, and what survives reopening its file.

use inquest_contract::ops::ops_contract;
use inquest_domain::ProjectId;
use inquest_ops::OpsStore;
use inquest_store_embedded::EmbeddedOpsStore;

fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("project id")
}

#[tokio::test]
async fn ops_contract_on_embedded_in_memory() {
    ops_contract(&EmbeddedOpsStore::in_memory().expect("in memory"), &pid("alpha"), &pid("bravo")).await;
}

#[tokio::test]
async fn ops_contract_on_an_embedded_file_and_its_rows_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ops.redb");
    {
        let store = EmbeddedOpsStore::open(&path).expect("open");
        ops_contract(&store, &pid("alpha"), &pid("bravo")).await;
    }
    let store = EmbeddedOpsStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 1);
    assert_eq!(store.list_slos(&pid("alpha")).await.expect("list").len(), 1, "the SLO not deleted is still there");
    assert_eq!(store.list_invariants(&pid("bravo")).await.expect("list").len(), 1);
}
