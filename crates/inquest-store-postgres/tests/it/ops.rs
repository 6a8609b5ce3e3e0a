//! The SLO and invariant contract on `PostgresOpsStore`, and its tables' row-level
//! security seen from a role that does not bypass it.

use inquest_contract::ops::{ops_contract, slo};
use inquest_domain::{Project, ProjectId};
use inquest_ops::OpsStore;
use inquest_ports::AccessStore;
use tokio_postgres::NoTls;

use crate::support::{FreshDb, RecordsOn, server_url};

async fn projects(store: &inquest_store_postgres::PostgresStore, ids: &[&str]) -> Vec<ProjectId> {
    let access = store.access();
    let mut out = Vec::new();
    for id in ids {
        let project_id = ProjectId::new(id).expect("id");
        let p = Project { project_id: project_id.clone(), name: id.to_string(), created_at: chrono::Utc::now() };
        access.create_project(&p).await.expect("project");
        out.push(project_id);
    }
    out
}

#[tokio::test]
async fn ops_contract_on_postgres() {
    let Some(admin) = server_url("ops_contract_on_postgres") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    let ids = projects(&store, &["alpha", "bravo"]).await;
    let ops = store.ops();
    ops_contract(&ops, &ids[0], &ids[1]).await;
    assert_eq!(ops.backend(), "postgres");
}

#[tokio::test]
async fn slo_rows_are_scoped_by_the_policy() {
    let Some(admin) = server_url("slo_rows_are_scoped_by_the_policy") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    let ids = projects(&store, &["alpha", "bravo"]).await;
    let ops = store.ops();
    ops.put_slo(&slo(&ids[0], "a", 1)).await.expect("put a");
    ops.put_slo(&slo(&ids[0], "a2", 2)).await.expect("put a2");
    ops.put_slo(&slo(&ids[1], "b", 3)).await.expect("put b");

    let (mut client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    let role = format!("inquest_rls_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE ROLE {role} NOLOGIN; GRANT SELECT ON slos, invariants TO {role}"))
        .await
        .expect("role");
    let mut count = async |project: Option<&str>| -> i64 {
        let txn = client.transaction().await.expect("txn");
        txn.batch_execute(&format!("SET LOCAL ROLE {role}")).await.expect("set role");
        if let Some(p) = project {
            txn.execute("SELECT set_config('inquest.project', $1, true)", &[&p]).await.expect("scope");
        }
        let n: i64 = txn.query_one("SELECT count(*) FROM slos", &[]).await.expect("count").get(0);
        txn.rollback().await.expect("rollback");
        n
    };
    assert_eq!((count(None).await, count(Some("alpha")).await, count(Some("bravo")).await), (0, 2, 1));
    client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.expect("drop role");
}
