//! The notification store contract (`inquest-contract`'s `notify` suite) on
//! `EmbeddedNotifyStore`, and that channels and queued deliveries survive reopening
//! its file (a restart loses no notice).

use inquest_contract::notify::{notice, notify_contract};
use inquest_domain::{IncidentId, ProjectId};
use inquest_ops::channels::{DeliveryQuery, DeliveryState, NotifyStore};
use inquest_ops::notify::NoticeEvent;
use inquest_store_embedded::EmbeddedNotifyStore;

#[tokio::test]
async fn notify_contract_on_embedded_in_memory() {
    notify_contract(&EmbeddedNotifyStore::in_memory().expect("in memory")).await;
}

#[tokio::test]
async fn notify_contract_on_an_embedded_file_and_queued_deliveries_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.redb");
    let p = ProjectId::new("notify-a").expect("project");
    let (before, queued) = {
        let store = EmbeddedNotifyStore::open(&path).expect("open");
        notify_contract(&store).await;
        let queued = store
            .enqueue(&p, &notice(NoticeEvent::Paged, IncidentId::new_random()), chrono::Utc::now())
            .await
            .expect("enqueue");
        (store.list_deliveries(&p, &DeliveryQuery::default()).await.expect("list"), queued)
    };
    let store = EmbeddedNotifyStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 1);
    assert_eq!(store.list_deliveries(&p, &DeliveryQuery::default()).await.expect("list"), before);
    assert_eq!(queued.len(), 1);
    let taken = store
        .take_due(&p, "after-restart", chrono::Duration::seconds(30), 5, 100, chrono::Utc::now())
        .await
        .expect("take");
    assert!(taken.iter().any(|d| d.delivery_id == queued[0].delivery_id && d.state == DeliveryState::Sending));
}
