//! Mail through a real SMTP server: aiosmtpd on loopback (`scripts/ci.d/75-smtp.sh`),
//! writing what it receives into a Maildir. Locally the test skips with the reason
//! when the server is not running; under `CI=true` a missing server fails it.

use inquest_notify::{SmtpConfig, SmtpTls};
use inquest_ops::channels::{DeliveryState, NewTarget, NotifyStore};
use inquest_ops::notify::NoticeEvent;

use crate::*;

/// `(host:port, maildir)` of the test SMTP server, or `None` with a printed reason.
fn server(test: &str) -> Option<(String, std::path::PathBuf)> {
    match (std::env::var("INQUEST_TEST_SMTP"), std::env::var("INQUEST_TEST_SMTP_DIR")) {
        (Ok(addr), Ok(dir)) if !addr.is_empty() && !dir.is_empty() => Some((addr, dir.into())),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: INQUEST_TEST_SMTP is not set under CI=true: scripts/ci.d/75-smtp.sh should have started aiosmtpd"
                );
            }
            eprintln!("skipping {test}: INQUEST_TEST_SMTP is not set (scripts/test.sh starts aiosmtpd)");
            None
        }
    }
}

/// Every message file of the Maildir (`new/` and `cur/`).
fn messages(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                out.push(std::fs::read_to_string(e.path()).expect("message file"));
            }
        }
    }
    out
}

#[tokio::test]
async fn mail_reaches_a_real_smtp_server_with_the_cause_its_confidence_and_the_link() {
    let Some((addr, dir)) = server("mail_reaches_a_real_smtp_server_with_the_cause_its_confidence_and_the_link") else {
        return;
    };
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let smtp = SmtpConfig {
        host: host.into(),
        port: port.parse().expect("port"),
        from: "Inquest <inquest@example.test>".into(),
        username: None,
        password: None,
        tls: SmtpTls::None,
    };
    let rig = Rig::new(config(3, Some(smtp))).await;
    // A recipient no other test uses: the Maildir is shared by the run.
    let to = format!("oncall-{}@example.test", uuid::Uuid::new_v4().simple());
    rig.channel("mail", NewTarget::Email { to: vec![to.clone(), "sre@example.test".into()] }, vec![]).await;
    let n = notice(NoticeEvent::Diagnosed);
    let queued = rig.store.enqueue(&rig.project, &n, chrono::Utc::now()).await.expect("enqueue");
    let round = rig.round_after(0).await;
    assert_eq!(
        (round.sent, round.retried, round.failed),
        (1, 0, 0),
        "{:?}",
        rig.store.get_delivery(&rig.project, queued[0].delivery_id).await
    );

    let link = format!("{PUBLIC_URL}/incidents/{}", n.incident_id);
    let mut found = None;
    for _ in 0..50 {
        found = messages(&dir).into_iter().find(|m| m.contains(&to));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = found.expect("the server received the mail");
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(unfolded.contains("Subject: [diagnosed] critical incident on checkout for ana"), "{mail}");
    assert!(unfolded.contains("inquest@example.test"), "{mail}");
    assert!(unfolded.contains("sre@example.test"), "{mail}");
    assert!(unfolded.contains("release r42 of checkout (release, confidence 87%)"), "{mail}");
    assert!(unfolded.contains(&link), "{mail}");
    let d = rig.store.get_delivery(&rig.project, queued[0].delivery_id).await.expect("get").expect("kept");
    assert_eq!(d.state, DeliveryState::Sent);
    assert!(rig.metrics().contains(r#"inquest_notifications_total{kind="email",outcome="sent"} 1"#));
}

#[tokio::test]
async fn mail_without_an_smtp_server_configured_fails_the_attempt_and_keeps_it() {
    let rig = Rig::new(config(2, None)).await;
    rig.channel("mail", NewTarget::Email { to: vec!["sre@example.test".into()] }, vec![]).await;
    let id = rig.store.enqueue(&rig.project, &notice(NoticeEvent::Paged), chrono::Utc::now()).await.expect("q")[0]
        .delivery_id;
    assert_eq!(rig.round_after(0).await.retried, 1);
    assert_eq!(rig.round_after(60).await.failed, 1);
    let d = rig.store.get_delivery(&rig.project, id).await.expect("get").expect("kept");
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(d.last_error.as_deref().is_some_and(|e| e.contains("no SMTP server is configured")), "{d:?}");
}
