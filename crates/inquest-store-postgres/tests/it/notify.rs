//! The notification contract on `PostgresNotifyStore`, and the channels' and
//! deliveries' row-level security seen from a role that does not bypass it.

use inquest_contract::notify::{notice, notify_contract};
use inquest_domain::{IncidentId, Project, ProjectId};
use inquest_ops::channels::{NewChannel, NewTarget, NotifyStore};
use inquest_ops::notify::NoticeEvent;
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
async fn notify_contract_on_postgres() {
    let Some(admin) = server_url("notify_contract_on_postgres") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    projects(&store, &["notify-a", "notify-b"]).await;
    let notify = store.notify();
    notify_contract(&notify).await;
    assert_eq!(notify.backend(), "postgres");
}

#[tokio::test]
async fn channels_and_deliveries_are_scoped_by_the_policy() {
    let Some(admin) = server_url("channels_and_deliveries_are_scoped_by_the_policy") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    let ids = projects(&store, &["alpha", "bravo"]).await;
    let notify = store.notify();
    for (project, name) in [(&ids[0], "a1"), (&ids[0], "a2"), (&ids[1], "b1")] {
        let c = NewChannel {
            name: name.into(),
            target: NewTarget::Email { to: vec!["sre@example.com".into()] },
            events: vec![],
            enabled: true,
        }
        .into_channel(project, chrono::Utc::now(), &|s| s.to_string())
        .expect("valid");
        notify.create_channel(&c).await.expect("create");
    }
    for p in &ids {
        notify
            .enqueue(p, &notice(NoticeEvent::Assigned, IncidentId::new_random()), chrono::Utc::now())
            .await
            .expect("enqueue");
    }

    let (mut client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    let role = format!("inquest_rls_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} NOLOGIN; GRANT SELECT ON notification_channels, notification_deliveries TO {role}"
        ))
        .await
        .expect("role");
    let mut count = async |project: Option<&str>, table: &str| -> i64 {
        let txn = client.transaction().await.expect("txn");
        txn.batch_execute(&format!("SET LOCAL ROLE {role}")).await.expect("set role");
        if let Some(p) = project {
            txn.execute("SELECT set_config('inquest.project', $1, true)", &[&p]).await.expect("scope");
        }
        let n: i64 = txn.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
        txn.rollback().await.expect("rollback");
        n
    };
    for table in ["notification_channels", "notification_deliveries"] {
        let seen = (count(None, table).await, count(Some("alpha"), table).await, count(Some("bravo"), table).await);
        assert_eq!(seen, (0, 2, 1), "{table}");
    }
    client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.expect("drop role");
}
