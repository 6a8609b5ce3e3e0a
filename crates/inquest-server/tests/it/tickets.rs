//! Tickets through the API: readiness across a dependency chain, a cycle refused
//! naming the field, patches appending history and setting `resolved_at`, the list's
//! filters and paging, bad input, an incident's follow-ups created once, and a server
//! without a ticket store answering 503.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedTicketStore};
use serde_json::{Value, json};

use crate::*;

/// One investigated fixture incident, on an app with a ticket store.
async fn investigated() -> (Router, inquest_domain::IncidentId) {
    let stores = inquest_store_embedded::EmbeddedStore::in_memory().expect("store").stores();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let case = inquest_fixtures::FixtureCase::read(&root.join(CASES[0])).expect("fixture case");
    inquest_fixtures::load_case(&stores, &case).await.expect("load");
    let cfg = inquest_core::InvestigationConfig::default();
    inquest_core::investigate_and_save(
        &stores,
        &inquest_report::TemplateReport,
        case.incident_id,
        &cfg,
        chrono::Utc::now(),
    )
    .await
    .expect("investigate");
    let intake = Arc::new(inquest_store_embedded::EmbeddedIntakeStore::in_memory().expect("intake"));
    let (ingest, stores) = intake_on(stores, intake);
    (with_tickets(&stores, &ingest), case.incident_id)
}

fn with_tickets(stores: &inquest_ports::Stores, ingest: &Arc<inquest_intake_service::Ingest>) -> Router {
    let access_store = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    let access = Access::open(access_store, &prometheus::Registry::new()).expect("access metrics");
    let mut state =
        AppState::new(stores.clone(), Arc::new(inquest_report::TemplateReport), ingest.clone(), Arc::new(access));
    state.tickets = Arc::new(EmbeddedTicketStore::in_memory().expect("ticket store"));
    inquest_server::app(state)
}

async fn create(router: &Router, body: Value) -> String {
    let (s, v) = call(router, "POST", "/api/tickets", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().expect("id").to_string()
}

async fn ready(router: &Router) -> Vec<String> {
    let (s, v) = call(router, "GET", "/api/tickets?status=ready", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["items"].as_array().expect("items").iter().map(|t| t["id"].as_str().expect("id").to_string()).collect()
}

async fn set_status(router: &Router, id: &str, status: &str) -> Value {
    let (s, v) = call(router, "PATCH", &format!("/api/tickets/{id}"), Some(json!({ "status": status }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn ticket_readiness_across_a_dependency_chain() {
    let (ingest, stores) = in_memory(inquest_intake::Policy::default_policy());
    let router = with_tickets(&stores, &ingest);
    let a = create(&router, json!({"objective": "restore the pool", "success_criteria": ["p99 under 300 ms"]})).await;
    let b = create(&router, json!({"objective": "raise the limit"})).await;
    let c = create(&router, json!({"objective": "write the postmortem", "priority": "low"})).await;
    for (t, d) in [(&b, &a), (&c, &b)] {
        let (s, v) =
            call(&router, "POST", &format!("/api/tickets/{t}/dependencies"), Some(json!({"depends_on_id": d}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v[0]["depends_on_id"], json!(d));
    }
    assert_eq!(ready(&router).await, vec![a.clone()]);
    set_status(&router, &a, "in_progress").await;
    assert!(ready(&router).await.is_empty());
    let done = set_status(&router, &a, "completed").await;
    assert!(done["resolved_at"].is_string(), "{done}");
    assert_eq!(ready(&router).await, vec![b.clone()]);
    set_status(&router, &b, "completed").await;
    assert_eq!(ready(&router).await, vec![c.clone()]);

    // The cycle c -> b -> a closed by a -> c is refused, naming the field.
    let (s, v) =
        call(&router, "POST", &format!("/api/tickets/{a}/dependencies"), Some(json!({"depends_on_id": c}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["field"], "depends_on_id", "{v}");
    let message = error_message(&v, StatusCode::BAD_REQUEST);
    assert!(message.contains("cycle") && message.contains(&c), "{message}");

    // The ticket page: its history, oldest first, and what it waits on.
    let (s, v) = call(&router, "GET", &format!("/api/tickets/{c}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ready"], true);
    let types: Vec<&str> =
        v["events"].as_array().expect("events").iter().filter_map(|e| e["event_type"].as_str()).collect();
    assert_eq!(types, ["created", "dependency_added"]);
    assert_eq!(v["dependencies"][0]["depends_on"]["status"], "completed");
    let (s, deps) = call(&router, "GET", &format!("/api/tickets/{c}/dependencies"), None).await;
    assert_eq!((s, deps.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (s, _, _) = raw(&router, "DELETE", &format!("/api/tickets/{c}/dependencies/{b}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = call(&router, "DELETE", &format!("/api/tickets/{c}/dependencies/{b}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // Events a client appends; the server's own types are refused.
    let (s, v) = call(
        &router,
        "POST",
        &format!("/api/tickets/{c}/events"),
        Some(json!({"event_type": "agent_action", "data": {"tool": "kubectl"}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) =
        call(&router, "POST", &format!("/api/tickets/{c}/events"), Some(json!({"event_type": "status_changed"}))).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("event_type")), "{v}");
    let (_, events) = call(&router, "GET", &format!("/api/tickets/{c}/events"), None).await;
    let last = events.as_array().and_then(|e| e.last()).cloned().expect("an event");
    assert_eq!((last["event_type"].clone(), last["data"].clone()), (json!("agent_action"), json!({"tool": "kubectl"})));

    // Context merges, with an event naming the change.
    let (s, v) = call(
        &router,
        "PATCH",
        &format!("/api/tickets/{c}"),
        Some(json!({"context": {"doc": "https://wiki.example.com/pm"}, "note": "draft started"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["context"], json!({"doc": "https://wiki.example.com/pm"}));
    let last = v["events"].as_array().and_then(|e| e.last()).cloned().expect("an event");
    assert_eq!(last["event_type"], "context_updated");
    assert_eq!(last["data"]["note"], "draft started");

    // Filters and paging.
    let (_, v) = call(&router, "GET", "/api/tickets?status=completed", None).await;
    assert_eq!(v["total"], 2);
    let (_, v) = call(&router, "GET", "/api/tickets?limit=1&offset=2", None).await;
    assert_eq!((v["total"].clone(), v["items"].as_array().map(Vec::len)), (json!(3), Some(1)));
    assert_eq!(v["items"][0]["id"], json!(c), "the low priority ticket comes last");
    let (_, v) = call(&router, "GET", "/api/tickets?source_type=incident", None).await;
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let (ingest, stores) = in_memory(inquest_intake::Policy::default_policy());
    let router = with_tickets(&stores, &ingest);
    let id = create(&router, json!({"objective": "x"})).await;
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/api/tickets?status=done".into(), None, "status"),
        ("GET", "/api/tickets?limit=0".into(), None, "limit"),
        ("GET", "/api/tickets?limit=501".into(), None, "limit"),
        ("GET", "/api/tickets?source_type=robot".into(), None, "source_type"),
        ("GET", "/api/tickets/not-a-uuid".into(), None, "ticket_id"),
        ("POST", "/api/tickets".into(), Some(json!({"objective": ""})), "objective"),
        ("POST", "/api/tickets".into(), Some(json!({"objective": "x", "context": [1]})), "context"),
        ("POST", "/api/tickets".into(), Some(json!({"objective": "x", "source_type": "slo"})), "source_id"),
        ("POST", "/api/tickets".into(), Some(json!({"objective": "x", "priority": "urgent"})), "priority"),
        ("POST", "/api/tickets".into(), Some(json!({"objective": "x", "owner": "me"})), "owner"),
        ("PATCH", format!("/api/tickets/{id}"), Some(json!({"status": "done"})), "status"),
        ("PATCH", format!("/api/tickets/{id}"), Some(json!({})), "status"),
        ("POST", format!("/api/tickets/{id}/dependencies"), Some(json!({"depends_on_id": id})), "depends_on_id"),
        (
            "POST",
            format!("/api/tickets/{id}/dependencies"),
            Some(json!({"depends_on_id": uuid::Uuid::new_v4()})),
            "depends_on_id",
        ),
    ];
    for (method, uri, body, field) in cases {
        let (s, v) = call(&router, method, &uri, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {uri}: {v}");
        assert_eq!(v["error"]["field"], field, "{method} {uri}: {v}");
    }
    set_status(&router, &id, "completed").await;
    let (s, v) = call(&router, "PATCH", &format!("/api/tickets/{id}"), Some(json!({"status": "failed"}))).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")), "{v}");
    let missing = uuid::Uuid::new_v4();
    let (s, _) = call(&router, "GET", &format!("/api/tickets/{missing}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&router, "PATCH", &format!("/api/tickets/{missing}"), Some(json!({"status": "blocked"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_incidents_follow_ups_are_created_once() {
    let (router, incident) = investigated().await;
    let (s, v) = call(&router, "GET", &format!("/api/incidents/{incident}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let hypotheses = v["hypotheses"].as_array().cloned().unwrap_or_default();
    assert!(!hypotheses.is_empty(), "the fixture was investigated");
    let top = &hypotheses[0];

    let (s, first) = call(&router, "POST", &format!("/api/incidents/{incident}/tickets"), None).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["created"], true);
    let items = first["items"].as_array().cloned().unwrap_or_default();
    let from_hypotheses: Vec<&Value> = items
        .iter()
        .filter(|t| t["context"]["follow_up"].as_str().is_some_and(|f| f.starts_with("hypothesis:")))
        .collect();
    assert_eq!(from_hypotheses.len(), hypotheses.len().min(3), "{first}");
    let head = from_hypotheses[0];
    assert_eq!(head["context"]["hypothesis_id"], top["hypothesis_id"], "the top hypothesis comes first");
    assert!(head["objective"].as_str().is_some_and(|o| o.contains(top["title"].as_str().unwrap_or("?"))), "{head}");
    for t in &items {
        assert_eq!(
            (t["source_type"].as_str(), t["source_id"].as_str()),
            (Some("incident"), Some(incident.to_string().as_str()))
        );
        assert_eq!(t["status"], "pending");
        assert_eq!(t["ready"], true);
    }

    // A second call creates nothing and answers with the same tickets.
    let (s, second) = call(&router, "POST", &format!("/api/incidents/{incident}/tickets"), None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(second["created"], false);
    let ids =
        |v: &Value| -> Vec<Value> { v["items"].as_array().into_iter().flatten().map(|t| t["id"].clone()).collect() };
    assert_eq!(ids(&second), ids(&first));
    let (_, listed) =
        call(&router, "GET", &format!("/api/tickets?source_type=incident&source_id={incident}"), None).await;
    assert_eq!(listed["total"].as_u64(), Some(items.len() as u64));

    let missing = inquest_domain::IncidentId::new_random();
    let (s, _) = call(&router, "POST", &format!("/api/incidents/{missing}/tickets"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_ticket_store_the_routes_answer_503() {
    let (ingest, stores) = in_memory(inquest_intake::Policy::default_policy());
    let router = intake_app(&ingest, &stores);
    for (method, uri) in [("GET", "/api/tickets"), ("POST", "/api/tickets")] {
        let body = (method == "POST").then(|| json!({"objective": "x"}));
        let (s, v) = call(&router, method, uri, body).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{method} {uri}: {v}");
        error_message(&v, StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn the_summary_counts_open_incidents_ready_tickets_and_names_what_it_could_not_read() {
    let (router, _) = investigated().await;
    create(&router, json!({"objective": "one"})).await;
    let b = create(&router, json!({"objective": "two"})).await;
    set_status(&router, &b, "blocked").await;
    let (s, v) = call(&router, "GET", "/api/stats?days=7", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tickets"]["ready"], 1, "{v}");
    let open = v["incidents"]["total"].as_u64().expect("open incidents");
    let by_severity: u64 =
        v["incidents"]["by_severity"].as_object().expect("by severity").values().filter_map(Value::as_u64).sum();
    assert_eq!(by_severity, open, "{v}");
    assert_eq!(v["response_times"]["days"], 7);
    // This app has no SLO store: the part is missing and named, the rest answers.
    assert!(v["slos"].is_null(), "{v}");
    assert_eq!(v["gaps"][0]["part"], "slos", "{v}");
    let (s, v) = call(&router, "GET", "/api/stats?days=0", None).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("days")), "{v}");
}
