//! The ticket store contract (`inquest-contract`'s `tickets` suite) on
//! `EmbeddedTicketStore`, and that tickets, events and dependencies survive reopening
//! its file.

use inquest_contract::tickets::tickets_contract;
use inquest_domain::ProjectId;
use inquest_ops::tickets::{TicketQuery, TicketStore};
use inquest_store_embedded::EmbeddedTicketStore;

#[tokio::test]
async fn tickets_contract_on_embedded_in_memory() {
    tickets_contract(&EmbeddedTicketStore::in_memory().expect("in memory")).await;
}

#[tokio::test]
async fn tickets_contract_on_an_embedded_file_and_its_rows_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tickets.redb");
    let p = ProjectId::new("tickets-a").expect("project");
    let before = {
        let store = EmbeddedTicketStore::open(&path).expect("open");
        tickets_contract(&store).await;
        store.list_tickets(&p, &TicketQuery::default()).await.expect("list")
    };
    let store = EmbeddedTicketStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 1);
    let after = store.list_tickets(&p, &TicketQuery::default()).await.expect("list");
    assert_eq!(after, before);
    let first = &after.tickets[0].ticket;
    let events = store.events(&p, first.id).await.expect("events").expect("ticket");
    assert!(!events.is_empty());
    // The sequence goes on after reopening: a new event sorts last.
    let note =
        inquest_ops::tickets::client_event(first.id, "note", serde_json::json!({}), chrono::Utc::now()).expect("event");
    assert!(store.append_event(&p, &note).await.expect("append"));
    assert_eq!(store.events(&p, first.id).await.expect("events").expect("ticket").pop(), Some(note));
}
