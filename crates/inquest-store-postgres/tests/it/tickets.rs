//! The ticket contract on `PostgresTicketStore`; the history's append-only trigger and
//! the tickets' row-level security seen from a role that does not bypass it.

use inquest_contract::tickets::tickets_contract;
use inquest_domain::{Project, ProjectId};
use inquest_ops::tickets::{NewTicket, TicketPriority, TicketSource, TicketStore};
use inquest_ports::AccessStore;
use serde_json::json;
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
async fn tickets_contract_on_postgres() {
    let Some(admin) = server_url("tickets_contract_on_postgres") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    // The projects the suite writes to.
    projects(&store, &["tickets-a", "tickets-b"]).await;
    let tickets = store.tickets();
    tickets_contract(&tickets).await;
    assert_eq!(tickets.backend(), "postgres");
}

#[tokio::test]
async fn ticket_history_is_append_only_and_rows_are_scoped_by_the_policy() {
    let Some(admin) = server_url("ticket_history_is_append_only_and_rows_are_scoped_by_the_policy") else { return };
    let db = FreshDb::create(&admin).await;
    let store = db.migrated_store().await;
    let ids = projects(&store, &["alpha", "bravo"]).await;
    let tickets = store.tickets();
    for (project, objective) in [(&ids[0], "a1"), (&ids[0], "a2"), (&ids[1], "b1")] {
        let new = NewTicket {
            objective: objective.into(),
            success_criteria: vec![],
            context: json!({}),
            priority: TicketPriority::Low,
            source_type: TicketSource::Human,
            source_id: None,
        };
        let (t, e) = new.into_ticket(project, chrono::Utc::now()).expect("valid");
        tickets.create_ticket(&t, &e).await.expect("create");
    }

    let (mut client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    // Even the tables' owner cannot rewrite history.
    let update = client.batch_execute("UPDATE ticket_events SET event_type = 'forged'").await;
    let e = update.expect_err("rewriting history is refused");
    assert!(format!("{e:?}").contains("append only"), "{e:?}");
    let delete = client.execute("DELETE FROM ticket_events", &[]).await;
    assert!(delete.is_err(), "deleting history is refused");
    let n: i64 = client.query_one("SELECT count(*) FROM ticket_events", &[]).await.expect("count").get(0);
    assert_eq!(n, 3);

    let role = format!("inquest_rls_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE ROLE {role} NOLOGIN; GRANT SELECT ON tickets, ticket_events TO {role}"))
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
    for table in ["tickets", "ticket_events"] {
        let seen = (count(None, table).await, count(Some("alpha"), table).await, count(Some("bravo"), table).await);
        assert_eq!(seen, (0, 2, 1), "{table}");
    }
    client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.expect("drop role");
}
