//! Notification channels through the API: bad input refused naming the field, URLs
//! and secrets sealed and shown masked, the test notice, the delivery list's filters,
//! retry only of a failed delivery, and a channel that keeps failing (a receiver
//! answering 503) shown as failing in the channels API and on `/metrics`, with its
//! delivery kept and retried; and a server without a notification store answering 503.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use inquest_access::seal::Keyring;
use inquest_ops::channels::NotifyStore;
use inquest_ops::notify::{Notice, NoticeEvent};
use inquest_ports::AccessStore;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedNotifyStore};
use serde_json::{Value, json};

use crate::*;

struct Rig {
    router: Router,
    state: AppState,
    store: Arc<EmbeddedNotifyStore>,
    access: Arc<EmbeddedAccessStore>,
}

async fn rig() -> Rig {
    let (ingest, stores) = in_memory(inquest_intake::Policy::default_policy());
    let access_store = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    inquest_access::bootstrap::default_project(access_store.as_ref(), chrono::Utc::now()).await.expect("project");
    let mut access = Access::open(access_store.clone(), &prometheus::Registry::new()).expect("access metrics");
    access.keyring = Arc::new(Keyring::ephemeral());
    let mut state = AppState::new(stores, Arc::new(inquest_report::TemplateReport), ingest, Arc::new(access));
    let store = Arc::new(EmbeddedNotifyStore::in_memory().expect("notify store"));
    state.notify = store.clone();
    state.notifier = Arc::new(inquest_ops::channels::OutboxNotifier { store: store.clone() });
    Rig { router: inquest_server::app(state.clone()), state, store, access: access_store }
}

fn notice() -> Notice {
    let id = inquest_domain::IncidentId::new_random();
    Notice {
        incident_id: id,
        event: NoticeEvent::Paged,
        at: chrono::Utc::now(),
        service: "checkout".into(),
        severity: "critical".into(),
        status: "open".into(),
        recipient: None,
        cause: None,
        link: Notice::link_of(id),
        reason: "paged".into(),
    }
}

async fn refused(router: &Router, method: &str, uri: &str, body: Value) -> String {
    let (s, v) = call(router, method, uri, Some(body)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    v["error"]["field"].as_str().unwrap_or_else(|| panic!("no field named: {v}")).to_string()
}

#[tokio::test]
async fn bad_channels_are_refused_naming_the_field_and_nothing_is_stored() {
    let r = rig().await;
    let cases = [
        (json!({"name": "x", "kind": "pager"}), "kind"),
        (json!({"name": " ", "kind": "email", "to": ["a@example.com"]}), "name"),
        (json!({"name": "x", "kind": "slack"}), "webhook_url"),
        (json!({"name": "x", "kind": "slack", "webhook_url": "ftp://hooks.example/x"}), "webhook_url"),
        (json!({"name": "x", "kind": "slack", "webhook_url": "https://h/x", "to": ["a@b.c"]}), "to"),
        (json!({"name": "x", "kind": "webhook", "url": "not a url"}), "url"),
        (json!({"name": "x", "kind": "webhook", "url": "https://h/x", "secret": "short"}), "secret"),
        (json!({"name": "x", "kind": "email", "to": []}), "to"),
        (json!({"name": "x", "kind": "email", "to": ["ok@example.com", "nobody"]}), "to[1]"),
        (json!({"name": "x", "kind": "email", "to": ["a@b.c"], "events": ["paged", "sometimes"]}), "events[1]"),
        (json!({"name": "x", "kind": "email", "to": ["a@b.c"], "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        assert_eq!(refused(&r.router, "POST", "/api/channels", body.clone()).await, field, "{body}");
    }
    let (s, v) = call(&r.router, "GET", "/api/channels", None).await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    for (uri, field) in [
        ("/api/notifications?state=lost", "state"),
        ("/api/notifications?channel=nope", "channel"),
        ("/api/notifications?incident=nope", "incident"),
        ("/api/notifications?limit=0", "limit"),
    ] {
        let (s, v) = call(&r.router, "GET", uri, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert_eq!(v["error"]["field"], field, "{uri}: {v}");
    }
    let (s, v) = call(&r.router, "GET", "/api/channels/not-a-uuid", None).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("channel_id")));
}

#[tokio::test]
async fn urls_and_secrets_are_sealed_and_shown_masked_and_a_test_notice_is_queued() {
    let r = rig().await;
    let body = json!({"name": "team", "kind": "webhook", "url": "https://hooks.example/T0/very-secret-token",
        "secret": "signing-secret-0123456789", "events": ["paged", "diagnosed"]});
    let (s, created, _) = raw(&r.router, "POST", "/api/channels", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED);
    let text = String::from_utf8_lossy(&created).to_string();
    assert!(!text.contains("very-secret-token") && !text.contains("signing-secret"), "{text}");
    let v: Value = serde_json::from_slice(&created).expect("json");
    assert_eq!(v["target"], "https://hooks.example/…");
    assert_eq!((v["kind"].as_str(), v["signed"].as_bool()), (Some("webhook"), Some(true)));
    assert_eq!(v["events"], json!(["paged", "diagnosed"]));
    assert_eq!(v["health"]["failing"], false);
    let id = v["channel_id"].as_str().expect("id").to_string();

    // At rest: sealed, not in the clear.
    let stored = r.store.get_channel(&inquest_domain::ProjectId::default_project(), id.parse().expect("uuid")).await;
    let stored = serde_json::to_string(&stored.expect("read").expect("channel").channel).expect("json");
    assert!(!stored.contains("very-secret-token") && !stored.contains("signing-secret"), "{stored}");

    let (_, listed, _) = raw(&r.router, "GET", "/api/channels", None).await;
    assert!(!String::from_utf8_lossy(&listed).contains("very-secret-token"));

    // Replaced: mail now, every event.
    let (s, v) = call(
        &r.router,
        "PUT",
        &format!("/api/channels/{id}"),
        Some(json!({"name": "team mail",
        "kind": "email", "to": ["sre@example.com"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["kind"].as_str(), v["target"].as_str(), v["events"].clone()),
        (Some("email"), Some("sre@example.com"), json!([]))
    );

    // A test notice queues one delivery, whatever the channel's events.
    let (s, d) = call(&r.router, "POST", &format!("/api/channels/{id}/test"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    assert_eq!((d["state"].as_str(), d["attempts"].as_u64()), (Some("queued"), Some(0)));
    // And a notice through the state's notifier, as others call it.
    let n = notice();
    let queued = r.state.notifier.notify(&inquest_domain::ProjectId::default_project(), &n).await.expect("queued");
    assert_eq!(queued, 1);
    let (_, page) = call(&r.router, "GET", &format!("/api/notifications?channel={id}"), None).await;
    assert_eq!(page["total"], 2, "{page}");
    let (_, page) = call(&r.router, "GET", &format!("/api/notifications?incident={}", n.incident_id), None).await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["event"], "paged");
    let (_, page) = call(&r.router, "GET", "/api/notifications?state=sent", None).await;
    assert_eq!(page["total"], 0);
    // Only a failed delivery is retried.
    let did = d["delivery_id"].as_str().expect("id");
    let (s, v) = call(&r.router, "POST", &format!("/api/notifications/{did}/retry"), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = call(&r.router, "POST", &format!("/api/notifications/{}/retry", uuid::Uuid::new_v4()), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleted: gone, its deliveries still listed.
    let (s, _, _) = raw(&r.router, "DELETE", &format!("/api/channels/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&r.router, "GET", &format!("/api/channels/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, page) = call(&r.router, "GET", &format!("/api/notifications?channel={id}"), None).await;
    assert_eq!(page["total"], 2);
}

#[tokio::test]
async fn a_channel_that_keeps_failing_shows_as_failing_in_the_api_and_on_metrics() {
    let r = rig().await;
    // A receiver that refuses every message.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let refusing =
        axum::Router::new().route("/{*p}", axum::routing::post(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    tokio::spawn(async move { axum::serve(listener, refusing).await.expect("serve") });
    let (s, v) = call(
        &r.router,
        "POST",
        "/api/channels",
        Some(json!({"name": "down", "kind": "slack",
        "webhook_url": format!("http://{addr}/services/hook-token")})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["channel_id"].as_str().expect("id").to_string();
    r.state.notifier.notify(&inquest_domain::ProjectId::default_project(), &notice()).await.expect("queued");

    // The worker `serve` starts, on the same store, keyring and /metrics registry.
    let mut config = inquest_notify::NotifyConfig::from_settings(&inquest_config::NotifySettings::default());
    config.max_attempts = 3;
    let metrics = inquest_notify::NotifyMetrics::new(r.state.ingest.metrics.registry()).expect("metrics");
    let senders =
        inquest_notify::Senders::new(r.state.access.keyring.clone(), &config.public_url, config.send_timeout, None)
            .expect("senders");
    let access: Arc<dyn AccessStore> = r.access.clone();
    let worker = inquest_notify::Worker::new(r.store.clone(), access, senders, metrics, config, "api-test".into());
    for wait in [0, 3600, 7200] {
        worker.round(chrono::Utc::now() + chrono::Duration::seconds(wait)).await;
    }

    let (_, c) = call(&r.router, "GET", &format!("/api/channels/{id}"), None).await;
    assert_eq!(c["health"]["failing"], true, "{c}");
    assert_eq!(c["health"]["consecutive_failures"], 3, "{c}");
    let error = c["health"]["last_error"].as_str().expect("error");
    assert!(error.contains("503") && !error.contains("hook-token"), "{error}");
    let (_, metrics_text, _) = raw(&r.router, "GET", "/metrics", None).await;
    let m = String::from_utf8_lossy(&metrics_text);
    assert!(m.contains(&format!(r#"inquest_notification_channel_failing{{channel="{id}"}} 1"#)), "{m}");
    assert!(m.contains(&format!(r#"inquest_notification_channel_consecutive_failures{{channel="{id}"}} 3"#)), "{m}");
    assert!(m.contains(r#"inquest_notifications_total{kind="slack",outcome="failed"} 1"#), "{m}");
    assert!(!m.contains("hook-token"));

    // Kept as failed, with its error; the retry route queues it again.
    let (_, page) = call(&r.router, "GET", "/api/notifications?state=failed", None).await;
    assert_eq!(page["total"], 1, "{page}");
    let d = &page["items"][0];
    assert_eq!(d["attempts"], 3);
    assert!(d["last_error"].as_str().is_some_and(|e| e.contains("attempt 3 of 3")), "{d}");
    let (s, v) =
        call(&r.router, "POST", &format!("/api/notifications/{}/retry", d["delivery_id"].as_str().expect("id")), None)
            .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!((v["state"].as_str(), v["attempts"].as_u64()), (Some("queued"), Some(0)));
}

#[tokio::test]
async fn without_a_notification_store_the_routes_answer_503() {
    let (ingest, stores) = in_memory(inquest_intake::Policy::default_policy());
    let router = intake_app(&ingest, &stores);
    let (s, v) = call(&router, "GET", "/api/channels", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let (s, _) = call(&router, "GET", "/api/notifications", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}
