//! Slack-compatible and generic webhooks posted to a local receiver: what they carry,
//! the signature, retries with backoff until the receiver takes the message, and a
//! channel that keeps failing: kept as failed, failing on `/metrics`, brought back by
//! a retry.

use inquest_ops::channels::{DeliveryQuery, DeliveryState, NewTarget, NotifyStore, Retried};
use inquest_ops::notify::NoticeEvent;

use crate::*;

const SECRET: &str = "a-signing-secret-0123456789";

#[tokio::test]
async fn slack_and_webhook_json_reach_a_local_receiver_with_the_signature() {
    let rx = Receiver::start(&[200]).await;
    let rig = Rig::new(config(3, None)).await;
    let slack =
        rig.channel("slack", NewTarget::Slack { webhook_url: rx.url("/services/T0/B0/slack-token") }, vec![]).await;
    let hook =
        rig.channel("hook", NewTarget::Webhook { url: rx.url("/hook"), secret: Some(SECRET.into()) }, vec![]).await;
    // A channel for another event gets nothing.
    rig.channel(
        "escalations",
        NewTarget::Webhook { url: rx.url("/other"), secret: None },
        vec![NoticeEvent::Escalated],
    )
    .await;
    let n = notice(NoticeEvent::Diagnosed);
    let queued = inquest_ops::channels::OutboxNotifier { store: rig.store.clone() };
    assert_eq!(inquest_ops::notify::Notifier::notify(&queued, &rig.project, &n).await.expect("queued"), 2);
    assert!(rx.received().is_empty(), "queuing sends nothing");

    let round = rig.round_after(0).await;
    assert_eq!((round.sent, round.retried, round.failed), (2, 0, 0));
    let got = rx.received();
    assert_eq!(got.len(), 2, "{got:?}");
    let link = format!("{PUBLIC_URL}/incidents/{}", n.incident_id);

    let s = got.iter().find(|r| r.path == "/services/T0/B0/slack-token").expect("slack post");
    let body = s.json();
    let text = body["text"].as_str().expect("text");
    assert!(text.contains("release r42 of checkout (release, confidence 87%)"), "{text}");
    assert!(text.contains(&link), "{text}");
    assert!(body["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    assert_eq!(s.headers["content-type"], "application/json");
    assert!(s.headers.get(inquest_notify::message::SIGNATURE_HEADER).is_none(), "slack is not signed");

    let w = got.iter().find(|r| r.path == "/hook").expect("webhook post");
    let body = w.json();
    assert_eq!(body["incident_id"], n.incident_id.to_string());
    assert_eq!(body["event"], "diagnosed");
    assert_eq!(body["cause"]["title"], "release r42 of checkout");
    assert_eq!(body["cause"]["confidence"], 0.87);
    assert_eq!(body["link"], link.as_str());
    assert!(body["text"].as_str().is_some_and(|t| t.contains("confidence 87%")));
    let sig = w.headers[inquest_notify::message::SIGNATURE_HEADER].to_str().expect("ascii");
    assert_eq!(sig, inquest_access::hmac::sign_sha256(SECRET.as_bytes(), &w.body), "the HMAC of the exact bytes");
    let delivery = w.headers[inquest_notify::message::DELIVERY_HEADER].to_str().expect("ascii").to_string();

    let page = rig.store.list_deliveries(&rig.project, &DeliveryQuery::default()).await.expect("list");
    assert_eq!(page.total, 2);
    assert!(page.deliveries.iter().all(|d| d.state == DeliveryState::Sent && d.attempts == 1 && d.sent_at.is_some()));
    assert!(page.deliveries.iter().any(|d| d.delivery_id.to_string() == delivery && d.channel_id == hook.channel_id));
    for c in [&slack, &hook] {
        let h = rig.store.get_channel(&rig.project, c.channel_id).await.expect("get").expect("channel").health;
        assert!(h.last_success_at.is_some() && h.consecutive_failures == 0, "{h:?}");
    }
    let m = rig.metrics();
    assert!(m.contains(r#"inquest_notifications_total{kind="slack",outcome="sent"} 1"#), "{m}");
    assert!(m.contains(r#"inquest_notifications_total{kind="webhook",outcome="sent"} 1"#), "{m}");
    // Nothing more to send.
    assert_eq!(rig.round_after(60).await.sent, 0);
    assert_eq!(rx.received().len(), 2);
}

#[tokio::test]
async fn a_receiver_answering_500_twice_gets_the_message_on_the_third_attempt() {
    let rx = Receiver::start(&[500, 500, 200]).await;
    let rig = Rig::new(config(5, None)).await;
    let hook = rig.channel("hook", NewTarget::Webhook { url: rx.url("/flaky"), secret: None }, vec![]).await;
    let queued =
        rig.store.enqueue(&rig.project, &notice(NoticeEvent::Paged), chrono::Utc::now()).await.expect("enqueue");
    assert_eq!(queued.len(), 1);
    let id = queued[0].delivery_id;

    let first = rig.round_after(0).await;
    assert_eq!((first.sent, first.retried), (0, 1));
    let d = rig.store.get_delivery(&rig.project, id).await.expect("get").expect("kept");
    assert_eq!((d.state, d.attempts), (DeliveryState::Queued, 1));
    assert!(d.last_error.as_deref().is_some_and(|e| e.contains("500")), "{d:?}");
    assert!(d.next_attempt_at > chrono::Utc::now(), "backed off: {}", d.next_attempt_at);
    // Not due again before its backoff.
    assert_eq!(rig.worker.round(chrono::Utc::now()).await.retried + rig.worker.round(chrono::Utc::now()).await.sent, 0);

    assert_eq!(rig.round_after(10).await.retried, 1);
    let second = rig.store.get_delivery(&rig.project, id).await.expect("get").expect("kept");
    assert!(second.next_attempt_at - d.next_attempt_at >= chrono::Duration::milliseconds(4500), "the wait doubles");
    assert_eq!(rig.round_after(20).await.sent, 1);

    let got = rx.received();
    assert_eq!(got.len(), 3, "three attempts, one message");
    assert!(got.iter().all(|r| r.headers[inquest_notify::message::DELIVERY_HEADER] == id.to_string().as_str()));
    assert!(got.windows(2).all(|w| w[0].body == w[1].body), "the same message each time");
    let d = rig.store.get_delivery(&rig.project, id).await.expect("get").expect("kept");
    assert_eq!((d.state, d.attempts, d.last_error.clone()), (DeliveryState::Sent, 3, None));
    let h = rig.store.get_channel(&rig.project, hook.channel_id).await.expect("get").expect("channel").health;
    assert_eq!(h.consecutive_failures, 0);
    let m = rig.metrics();
    assert!(m.contains(r#"inquest_notifications_total{kind="webhook",outcome="retried"} 2"#), "{m}");
    assert!(m.contains(r#"inquest_notifications_total{kind="webhook",outcome="sent"} 1"#), "{m}");
    assert!(m.contains(&format!(r#"inquest_notification_channel_failing{{channel="{}"}} 0"#, hook.channel_id)), "{m}");
}

#[tokio::test]
async fn a_channel_that_keeps_failing_is_failing_on_metrics_keeps_the_message_and_a_retry_delivers_it() {
    let rx = Receiver::start(&[503]).await;
    let rig = Rig::new(config(3, None)).await;
    let url = rx.url("/down/secret-path-token");
    let hook = rig.channel("down", NewTarget::Webhook { url, secret: None }, vec![]).await;
    let id = rig.store.enqueue(&rig.project, &notice(NoticeEvent::Assigned), chrono::Utc::now()).await.expect("q")[0]
        .delivery_id;
    for (i, wait) in [0, 10, 20].into_iter().enumerate() {
        let r = rig.round_after(wait).await;
        assert_eq!(r.retried + r.failed, 1, "round {i}: {r:?}");
    }
    let d = rig.store.get_delivery(&rig.project, id).await.expect("get").expect("kept, not dropped");
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 3));
    let error = d.last_error.clone().expect("error");
    assert!(error.contains("attempt 3 of 3") && error.contains("503"), "{error}");
    assert!(!error.contains("secret-path-token"), "the URL is the credential: {error}");
    let state = rig.store.get_channel(&rig.project, hook.channel_id).await.expect("get").expect("channel");
    assert!(state.health.failing(), "{:?}", state.health);
    let m = rig.metrics();
    let ch = hook.channel_id;
    assert!(m.contains(&format!(r#"inquest_notification_channel_failing{{channel="{ch}"}} 1"#)), "{m}");
    assert!(m.contains(&format!(r#"inquest_notification_channel_consecutive_failures{{channel="{ch}"}} 3"#)), "{m}");
    assert!(m.contains(r#"inquest_notifications_total{kind="webhook",outcome="failed"} 1"#), "{m}");
    assert!(!m.contains("secret-path-token"));
    // Given up: no more attempts.
    assert_eq!(rig.round_after(600).await, inquest_notify::Round::default());
    assert_eq!(rx.received().len(), 3);

    // The receiver is back; the retry route's call queues it again and it goes through.
    rx.answer(200);
    match rig.store.retry(&rig.project, id, chrono::Utc::now()).await.expect("retry") {
        Retried::Queued(d) => assert_eq!((d.state, d.attempts), (DeliveryState::Queued, 0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.round_after(0).await.sent, 1);
    assert_eq!(rx.received().len(), 4);
    let state = rig.store.get_channel(&rig.project, hook.channel_id).await.expect("get").expect("channel");
    assert!(!state.health.failing());
    assert!(rig.metrics().contains(&format!(r#"inquest_notification_channel_failing{{channel="{ch}"}} 0"#)));
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_a_failed_attempt_not_a_hang() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut cfg = config(2, None);
    cfg.send_timeout = std::time::Duration::from_millis(300);
    let rig = Rig::new(cfg).await;
    rig.channel("silent", NewTarget::Webhook { url: format!("http://{addr}/x"), secret: None }, vec![]).await;
    let id = rig.store.enqueue(&rig.project, &notice(NoticeEvent::Paged), chrono::Utc::now()).await.expect("q")[0]
        .delivery_id;
    let started = std::time::Instant::now();
    assert_eq!(rig.round_after(0).await.retried, 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "bounded by the timeout");
    let d = rig.store.get_delivery(&rig.project, id).await.expect("get").expect("kept");
    assert_eq!(d.state, DeliveryState::Queued);
}
