//! The on-call contract (`inquest-contract`'s `oncall` suite) on `EmbeddedOncallStore`,
//! and what survives reopening its file.

use inquest_contract::oncall::oncall_contract;
use inquest_domain::ProjectId;
use inquest_ops::oncall::OncallStore;
use inquest_store_embedded::EmbeddedOncallStore;

fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("project id")
}

#[tokio::test]
async fn oncall_contract_on_embedded_in_memory() {
    oncall_contract(&EmbeddedOncallStore::in_memory().expect("in memory"), &pid("alpha"), &pid("bravo")).await;
}

#[tokio::test]
async fn oncall_contract_on_an_embedded_file_and_its_rows_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("oncall.redb");
    let (schedules, assignments) = {
        let store = EmbeddedOncallStore::open(&path).expect("open");
        oncall_contract(&store, &pid("alpha"), &pid("bravo")).await;
        (
            store.list_schedules(&pid("alpha")).await.expect("list"),
            store.list_assignments(&pid("alpha")).await.expect("list"),
        )
    };
    let store = EmbeddedOncallStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 1);
    assert_eq!(store.list_schedules(&pid("alpha")).await.expect("list"), schedules);
    assert_eq!(store.list_assignments(&pid("alpha")).await.expect("list"), assignments);
    assert_eq!(assignments.len(), 2);
}
