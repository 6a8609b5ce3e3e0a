//! The migration runner on a real server: fresh apply, idempotence, concurrency,
//! refusal of a changed file, and the way back (down to a version and up again).

use inquest_ports::ErrorKind;
use inquest_store_postgres::{MIGRATIONS, MigrationState, latest_version};
use tokio_postgres::NoTls;

use crate::support::{FreshDb, RecordsOn, server_url};

#[tokio::test]
async fn migrate_applies_every_file_once_and_is_safe_to_repeat() {
    let Some(url) = server_url("migrate_applies_every_file_once_and_is_safe_to_repeat") else { return };
    let db = FreshDb::create(&url).await;
    let store = db.store();
    let before = store.migration_status().await.expect("status");
    assert!(before.iter().all(|m| m.state == MigrationState::Pending), "{before:?}");
    let started = std::time::Instant::now();
    let applied = store.migrate().await.expect("first migrate");
    eprintln!("migrate on a fresh database: {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
    assert_eq!(applied.len(), MIGRATIONS.len());
    assert!(store.migrate().await.expect("second migrate").is_empty(), "nothing to apply the second time");
    let after = store.migration_status().await.expect("status");
    assert_eq!(after.len(), MIGRATIONS.len());
    assert!(after.iter().all(|m| matches!(m.state, MigrationState::Applied { .. })), "{after:?}");

    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    let rows = client
        .query("SELECT version, name, checksum FROM inquest_schema_migrations ORDER BY version", &[])
        .await
        .expect("migrations table");
    assert_eq!(rows.len(), MIGRATIONS.len(), "one row per migration");
    for (row, m) in rows.iter().zip(MIGRATIONS) {
        assert_eq!(row.get::<_, i64>(0), m.version);
        assert_eq!(row.get::<_, String>(1), m.name);
        assert_eq!(row.get::<_, String>(2), m.checksum());
    }
    // The schema really is there: the data model's tables and the confidence column type.
    let ty: String = client
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = 'incident_hypotheses'::regclass AND attname = 'confidence'",
            &[],
        )
        .await
        .expect("column")
        .get(0);
    assert_eq!(ty, "numeric(3,2)");
}

#[tokio::test]
async fn concurrent_migrations_apply_each_file_once() {
    let Some(url) = server_url("concurrent_migrations_apply_each_file_once") else { return };
    let db = FreshDb::create(&url).await;
    let (a, b) = (db.store(), db.store());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let total = ra.expect("first runner").len() + rb.expect("second runner").len();
    assert_eq!(total, MIGRATIONS.len(), "each migration applied by exactly one runner");
}

#[tokio::test]
async fn a_changed_applied_file_is_refused() {
    let Some(url) = server_url("a_changed_applied_file_is_refused") else { return };
    let db = FreshDb::create(&url).await;
    let store = db.migrated_store().await;
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    // As if 0002 had been edited after it was applied.
    client
        .execute("UPDATE inquest_schema_migrations SET checksum = 'abc' WHERE version = 2", &[])
        .await
        .expect("tamper");
    let err = store.migrate().await.expect_err("a changed file must be refused");
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("0002_incident_resolution"), "{err}");
    let status = store.migration_status().await.expect("status");
    assert!(matches!(status[1].state, MigrationState::Changed { .. }), "{status:?}");

    // A database newer than this build is refused as well.
    client
        .execute(
            "INSERT INTO inquest_schema_migrations (version, name, checksum) VALUES (999, '0999_future', 'x')",
            &[],
        )
        .await
        .expect("future row");
    client
        .execute("UPDATE inquest_schema_migrations SET checksum = $1 WHERE version = 2", &[&MIGRATIONS[1].checksum()])
        .await
        .expect("restore");
    let err = store.migrate().await.expect_err("an unknown applied migration must be refused");
    assert!(err.message.contains("0999_future"), "{err}");
}

/// The tables of the public schema, sorted.
async fn tables(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", &[])
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn services(client: &tokio_postgres::Client) -> i64 {
    client.query_one("SELECT count(*) FROM services", &[]).await.expect("count services").get(0)
}

#[tokio::test]
async fn migrate_to_walks_down_to_zero_and_up_again() {
    let Some(url) = server_url("migrate_to_walks_down_to_zero_and_up_again") else { return };
    let db = FreshDb::create(&url).await;
    let store = db.store();
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);

    let up = store.migrate_to(latest_version()).await.expect("up to the top");
    assert_eq!(up.applied.len(), MIGRATIONS.len());
    assert!(up.reverted.is_empty());
    let top = tables(&client).await;
    assert!(top.contains(&"investigation_jobs".to_string()), "{top:?}");
    client
        .execute(
            "INSERT INTO services (service_id, cluster_id, namespace, service_name)
             VALUES (gen_random_uuid(), 'c', 'ns', 'checkout')",
            &[],
        )
        .await
        .expect("a service at the top version");

    // Down to 3: the project scope, the projects and the intake's tables go, the records
    // (written at the top version, in the default project) stay.
    let down = store.migrate_to(3).await.expect("down to 3");
    let above_3: Vec<i64> = MIGRATIONS.iter().rev().map(|m| m.version).filter(|v| *v > 3).collect();
    assert_eq!(down.reverted.iter().map(|m| m.version).collect::<Vec<_>>(), above_3);
    assert!(down.applied.is_empty());
    let at3 = tables(&client).await;
    assert!(!at3.iter().any(|t| t.starts_with("ingest_") || t == "investigation_jobs"), "{at3:?}");
    assert_eq!(services(&client).await, 1, "the records survive a down that keeps their tables");
    let status = store.migration_status().await.expect("status");
    assert_eq!(status[3].state, MigrationState::Pending, "{status:?}");
    assert!(store.migrate_to(3).await.expect("again at 3") == Default::default(), "nothing to do");

    // Down to 0: every table of the schema is dropped, only the (empty) migrations table stays.
    let zero = store.migrate_to(0).await.expect("down to 0");
    assert_eq!(zero.reverted.iter().map(|m| m.version).collect::<Vec<_>>(), vec![3, 2, 1]);
    assert_eq!(tables(&client).await, vec!["inquest_schema_migrations".to_string()]);
    let rows: i64 =
        client.query_one("SELECT count(*) FROM inquest_schema_migrations", &[]).await.expect("count").get(0);
    assert_eq!(rows, 0);

    // And up again: the same schema as the first time, usable.
    let again = store.migrate().await.expect("up again");
    assert_eq!(again.len(), MIGRATIONS.len());
    assert_eq!(tables(&client).await, top);
    assert_eq!(services(&client).await, 0, "down to 0 dropped the records");
    let status = store.migration_status().await.expect("status");
    assert!(status.iter().all(|m| matches!(m.state, MigrationState::Applied { .. })), "{status:?}");
}

#[tokio::test]
async fn migrate_to_refuses_a_version_this_build_does_not_know() {
    let Some(url) = server_url("migrate_to_refuses_a_version_this_build_does_not_know") else { return };
    let db = FreshDb::create(&url).await;
    let store = db.store();
    for target in [-1, latest_version() + 1] {
        let err = store.migrate_to(target).await.expect_err("an unknown target must be refused");
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains(&format!("no migration {target}")), "{err}");
    }
}
