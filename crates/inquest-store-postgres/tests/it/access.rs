//! The access store contract on `PostgresAccessStore`, the audit log's append-only
//! trigger, and the row-level security policies seen from a role that does not bypass them.

use inquest_contract::access::access_contract;
use inquest_ports::AccessStore;
use tokio_postgres::NoTls;

use crate::support::{FreshDb, RecordsOn, server_url};

#[tokio::test]
async fn access_contract_on_postgres() {
    let Some(admin) = server_url("access_contract_on_postgres") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await.access();
    access_contract(&store).await;
    assert_eq!(store.backend(), "postgres");
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes_and_policies_scope_rows() {
    let Some(admin) = server_url("the_audit_log_refuses_updates_and_deletes_and_policies_scope_rows") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await.access();
    access_contract(&store).await;

    let (mut client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    for sql in ["UPDATE audit_log SET actor = 'someone'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let e = client.batch_execute(sql).await.expect_err(sql);
        let msg = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
        assert!(msg.contains("append only"), "{sql}: {msg}");
    }

    // A role of its own (roles are cluster-wide: random name, dropped at the end).
    let role = format!("inquest_rls_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} NOLOGIN; GRANT SELECT ON api_tokens, sessions, integrations, project_members, audit_log TO {role}"
        ))
        .await
        .expect("role");
    let count = async |client: &mut tokio_postgres::Client, table: &str, scope: &[(&str, &str)]| -> i64 {
        let txn = client.transaction().await.expect("txn");
        txn.batch_execute(&format!("SET LOCAL ROLE {role}")).await.expect("set role");
        for (k, v) in scope {
            txn.execute("SELECT set_config($1, $2, true)", &[k, v]).await.expect("set_config");
        }
        let n: i64 = txn.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
        txn.rollback().await.expect("rollback");
        n
    };
    // The contract leaves: tokens aa11 (payments) and bb22 (ops); integration 5ec2 (ops);
    // alice in payments, bob in ops; 8 audit entries in payments, 1 in ops, 1 without project.
    assert_eq!(count(&mut client, "api_tokens", &[]).await, 0, "no setting: nothing visible");
    assert_eq!(count(&mut client, "api_tokens", &[("inquest.project", "payments")]).await, 1);
    assert_eq!(count(&mut client, "api_tokens", &[("inquest.token_hash", "bb22")]).await, 1);
    assert_eq!(count(&mut client, "api_tokens", &[("inquest.token_hash", "zz")]).await, 0);
    assert_eq!(count(&mut client, "integrations", &[("inquest.project", "payments")]).await, 0);
    assert_eq!(count(&mut client, "integrations", &[("inquest.secret_hash", "5ec2")]).await, 1);
    assert_eq!(count(&mut client, "project_members", &[("inquest.project", "ops")]).await, 1);
    assert_eq!(count(&mut client, "audit_log", &[("inquest.project", "payments")]).await, 8);
    assert_eq!(count(&mut client, "audit_log", &[("inquest.project", "ops")]).await, 1);
    assert_eq!(count(&mut client, "audit_log", &[]).await, 0);
    client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.expect("drop role");
}
