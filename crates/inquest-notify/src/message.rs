//! What each kind of channel receives for a notice, as pure functions: the Slack
//! incoming-webhook body (`text` for every client, and blocks), the generic webhook's
//! JSON (the notice's fields, its `text` and the absolute `link`) with the signature
//! of its bytes, and the e-mail's subject and body. Every one carries the incident,
//! its most likely cause with the confidence, and the link to its page.

use inquest_ops::notify::Notice;
use serde_json::{Value, json};

/// The header a generic webhook's signature travels in: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Inquest-Signature-256";
/// The header naming the delivery, so a receiver can drop a repeat.
pub const DELIVERY_HEADER: &str = "X-Inquest-Delivery";

/// The incident page's absolute address.
pub fn absolute_link(notice: &Notice, public_url: &str) -> String {
    format!("{}{}", public_url.trim_end_matches('/'), notice.link)
}

/// `release r42 of checkout (release, 87%)`, or that it is not known yet.
fn cause_line(notice: &Notice) -> String {
    match &notice.cause {
        Some(c) => format!("{} ({}, confidence {:.0}%)", c.title, c.hypothesis_type, c.confidence * 100.0),
        None => "not known yet".to_string(),
    }
}

/// A Slack-compatible incoming webhook body (also read by Mattermost, Rocket.Chat).
pub fn slack(notice: &Notice, public_url: &str) -> Value {
    let link = absolute_link(notice, public_url);
    json!({
        "text": notice.text(public_url),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notice.subject()}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "Incident `{}` is *{}*: {}\n*Most likely cause:* {}",
                notice.incident_id, notice.status, notice.reason, cause_line(notice)
            )}},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open the incident"}, "url": link}
            ]}
        ]
    })
}

/// The generic webhook body: the notice's fields, `text`, and `link` made absolute.
pub fn webhook(notice: &Notice, public_url: &str) -> Value {
    let mut body = serde_json::to_value(notice).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        map.insert("text".into(), Value::String(notice.text(public_url)));
        map.insert("subject".into(), Value::String(notice.subject()));
        map.insert("link".into(), Value::String(absolute_link(notice, public_url)));
    }
    body
}

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    inquest_access::hmac::sign_sha256(secret.as_bytes(), body)
}

/// The e-mail's subject and plain-text body.
pub fn email(notice: &Notice, public_url: &str) -> (String, String) {
    let body = format!(
        "{}\n\nService: {}\nSeverity: {}\nStatus: {}\nMost likely cause: {}\n\nOpen the incident: {}\n",
        notice.text(public_url),
        notice.service,
        notice.severity,
        notice.status,
        cause_line(notice),
        absolute_link(notice, public_url),
    );
    (notice.subject(), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inquest_domain::IncidentId;
    use inquest_ops::notify::{NoticeCause, NoticeEvent};

    fn notice() -> Notice {
        let id = IncidentId::new_random();
        Notice {
            incident_id: id,
            event: NoticeEvent::Paged,
            at: chrono::Utc::now(),
            service: "checkout".into(),
            severity: "critical".into(),
            status: "open".into(),
            recipient: None,
            cause: Some(NoticeCause {
                title: "release r42".into(),
                hypothesis_type: "release".into(),
                confidence: 0.87,
            }),
            link: Notice::link_of(id),
            reason: "paged by policy".into(),
        }
    }

    #[test]
    fn every_message_carries_the_cause_with_its_confidence_and_the_absolute_link() {
        let n = notice();
        let link = format!("https://inquest.example/incidents/{}", n.incident_id);
        let s = slack(&n, "https://inquest.example/").to_string();
        assert!(s.contains("release r42 (release, confidence 87%)") && s.contains(&link), "{s}");
        let w = webhook(&n, "https://inquest.example");
        assert_eq!(w["link"], link.as_str());
        assert_eq!(w["cause"]["confidence"], 0.87);
        assert_eq!(w["event"], "paged");
        assert!(w["text"].as_str().is_some_and(|t| t.contains("confidence 87%")));
        let (subject, body) = email(&n, "https://inquest.example");
        assert_eq!(subject, "[paged] critical incident on checkout");
        assert!(body.contains("confidence 87%") && body.contains(&link), "{body}");
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_exact_body() {
        let a = signature("0123456789abcdef", b"{\"a\":1}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64, "{a}");
        assert_ne!(a, signature("0123456789abcdef", b"{\"a\":2}"));
        assert_ne!(a, signature("another-secret-16", b"{\"a\":1}"));
    }
}
