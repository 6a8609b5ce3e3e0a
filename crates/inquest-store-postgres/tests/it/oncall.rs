//! The on-call contract on `PostgresOncallStore`, and its tables' row-level security
//! seen from a role that does not bypass it.

use inquest_contract::oncall::{oncall_contract, schedule};
use inquest_domain::{IncidentId, Project, ProjectId};
use inquest_ops::oncall::{Assignment, OncallStore, Override};
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
async fn oncall_contract_on_postgres() {
    let Some(admin) = server_url("oncall_contract_on_postgres") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    let ids = projects(&store, &["alpha", "bravo"]).await;
    let oncall = store.oncall();
    oncall_contract(&oncall, &ids[0], &ids[1]).await;
    assert_eq!(oncall.backend(), "postgres");
}

#[tokio::test]
async fn oncall_rows_are_scoped_by_the_policy() {
    let Some(admin) = server_url("oncall_rows_are_scoped_by_the_policy") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    let ids = projects(&store, &["alpha", "bravo"]).await;
    let oncall = store.oncall();
    let now = chrono::Utc::now();
    for (project, name) in [(&ids[0], "a"), (&ids[0], "a2"), (&ids[1], "b")] {
        let s = schedule(project, name, 1);
        oncall.put_schedule(&s).await.expect("put");
        let o = Override {
            override_id: uuid::Uuid::new_v4(),
            person: "dee".into(),
            from: now,
            until: now + chrono::Duration::hours(1),
            created_at: now,
        };
        assert!(oncall.add_override(project, s.schedule_id, &o).await.expect("override"));
        let a = Assignment {
            incident_id: IncidentId::new_random(),
            project_id: project.clone(),
            schedule_id: s.schedule_id,
            person: "ana".into(),
            assigned_at: now,
            escalations: vec![],
            stopped: None,
        };
        oncall.put_assignment(&a).await.expect("assign");
    }

    let (mut client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    let role = format!("inquest_rls_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} NOLOGIN; GRANT SELECT ON oncall_schedules, oncall_overrides, oncall_assignments TO {role}"
        ))
        .await
        .expect("role");
    for table in ["oncall_schedules", "oncall_overrides", "oncall_assignments"] {
        let mut count = async |project: Option<&str>| -> i64 {
            let txn = client.transaction().await.expect("txn");
            txn.batch_execute(&format!("SET LOCAL ROLE {role}")).await.expect("set role");
            if let Some(p) = project {
                txn.execute("SELECT set_config('inquest.project', $1, true)", &[&p]).await.expect("scope");
            }
            let n: i64 = txn.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
            txn.rollback().await.expect("rollback");
            n
        };
        assert_eq!((count(None).await, count(Some("alpha")).await, count(Some("bravo")).await), (0, 2, 1), "{table}");
    }
    client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.expect("drop role");
}
