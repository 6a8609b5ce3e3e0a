//! The semantic contract and the data model's collections on a real Qdrant.

use std::sync::Arc;

use inquest_contract::semantic::semantic_contract;
use inquest_ports::{ErrorKind, SemanticStore};
use inquest_store_qdrant::QdrantStore;

fn qdrant() -> Option<QdrantStore> {
    match std::env::var("INQUEST_TEST_QDRANT_URL") {
        Ok(url) if !url.is_empty() => {
            let key = std::env::var("INQUEST_TEST_QDRANT_API_KEY").ok().filter(|k| !k.is_empty());
            Some(QdrantStore::new(&url, key).expect("qdrant client"))
        }
        _ => {
            say("SKIPPED: INQUEST_TEST_QDRANT_URL is not set. No Qdrant server can be installed on this machine \
                 (no reachable registry ships one); set it to a Qdrant gRPC address (e.g. http://127.0.0.1:6334) to run this suite.");
            None
        }
    }
}

#[tokio::test]
async fn semantic_contract_on_qdrant() {
    let Some(store) = qdrant() else { return };
    let version = store.server_version().await.expect("server version");
    say(&format!("qdrant server {version}"));
    let created = semantic_contract(Arc::new(store.clone())).await;
    for c in created {
        store.delete_collection(&c).await.expect("delete test collection");
    }
}

#[tokio::test]
async fn unreachable_qdrant_is_reported_plainly() {
    // Runs everywhere: nothing listens on port 9.
    let store = QdrantStore::new("http://127.0.0.1:9", None).expect("client");
    let e = store.check_connectivity().await.expect_err("nothing listens on port 9");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    assert!(e.message.contains("cannot reach qdrant (grpc) at http://127.0.0.1:9"), "{e}");
}

/// Print past the test harness's output capture, so a skip is seen.
fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
}

#[tokio::test]
async fn two_projects_share_a_collection_without_seeing_each_other() {
    let Some(store) = qdrant() else { return };
    let (a, b) = inquest_contract::isolation::two_projects();
    let collection = format!("inquest_contract_{}_isolation", uuid::Uuid::new_v4().simple());
    inquest_contract::isolation::semantic_isolation(Arc::new(store.clone()), &a, &b, &collection).await;
    store.delete_collection(&collection).await.expect("delete test collection");
}
