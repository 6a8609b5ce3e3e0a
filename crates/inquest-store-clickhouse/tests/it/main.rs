//! Integration tests of the ClickHouse adapter against the server named by
//! `INQUEST_TEST_CLICKHOUSE_URL` (in the test command: the real ClickHouse engine,
//! chDB, behind `scripts/chdb_front.py`, unless a real server is named).

mod metrics;

/// The test server, a fresh random database on it, migrated.
pub async fn fresh_store() -> Option<inquest_store_clickhouse::ClickHouseStore> {
    let url = match std::env::var("INQUEST_TEST_CLICKHOUSE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but INQUEST_TEST_CLICKHOUSE_URL is not set: scripts/ci.d/20-clickhouse.sh should have started the chDB front"
                );
            }
            say(
                "SKIPPED: INQUEST_TEST_CLICKHOUSE_URL is not set (scripts/test.sh starts ClickHouse's engine, chDB, behind a small HTTP front and sets it)",
            );
            return None;
        }
    };
    let db = format!("inquest_test_{}", uuid::Uuid::new_v4().simple());
    let store = inquest_store_clickhouse::ClickHouseStore::new(&url, &db).expect("store");
    store.migrate().await.expect("migrate");
    Some(store)
}

/// Print past the test harness's output capture, so a skip is seen.
fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
}
