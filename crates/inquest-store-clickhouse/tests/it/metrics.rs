//! The metrics contract and the adapter's own promises on ClickHouse.

use std::sync::Arc;

use inquest_contract::metrics::metrics_contract;
use inquest_ports::{ErrorKind, MetricStore};
use inquest_store_clickhouse::ClickHouseStore;

use crate::fresh_store;

#[tokio::test]
async fn metrics_contract_on_clickhouse() {
    let Some(store) = fresh_store().await else { return };
    store.migrate().await.expect("migrate twice is harmless");
    metrics_contract(Arc::new(store.clone())).await;
    store.drop_database().await.expect("drop test database");
}

#[tokio::test]
async fn references_name_the_query() {
    let Some(store) = fresh_store().await else { return };
    let now = chrono::Utc::now();
    let w = store.window("prod/pay/api", now - chrono::Duration::hours(1), now).await.expect("window");
    assert!(
        w.reference.starts_with(&format!("clickhouse:{}.metric_points?service_key=prod/pay/api", store.database())),
        "{}",
        w.reference
    );
    assert!(w.reference.contains("#query_id=") && w.reference.contains("&sql_sha256="), "{}", w.reference);
    let b = store.baselines("prod/pay/api", now - chrono::Duration::hours(1), now).await.expect("baselines");
    assert_ne!(w.reference, b.reference, "each query has its own id");
    store.drop_database().await.expect("drop test database");
}

#[tokio::test]
async fn connectivity_says_what_is_wrong() {
    let Some(store) = fresh_store().await else { return };
    store.check_connectivity().await.expect("migrated store is healthy");
    let url = std::env::var("INQUEST_TEST_CLICKHOUSE_URL").expect("url set when a store was made");
    let unmigrated =
        ClickHouseStore::new(&url, &format!("inquest_test_{}", uuid::Uuid::new_v4().simple())).expect("store");
    let e = unmigrated.check_connectivity().await.expect_err("tables missing");
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(e.message.contains("inquest migrate"), "{e}");
    let down = ClickHouseStore::new("http://127.0.0.1:9", "inquest").expect("store");
    let e = down.check_connectivity().await.expect_err("nothing listens on port 9");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    assert!(e.message.contains("cannot reach the clickhouse server") && e.message.contains("127.0.0.1:9"), "{e}");
    store.drop_database().await.expect("drop test database");
}

#[tokio::test]
async fn large_loads_are_split_into_batched_inserts() {
    let Some(store) = fresh_store().await else { return };
    let t0 = chrono::Utc::now() - chrono::Duration::days(1);
    let n = inquest_store_clickhouse::INSERT_BATCH_ROWS + 1234;
    let points: Vec<inquest_domain::MetricPoint> = (0..n)
        .map(|i| inquest_domain::MetricPoint {
            ts: t0 + chrono::Duration::milliseconds(i as i64 * 10),
            service_key: "prod/pay/api".into(),
            metric_name: "rps".into(),
            value: i as f64,
            labels: Default::default(),
        })
        .collect();
    store.insert_points(&points).await.expect("insert");
    let b = store.baselines("prod/pay/api", t0, t0 + chrono::Duration::days(1)).await.expect("baselines");
    assert_eq!(b.baselines["rps"].count, n, "every row of both batches arrived");
    assert_eq!(b.baselines["rps"].median, (n - 1) as f64 / 2.0);
    store.drop_database().await.expect("drop test database");
}

#[tokio::test]
async fn two_projects_never_read_each_others_points() {
    let Some(store) = fresh_store().await else { return };
    let (a, b) = inquest_contract::isolation::two_projects();
    inquest_contract::isolation::metrics_isolation(Arc::new(store.clone()), &a, &b).await;
    store.drop_database().await.expect("drop test database");
}
