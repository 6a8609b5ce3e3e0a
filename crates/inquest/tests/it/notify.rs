//! Notifications through a running `inquest serve`: a webhook channel created over
//! the API, a test notice queued, and the worker `serve` starts delivering it to a
//! local receiver after the receiver refused it once; the attempts on `/metrics`, and
//! the queue on `notify.redb` beside the other embedded files.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Server, wait_until};

#[tokio::test]
async fn serve_delivers_a_queued_notice_to_a_webhook_after_a_refusal() {
    // A receiver refusing the first post, taking the next.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut g = seen.lock().expect("lock");
                g.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                if g.len() == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[
            ("INQUEST_NOTIFY_POLL_MS", "100"),
            ("INQUEST_NOTIFY_BACKOFF_SECS", "1"),
            ("INQUEST_NOTIFY_BACKOFF_MAX_SECS", "2"),
            ("INQUEST_NOTIFY_PUBLIC_URL", "https://inquest.example"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/api/channels", server.url))
        .json(&json!({"name": "hook", "kind": "webhook", "url": format!("http://{addr}/hook"),
            "secret": "a-signing-secret-0123456789"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["channel_id"].as_str().unwrap_or_else(|| panic!("{created}")).to_string();
    let test = client.post(format!("{}/api/channels/{id}/test", server.url)).send().await.expect("test");
    assert_eq!(test.status(), reqwest::StatusCode::ACCEPTED);

    wait_until("the receiver to take the notice", Duration::from_secs(20), || {
        let got = got.clone();
        async move { got.lock().expect("lock").len() >= 2 }
    })
    .await;
    let bodies = got.lock().expect("lock").clone();
    assert_eq!(bodies[0], bodies[1], "the same message again");
    assert_eq!(bodies[1]["link"], "https://inquest.example/incidents/00000000-0000-0000-0000-000000000000");
    assert!(bodies[1]["text"].as_str().is_some_and(|t| t.contains("test notice")), "{}", bodies[1]);

    let url = format!("{}/api/notifications?channel={id}", server.url);
    wait_until("the delivery to be sent", Duration::from_secs(10), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let page: Value = client.get(&url).send().await.expect("list").json().await.expect("json");
            page["items"][0]["state"] == "sent" && page["items"][0]["attempts"] == 2
        }
    })
    .await;
    let metrics =
        client.get(format!("{}/metrics", server.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"inquest_notifications_total{kind="webhook",outcome="retried"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"inquest_notifications_total{kind="webhook",outcome="sent"} 1"#), "{metrics}");
    assert!(metrics.contains(&format!(r#"inquest_notification_channel_failing{{channel="{id}"}} 0"#)), "{metrics}");
    server.stop();
    assert!(data.join("notify.redb").is_file(), "the queue lives in notify.redb");
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    assert!(!log.contains("a-signing-secret") && !log.contains(&format!("{addr}/hook")), "a secret in the log:\n{log}");
}
