//! The notification port (`NotifyStore`) contract: channels created, replaced and
//! soft-deleted; a notice queued for every enabled channel whose events match and for
//! no other; leases held by one worker, retries with their time, giving up, a lease
//! that expired on the last attempt, and the retry of a failed delivery; channel
//! health after failures in a row and a success; the list's filters, order and
//! paging; and that a project never sees or changes another's. Written once, run on
//! `EmbeddedNotifyStore` and `PostgresNotifyStore`.
//!
//! Times are explicit whole seconds, so no case depends on the clock.

use chrono::Duration;
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ops::channels::*;
use inquest_ops::notify::{Notice, NoticeCause, NoticeEvent};

fn secs(n: i64) -> Timestamp {
    "2026-03-01T10:00:00Z".parse::<Timestamp>().expect("time") + Duration::seconds(n)
}

fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("project id")
}

fn seal(s: &str) -> String {
    format!("v1:test:{}", s.len())
}

fn channel(project: &ProjectId, name: &str, events: Vec<NoticeEvent>, at: i64) -> Channel {
    NewChannel {
        name: name.into(),
        target: NewTarget::Webhook { url: format!("https://hooks.example/{name}"), secret: None },
        events,
        enabled: true,
    }
    .into_channel(project, secs(at), &seal)
    .expect("valid channel")
}

pub fn notice(event: NoticeEvent, incident: IncidentId) -> Notice {
    Notice {
        incident_id: incident,
        event,
        at: secs(0),
        service: "checkout".into(),
        severity: "critical".into(),
        status: "open".into(),
        recipient: Some("ana".into()),
        cause: Some(NoticeCause { title: "release r42".into(), hypothesis_type: "release".into(), confidence: 0.87 }),
        link: Notice::link_of(incident),
        reason: "contract".into(),
    }
}

const LEASE: i64 = 30;

pub async fn notify_contract(store: &dyn NotifyStore) {
    store.check_connectivity().await.expect("reachable");
    let (a, b) = (pid("notify-a"), pid("notify-b"));

    // Channels: created, listed oldest first, replaced, soft-deleted.
    let all = channel(&a, "all", vec![], 1);
    let paged = channel(&a, "paged", vec![NoticeEvent::Paged], 2);
    let mut off = channel(&a, "off", vec![], 3);
    off.enabled = false;
    let other = channel(&b, "other", vec![], 4);
    for c in [&all, &paged, &off, &other] {
        store.create_channel(c).await.expect("create channel");
    }
    let listed: Vec<String> =
        store.list_channels(&a).await.expect("list").into_iter().map(|s| s.channel.name).collect();
    assert_eq!(listed, ["all", "paged", "off"]);
    let got = store.get_channel(&a, all.channel_id).await.expect("get").expect("channel");
    assert_eq!(got.channel, all);
    assert_eq!(got.health, ChannelHealth::default());
    assert_eq!(store.get_channel(&b, all.channel_id).await.expect("get"), None, "another project's channel");

    let mut renamed = paged.clone();
    renamed.name = "paged only".into();
    renamed.updated_at = secs(5);
    assert!(store.replace_channel(&renamed).await.expect("replace"));
    assert_eq!(store.get_channel(&a, paged.channel_id).await.expect("get").expect("channel").channel, renamed);
    let mut foreign = renamed.clone();
    foreign.project_id = b.clone();
    assert!(!store.replace_channel(&foreign).await.expect("replace"), "replaced in another project");

    // A notice goes to the enabled channels whose events match, and to no other.
    let incident = IncidentId::new_random();
    let assigned = store.enqueue(&a, &notice(NoticeEvent::Assigned, incident), secs(10)).await.expect("enqueue");
    assert_eq!(assigned.iter().map(|d| d.channel_id).collect::<Vec<_>>(), vec![all.channel_id]);
    let paged_out = store.enqueue(&a, &notice(NoticeEvent::Paged, incident), secs(11)).await.expect("enqueue");
    let mut to: Vec<_> = paged_out.iter().map(|d| d.channel_id).collect();
    to.sort();
    let mut want = vec![all.channel_id, paged.channel_id];
    want.sort();
    assert_eq!(to, want);
    assert!(paged_out.iter().all(|d| d.state == DeliveryState::Queued && d.attempts == 0));
    let stored = store.get_delivery(&a, assigned[0].delivery_id).await.expect("get").expect("delivery");
    assert_eq!(stored, assigned[0], "the delivery reads back as queued, notice and all");
    assert_eq!(store.get_delivery(&b, assigned[0].delivery_id).await.expect("get"), None);

    // Nothing is due before its time; a lease is held by one worker.
    assert!(store.take_due(&a, "w1", Duration::seconds(LEASE), 3, 10, secs(9)).await.expect("take").is_empty());
    let taken = store.take_due(&a, "w1", Duration::seconds(LEASE), 3, 2, secs(12)).await.expect("take");
    assert_eq!(taken.len(), 2, "the limit holds");
    assert_eq!(taken[0].delivery_id, assigned[0].delivery_id, "the oldest due first");
    assert!(taken.iter().all(|d| d.state == DeliveryState::Sending && d.attempts == 1));
    let rest = store.take_due(&a, "w2", Duration::seconds(LEASE), 3, 10, secs(12)).await.expect("take");
    assert_eq!(rest.len(), 1, "a held delivery is not taken twice");
    assert!(store.take_due(&a, "w2", Duration::seconds(LEASE), 3, 10, secs(13)).await.expect("take").is_empty());
    assert!(store.take_due(&b, "w1", Duration::seconds(LEASE), 3, 10, secs(13)).await.expect("take").is_empty());

    // Completed by its holder only; the channel is healthy.
    let first = &taken[0];
    assert_eq!(store.complete(&a, first.delivery_id, "w2", 1, secs(14)).await.expect("complete"), None);
    assert_eq!(store.complete(&b, first.delivery_id, "w1", 1, secs(14)).await.expect("complete"), None);
    let h = store.complete(&a, first.delivery_id, "w1", 1, secs(14)).await.expect("complete").expect("held");
    assert_eq!((h.consecutive_failures, h.last_success_at), (0, Some(secs(14))));
    let sent = store.get_delivery(&a, first.delivery_id).await.expect("get").expect("delivery");
    assert_eq!((sent.state, sent.sent_at, sent.lease_owner), (DeliveryState::Sent, Some(secs(14)), None));

    // Failures: queued again at the retry time, then given up; health counts them.
    let second = &taken[1];
    let h = store
        .fail(&a, second.delivery_id, "w1", 1, "receiver answered 500", Some(secs(20)), secs(15))
        .await
        .expect("fail")
        .expect("held");
    assert_eq!(h.consecutive_failures, 1);
    let again = store.get_delivery(&a, second.delivery_id).await.expect("get").expect("delivery");
    assert_eq!((again.state, again.next_attempt_at), (DeliveryState::Queued, secs(20)));
    assert_eq!(again.last_error.as_deref(), Some("receiver answered 500"));
    assert!(store.take_due(&a, "w1", Duration::seconds(LEASE), 3, 10, secs(19)).await.expect("take").is_empty());
    let retaken = store.take_due(&a, "w1", Duration::seconds(LEASE), 3, 10, secs(20)).await.expect("take");
    assert_eq!(retaken.iter().map(|d| (d.delivery_id, d.attempts)).collect::<Vec<_>>(), [(second.delivery_id, 2)]);
    let h = store
        .fail(&a, second.delivery_id, "w1", 2, "receiver answered 500", None, secs(21))
        .await
        .expect("fail")
        .expect("held");
    assert_eq!(h.consecutive_failures, 2);
    let failed = store.get_delivery(&a, second.delivery_id).await.expect("get").expect("delivery");
    assert_eq!(failed.state, DeliveryState::Failed);

    // The third delivery's worker dies: taken again after its lease, then given up
    // when the expired lease was the last attempt.
    let third = &rest[0];
    assert!(store.take_due(&a, "w3", Duration::seconds(LEASE), 2, 10, secs(40)).await.expect("take").is_empty());
    let over = store.take_due(&a, "w3", Duration::seconds(LEASE), 2, 10, secs(43)).await.expect("take");
    assert_eq!(over.iter().map(|d| (d.delivery_id, d.attempts)).collect::<Vec<_>>(), [(third.delivery_id, 2)]);
    assert_eq!(store.complete(&a, third.delivery_id, "w2", 1, secs(44)).await.expect("late"), None, "fenced");
    assert!(store.take_due(&a, "w4", Duration::seconds(LEASE), 2, 10, secs(80)).await.expect("take").is_empty());
    let gave_up = store.get_delivery(&a, third.delivery_id).await.expect("get").expect("delivery");
    assert_eq!(gave_up.state, DeliveryState::Failed);
    assert!(gave_up.last_error.as_deref().is_some_and(|e| e.contains("lease expired")), "{gave_up:?}");

    // Health turns failing after failures in a row.
    let sick = store
        .enqueue_to(&a, paged.channel_id, &notice(NoticeEvent::Assigned, incident), secs(90))
        .await
        .expect("enqueue_to")
        .expect("channel");
    let mut health = ChannelHealth::default();
    for attempt in 1..=FAILING_AFTER {
        let t = secs(90 + i64::from(attempt) * 10);
        let taken = store.take_due(&a, "w1", Duration::seconds(LEASE), 10, 10, t).await.expect("take");
        assert_eq!(taken.len(), 1);
        health = store
            .fail(&a, sick.delivery_id, "w1", attempt, "connection refused", Some(t), t)
            .await
            .expect("fail")
            .expect("held");
    }
    assert!(health.failing(), "{health:?}");
    let state = store.get_channel(&a, paged.channel_id).await.expect("get").expect("channel");
    assert_eq!(state.health, health);
    assert_eq!(state.health.last_error.as_deref(), Some("connection refused"));

    // Retry: only a failed one, with a fresh count.
    assert_eq!(
        store.retry(&a, first.delivery_id, secs(200)).await.expect("retry"),
        Retried::NotFailed(DeliveryState::Sent)
    );
    assert_eq!(store.retry(&b, second.delivery_id, secs(200)).await.expect("retry"), Retried::NotFound);
    match store.retry(&a, second.delivery_id, secs(200)).await.expect("retry") {
        Retried::Queued(d) => {
            assert_eq!((d.state, d.attempts, d.next_attempt_at), (DeliveryState::Queued, 0, secs(200)))
        }
        other => panic!("retry gave {other:?}"),
    }

    // The list: newest first, filtered, paged.
    let page = store.list_deliveries(&a, &DeliveryQuery::default()).await.expect("list");
    assert_eq!(page.total, 4);
    assert_eq!(page.deliveries.first().map(|d| d.delivery_id), Some(sick.delivery_id));
    assert!(page.deliveries.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    let a_ref = &a;
    let of = |q: DeliveryQuery| async move { store.list_deliveries(a_ref, &q).await.expect("list") };
    let by_channel = of(DeliveryQuery { channel: Some(paged.channel_id), ..Default::default() }).await;
    assert_eq!(by_channel.total, 2);
    assert!(by_channel.deliveries.iter().all(|d| d.channel_id == paged.channel_id));
    let sent_only = of(DeliveryQuery { state: Some(DeliveryState::Sent), ..Default::default() }).await;
    assert_eq!(sent_only.deliveries.iter().map(|d| d.delivery_id).collect::<Vec<_>>(), [first.delivery_id]);
    let none = of(DeliveryQuery { incident: Some(IncidentId::new_random()), ..Default::default() }).await;
    assert_eq!(none.total, 0);
    let paged_list = of(DeliveryQuery { limit: 2, offset: 1, ..Default::default() }).await;
    assert_eq!((paged_list.total, paged_list.deliveries.len()), (4, 2));
    assert_eq!(paged_list.deliveries, page.deliveries[1..3].to_vec());
    assert_eq!(store.list_deliveries(&b, &DeliveryQuery::default()).await.expect("list").total, 0);

    // Deleted: gone from reads and from new notices, its deliveries kept.
    assert!(
        !store.delete_channel(&b, all.channel_id, secs(300)).await.expect("delete"),
        "deleted from another project"
    );
    assert!(store.delete_channel(&a, all.channel_id, secs(300)).await.expect("delete"));
    assert!(!store.delete_channel(&a, all.channel_id, secs(301)).await.expect("delete"), "deleted twice");
    assert_eq!(store.get_channel(&a, all.channel_id).await.expect("get"), None);
    assert!(!store.replace_channel(&all).await.expect("replace"), "a deleted channel is not replaced");
    let after = store.enqueue(&a, &notice(NoticeEvent::Paged, incident), secs(302)).await.expect("enqueue");
    assert_eq!(after.iter().map(|d| d.channel_id).collect::<Vec<_>>(), [paged.channel_id]);
    assert_eq!(
        store.enqueue_to(&a, all.channel_id, &notice(NoticeEvent::Paged, incident), secs(303)).await.expect("to"),
        None
    );
    let kept = of(DeliveryQuery { channel: Some(all.channel_id), ..Default::default() }).await;
    assert_eq!(kept.total, 2);
    // The other project's channel got nothing from all of this.
    let b_listed = store.list_channels(&b).await.expect("list");
    assert_eq!(b_listed.len(), 1);
    assert_eq!(b_listed[0].health, ChannelHealth::default());
}
