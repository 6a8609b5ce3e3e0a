//! What Inquest tells people about an incident (`Notice`), and the port that sends it
//! (`Notifier`). A notifier only queues: delivery to the project's channels happens
//! later, with retries, so telling someone never blocks the intake or an
//! investigation.

use async_trait::async_trait;
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ports::StoreResult;
use serde::{Deserialize, Serialize};

/// Why a notice is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// The incident opened and was assigned to whoever is on call for its service.
    Assigned,
    /// Nobody acknowledged it in time: the next escalation step is told.
    Escalated,
    /// A response policy rule paged on the investigation's outcome.
    Paged,
    /// The investigation finished: its most likely cause.
    Diagnosed,
}

impl NoticeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Assigned => "assigned",
            NoticeEvent::Escalated => "escalated",
            NoticeEvent::Paged => "paged",
            NoticeEvent::Diagnosed => "diagnosed",
        }
    }
}

/// The most likely cause as the investigation ranked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeCause {
    pub title: String,
    pub hypothesis_type: String,
    /// In [0, 1].
    pub confidence: f64,
}

/// One message about one incident. `link` is the incident page's path
/// (`/incidents/{id}`); the sender makes it absolute with the configured public URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub incident_id: IncidentId,
    pub event: NoticeEvent,
    pub at: Timestamp,
    pub service: String,
    pub severity: String,
    pub status: String,
    /// The person the notice is for (the one on call, an escalation target), if any.
    pub recipient: Option<String>,
    pub cause: Option<NoticeCause>,
    pub link: String,
    /// One line on why it is sent ("nobody acknowledged within 15 minutes").
    pub reason: String,
}

impl Notice {
    /// The incident page's path.
    pub fn link_of(incident: IncidentId) -> String {
        format!("/incidents/{incident}")
    }

    /// The message's one-line subject.
    pub fn subject(&self) -> String {
        let who = self.recipient.as_deref().map(|r| format!(" for {r}")).unwrap_or_default();
        format!("[{}] {} incident on {}{who}", self.event.as_str(), self.severity, self.service)
    }

    /// The message's text: what happened, the most likely cause with its confidence,
    /// and the link.
    pub fn text(&self, base_url: &str) -> String {
        let cause = match &self.cause {
            Some(c) => format!(
                "Most likely cause: {} ({}, confidence {:.0}%)",
                c.title,
                c.hypothesis_type,
                c.confidence * 100.0
            ),
            None => "Most likely cause: not known yet".to_string(),
        };
        format!(
            "{}\nIncident {} is {}: {}\n{cause}\n{}{}",
            self.subject(),
            self.incident_id,
            self.status,
            self.reason,
            base_url.trim_end_matches('/'),
            self.link
        )
    }
}

/// Queues a notice for every enabled channel of the project; answers how many
/// deliveries were queued. Never sends inline.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, project: &ProjectId, notice: &Notice) -> StoreResult<usize>;
}

/// The notifier of a deployment with no notification store: nothing is queued.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

#[async_trait]
impl Notifier for Silent {
    async fn notify(&self, _: &ProjectId, _: &Notice) -> StoreResult<usize> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_carries_the_cause_with_its_confidence_and_an_absolute_link() {
        let id = IncidentId::new_random();
        let n = Notice {
            incident_id: id,
            event: NoticeEvent::Assigned,
            at: chrono::Utc::now(),
            service: "checkout".into(),
            severity: "critical".into(),
            status: "open".into(),
            recipient: Some("ana".into()),
            cause: Some(NoticeCause {
                title: "release r42 of checkout".into(),
                hypothesis_type: "release".into(),
                confidence: 0.87,
            }),
            link: Notice::link_of(id),
            reason: "on call for checkout".into(),
        };
        let text = n.text("https://inquest.example/");
        assert!(text.starts_with("[assigned] critical incident on checkout for ana\n"), "{text}");
        assert!(text.contains("release r42 of checkout (release, confidence 87%)"), "{text}");
        assert!(text.ends_with(&format!("https://inquest.example/incidents/{id}")), "{text}");
    }
}
