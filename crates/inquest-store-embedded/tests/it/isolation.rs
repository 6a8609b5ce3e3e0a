//! Projects on the embedded store: the isolation contract of every port, and a
//! file written before projects existed read back in the `default` project.

use std::sync::Arc;

use inquest_contract::isolation::*;
use inquest_domain::{ProjectId, Service, ServiceId};
use inquest_intake::IngestStore;
use inquest_ports::{MetricStore, RecordStore};
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore, SCHEMA_VERSION};
use redb::{Database, TableDefinition};

#[tokio::test]
async fn every_port_keeps_two_projects_apart() {
    let store = Arc::new(EmbeddedStore::in_memory().expect("in-memory store"));
    let (a, b) = two_projects();
    records_isolation(store.clone(), &a, &b).await;
    metrics_isolation(store.clone(), &a, &b).await;
    topology_isolation(store.clone(), &a, &b).await;
    semantic_isolation(store.clone(), &a, &b, "runbooks").await;
    let stores = store.stores();
    assert_eq!(stores.project(), &ProjectId::default_project(), "the wiring acts in the default project");
    let scoped = stores.for_project(&a);
    assert_eq!((scoped.records.project(), scoped.metrics.project()), (&a, &a));
    assert_eq!((scoped.topology.project(), scoped.semantic.project()), (&a, &a));
}

#[tokio::test]
async fn the_intake_keeps_two_projects_apart() {
    let store: Arc<dyn IngestStore> = Arc::new(EmbeddedIntakeStore::in_memory().expect("in-memory intake"));
    let (a, b) = two_projects();
    ingest_isolation(store, &a, &b).await;
}

#[tokio::test]
async fn rows_of_a_file_written_before_projects_belong_to_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("inquest.redb");
    let service = Service {
        service_id: ServiceId::new_random(),
        cluster_id: "prod".into(),
        namespace: "shop".into(),
        service_name: "checkout".into(),
        created_at: chrono::Utc::now(),
    };
    {
        // The version 1 layout: keys without a project.
        let db = Database::create(&path).expect("create");
        let txn = db.begin_write().expect("write");
        {
            let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
            txn.open_table(meta).expect("meta").insert("schema_version", 1).expect("version");
            let services: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
            let bytes = serde_json::to_vec(&service).expect("json");
            let key = service.service_id.to_string();
            txn.open_table(services).expect("services").insert(key.as_str(), bytes.as_slice()).expect("row");
            let points: TableDefinition<(&str, &str, i64), (f64, &str)> = TableDefinition::new("metric_points");
            txn.open_table(points).expect("points").insert(("shop/checkout", "errors", 1_000), (2.5, "")).expect("pt");
        }
        txn.commit().expect("commit");
    }
    let store = EmbeddedStore::open(&path).expect("open upgrades the file");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(store.list_services().await.expect("services"), vec![service.clone()], "kept, in default");
    let from = chrono::DateTime::from_timestamp_millis(0).expect("t");
    let to = chrono::DateTime::from_timestamp_millis(10_000).expect("t");
    let window = store.window("shop/checkout", from, to).await.expect("window");
    assert_eq!(window.series.len(), 1, "points re-keyed too");
    let other = RecordStore::scoped(&store, &ProjectId::new("other").expect("id"));
    assert!(other.list_services().await.expect("services").is_empty(), "another project sees none of it");
    drop((store, other));
    let again = EmbeddedStore::open(&path).expect("reopen");
    assert_eq!(again.list_services().await.expect("services").len(), 1, "upgraded once, not twice");
}

#[tokio::test]
async fn an_intake_file_written_before_projects_is_read_in_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ingest.redb");
    let store = EmbeddedIntakeStore::open(&path).expect("open");
    let policy = inquest_intake::Policy::default_policy();
    let alert = inquest_contract::ingest::alert("checkout", "critical", "errors");
    store.ingest(&[alert], &policy, chrono::Utc::now()).await.expect("ingest");
    drop(store);
    // Undo the project prefix and the version row, as a file of the previous build had them.
    {
        let db = Database::open(&path).expect("open raw");
        let txn = db.begin_write().expect("write");
        {
            let meta: TableDefinition<&str, u64> = TableDefinition::new("ingest_meta");
            txn.open_table(meta).expect("meta").remove("schema_version").expect("drop version");
            let incidents: TableDefinition<&str, &[u8]> = TableDefinition::new("ingest_incidents");
            let mut t = txn.open_table(incidents).expect("incidents");
            let rows: Vec<(String, Vec<u8>)> = redb::ReadableTable::iter(&t)
                .expect("iter")
                .map(|r| {
                    let (k, v) = r.expect("row");
                    let key = k.value().split_once('\u{1f}').map(|(_, id)| id.to_string()).expect("prefixed");
                    (key, v.value().to_vec())
                })
                .collect();
            t.retain(|_, _| false).expect("clear");
            for (k, v) in &rows {
                t.insert(k.as_str(), v.as_slice()).expect("row");
            }
        }
        txn.commit().expect("commit");
    }
    let store = EmbeddedIntakeStore::open(&path).expect("open upgrades the file");
    assert_eq!(store.list_incidents().await.expect("list").len(), 1, "the incident is in default");
}
