//! The ticket port (`TicketStore`) contract: tickets with their append-only history,
//! patches, readiness across a dependency chain, cycles refused in the store, the
//! list's filters, order and paging, source idempotency, and that a project never
//! sees, changes or links another project's tickets. Written once, run on
//! `EmbeddedTicketStore` and `PostgresTicketStore`.
//!
//! Times are explicit whole seconds, so no case depends on the clock or on the
//! precision a backend keeps.

use chrono::Duration;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::tickets::*;
use serde_json::json;
use uuid::Uuid;

fn secs(n: i64) -> Timestamp {
    "2026-03-01T10:00:00Z".parse::<Timestamp>().expect("time") + Duration::seconds(n)
}

fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("project id")
}

fn make(project: &ProjectId, objective: &str, priority: TicketPriority, at: i64) -> (Ticket, TicketEvent) {
    NewTicket {
        objective: objective.into(),
        success_criteria: vec![format!("{objective} is done")],
        context: json!({"from": "contract"}),
        priority,
        source_type: TicketSource::Human,
        source_id: None,
    }
    .into_ticket(project, secs(at))
    .expect("valid ticket")
}

async fn create(store: &dyn TicketStore, project: &ProjectId, objective: &str, at: i64) -> Ticket {
    let (t, e) = make(project, objective, TicketPriority::Medium, at);
    store.create_ticket(&t, &e).await.expect("create");
    t
}

async fn status(store: &dyn TicketStore, project: &ProjectId, id: Uuid, to: TicketStatus, at: i64) -> Ticket {
    let patch = TicketPatch { status: Some(to), ..Default::default() };
    match store.patch_ticket(project, id, &patch, secs(at)).await.expect("patch") {
        Patched::Done(t) => t,
        other => panic!("patch to {to} gave {other:?}"),
    }
}

async fn ready(store: &dyn TicketStore, project: &ProjectId) -> Vec<Uuid> {
    let q = TicketQuery { status: Some(StatusFilter::Ready), ..Default::default() };
    let page = store.list_tickets(project, &q).await.expect("list ready");
    assert_eq!(page.total, page.tickets.len());
    assert!(page.tickets.iter().all(|l| l.ready));
    page.tickets.into_iter().map(|l| l.ticket.id).collect()
}

pub async fn tickets_contract(store: &dyn TicketStore) {
    store.check_connectivity().await.expect("reachable");
    let p = pid("tickets-a");
    let other = pid("tickets-b");

    // Created, read back whole, with its `created` event.
    let a = create(store, &p, "restore the pool", 0).await;
    let got = store.get_ticket(&p, a.id).await.expect("get").expect("found");
    assert_eq!(got.ticket, a);
    assert!(got.ready, "a pending ticket without dependencies is ready");
    let ev = store.events(&p, a.id).await.expect("events").expect("ticket exists");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event_type, "created");
    assert_eq!(ev[0].created_at, secs(0));
    let (dup, dup_event) = (a.clone(), ev[0].clone());
    assert!(store.create_ticket(&dup, &dup_event).await.is_err(), "an id is created once");

    // Readiness across a dependency chain: c waits on b, b on a.
    let b = create(store, &p, "raise the limit", 1).await;
    let c = create(store, &p, "write the postmortem", 2).await;
    assert!(matches!(store.add_dependency(&p, b.id, a.id, secs(3)).await.expect("b on a"), AddDependency::Added(_)));
    assert!(matches!(store.add_dependency(&p, c.id, b.id, secs(4)).await.expect("c on b"), AddDependency::Added(_)));
    match store.add_dependency(&p, c.id, b.id, secs(5)).await.expect("again") {
        AddDependency::Exists(d) => assert_eq!(d.created_at, secs(4), "the first dependency stays"),
        other => panic!("a repeated dependency gave {other:?}"),
    }
    assert_eq!(ready(store, &p).await, vec![a.id]);
    status(store, &p, a.id, TicketStatus::InProgress, 10).await;
    assert!(ready(store, &p).await.is_empty(), "in progress is neither ready nor done");
    let done = status(store, &p, a.id, TicketStatus::Completed, 11).await;
    assert_eq!(done.resolved_at, Some(secs(11)));
    assert_eq!(ready(store, &p).await, vec![b.id]);
    status(store, &p, b.id, TicketStatus::Failed, 12).await;
    assert!(ready(store, &p).await.is_empty(), "a failed dependency does not release c");
    status(store, &p, b.id, TicketStatus::Pending, 13).await;
    status(store, &p, b.id, TicketStatus::Completed, 14).await;
    assert_eq!(ready(store, &p).await, vec![c.id]);
    assert_eq!(store.count_ready(&p).await.expect("count"), 1);
    assert!(store.get_ticket(&p, c.id).await.expect("get c").expect("c").ready);

    // A cycle is refused with its path, and nothing is stored.
    match store.add_dependency(&p, a.id, c.id, secs(20)).await.expect("cycle") {
        AddDependency::Cycle(path) => assert_eq!(path, vec![a.id, c.id, b.id, a.id]),
        other => panic!("a cycle gave {other:?}"),
    }
    assert!(matches!(store.add_dependency(&p, a.id, a.id, secs(20)).await.expect("self"), AddDependency::Cycle(_)));
    let deps = store.dependencies(&p, a.id).await.expect("deps").expect("a exists");
    assert!(deps.is_empty(), "the refused dependency was not stored");
    let deps = store.dependencies(&p, c.id).await.expect("deps").expect("c exists");
    assert_eq!(deps.len(), 1);
    assert_eq!((deps[0].dependency.depends_on_id, deps[0].ticket.status), (b.id, TicketStatus::Completed));

    // Removing a dependency appends its event; removing it twice does nothing.
    let d = create(store, &p, "check the dashboards", 21).await;
    assert!(matches!(store.add_dependency(&p, d.id, c.id, secs(22)).await.expect("d on c"), AddDependency::Added(_)));
    assert!(!ready(store, &p).await.contains(&d.id));
    assert!(store.remove_dependency(&p, d.id, c.id, secs(23)).await.expect("remove"));
    assert!(!store.remove_dependency(&p, d.id, c.id, secs(24)).await.expect("remove again"));
    assert!(ready(store, &p).await.contains(&d.id));
    let types: Vec<String> =
        store.events(&p, d.id).await.expect("events").expect("d").into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["created", "dependency_added", "dependency_removed"]);

    // A patch appends one event per change, in order; a refused one changes nothing.
    let patch = TicketPatch {
        status: Some(TicketStatus::Blocked),
        priority: Some(TicketPriority::High),
        context: Some(json!({"waiting_on": "dba approval"})),
        note: Some("needs a DBA".into()),
    };
    let Patched::Done(t) = store.patch_ticket(&p, d.id, &patch, secs(30)).await.expect("patch") else {
        panic!("patch refused")
    };
    assert_eq!(t.context, json!({"from": "contract", "waiting_on": "dba approval"}));
    assert_eq!((t.status, t.priority, t.updated_at), (TicketStatus::Blocked, TicketPriority::High, secs(30)));
    let refused = TicketPatch { status: Some(TicketStatus::Completed), ..Default::default() };
    status(store, &p, d.id, TicketStatus::Completed, 31).await;
    let again = TicketPatch { status: Some(TicketStatus::Failed), ..Default::default() };
    match store.patch_ticket(&p, d.id, &again, secs(32)).await.expect("patch") {
        Patched::Refused(e) => assert_eq!(e.field, "status"),
        other => panic!("completed to failed gave {other:?}"),
    }
    let Patched::Done(unchanged) = store.patch_ticket(&p, d.id, &refused, secs(33)).await.expect("same") else {
        panic!("a no-op patch is done")
    };
    assert_eq!(unchanged.updated_at, secs(31), "a patch changing nothing touches nothing");
    let ev = store.events(&p, d.id).await.expect("events").expect("d");
    let types: Vec<&str> = ev.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "created",
            "dependency_added",
            "dependency_removed",
            "status_changed",
            "priority_changed",
            "context_updated",
            "status_changed"
        ]
    );
    assert_eq!(ev[3].data, json!({"from": "pending", "to": "blocked", "note": "needs a DBA"}));
    let note = client_event(d.id, "note", json!({"text": "DBA said yes"}), secs(34)).expect("event");
    assert!(store.append_event(&p, &note).await.expect("append"));
    let last = store.events(&p, d.id).await.expect("events").expect("d").pop().expect("one");
    assert_eq!(last, note);
    assert!(matches!(
        store.patch_ticket(&p, Uuid::new_v4(), &refused, secs(35)).await.expect("missing"),
        Patched::NotFound
    ));

    // Filters, order (most urgent, then oldest) and paging.
    let urgent = {
        let (t, e) = make(&p, "page the owner", TicketPriority::Critical, 40);
        store.create_ticket(&t, &e).await.expect("create");
        t
    };
    let all = store.list_tickets(&p, &TicketQuery::default()).await.expect("list");
    assert_eq!(all.total, 5);
    let order: Vec<Uuid> = all.tickets.iter().map(|l| l.ticket.id).collect();
    assert_eq!(order, vec![urgent.id, d.id, a.id, b.id, c.id]);
    let page = TicketQuery { limit: 2, offset: 1, ..Default::default() };
    let page = store.list_tickets(&p, &page).await.expect("page");
    assert_eq!((page.total, page.tickets.len()), (5, 2));
    assert_eq!(page.tickets[0].ticket.id, d.id);
    let past = TicketQuery { offset: 10, ..Default::default() };
    assert!(store.list_tickets(&p, &past).await.expect("past the end").tickets.is_empty());
    let completed = TicketQuery { status: Some(StatusFilter::Is(TicketStatus::Completed)), ..Default::default() };
    assert_eq!(store.list_tickets(&p, &completed).await.expect("completed").total, 3);
    let high = TicketQuery { priority: Some(TicketPriority::High), ..Default::default() };
    assert_eq!(store.list_tickets(&p, &high).await.expect("high").tickets[0].ticket.id, d.id);

    // One source's tickets are created once.
    let incident = Uuid::new_v4().to_string();
    let from_incident = |objective: &str, at: i64| {
        NewTicket {
            objective: objective.into(),
            success_criteria: vec![],
            context: json!({}),
            priority: TicketPriority::High,
            source_type: TicketSource::Incident,
            source_id: Some(incident.clone()),
        }
        .into_ticket(&p, secs(at))
        .expect("valid")
    };
    let first = vec![from_incident("confirm the deploy", 50), from_incident("roll back", 51)];
    let (made, created) =
        store.create_for_source(&p, TicketSource::Incident, &incident, &first).await.expect("create for source");
    assert!(created);
    assert_eq!(made.iter().map(|t| t.id).collect::<Vec<_>>(), vec![first[0].0.id, first[1].0.id]);
    let second = vec![from_incident("confirm the deploy", 60)];
    let (kept, created) =
        store.create_for_source(&p, TicketSource::Incident, &incident, &second).await.expect("second call");
    assert!(!created, "a second call creates nothing");
    assert_eq!(kept.iter().map(|t| t.id).collect::<Vec<_>>(), vec![first[0].0.id, first[1].0.id]);
    let by_source = TicketQuery {
        source_type: Some(TicketSource::Incident),
        source_id: Some(incident.clone()),
        ..Default::default()
    };
    assert_eq!(store.list_tickets(&p, &by_source).await.expect("by source").total, 2);
    assert!(store.get_ticket(&p, second[0].0.id).await.expect("get").is_none());

    // Another project sees nothing of these and cannot link to them.
    assert!(store.get_ticket(&other, a.id).await.expect("other get").is_none());
    assert!(store.events(&other, a.id).await.expect("other events").is_none());
    assert!(store.dependencies(&other, c.id).await.expect("other deps").is_none());
    assert_eq!(store.list_tickets(&other, &TicketQuery::default()).await.expect("other list").total, 0);
    assert_eq!(store.count_ready(&other).await.expect("other count"), 0);
    assert!(matches!(
        store.patch_ticket(&other, a.id, &refused, secs(70)).await.expect("other patch"),
        Patched::NotFound
    ));
    let theirs = create(store, &other, "their ticket", 71).await;
    match store.add_dependency(&other, theirs.id, a.id, secs(72)).await.expect("across projects") {
        AddDependency::MissingTicket(id) => assert_eq!(id, a.id),
        other => panic!("a dependency across projects gave {other:?}"),
    }
    match store.add_dependency(&p, a.id, theirs.id, secs(72)).await.expect("across projects") {
        AddDependency::MissingTicket(id) => assert_eq!(id, theirs.id),
        other => panic!("a dependency across projects gave {other:?}"),
    }
    assert!(!store.remove_dependency(&other, c.id, b.id, secs(73)).await.expect("other remove"));
    let foreign = client_event(a.id, "note", json!({}), secs(74)).expect("event");
    assert!(!store.append_event(&other, &foreign).await.expect("other append"));
    assert_eq!(store.events(&p, a.id).await.expect("events").expect("a").len(), 3, "created and two status changes");
}
