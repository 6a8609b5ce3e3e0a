//! Notification channels and their durable queue: where a project is told
//! (`Channel`: a Slack-compatible incoming webhook, a generic JSON webhook or e-mail),
//! which of its fields are valid (every refusal names the field), one `Delivery` per
//! channel and notice with its attempts, lease and last error, a channel's health
//! (failing after `FAILING_AFTER` failures in a row), the storage port (`NotifyStore`)
//! and the `Notifier` that queues through it (`OutboxNotifier`). Webhook URLs and
//! secrets reach the model already sealed: the caller seals, the sender opens; only a
//! masked hint of the URL is ever shown.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::notify::{Notice, NoticeEvent, Notifier};
use crate::validate::FieldError;

fn refuse(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// A channel is failing after this many failed attempts in a row.
pub const FAILING_AFTER: u32 = 3;
pub const MAX_NAME: usize = 200;
pub const MAX_URL: usize = 2048;
pub const MAX_RECIPIENTS: usize = 50;
/// The longest error kept on a delivery or a channel.
pub const MAX_ERROR: usize = 1000;
/// Paging of the delivery list: the default and the largest page.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// What kind of channel it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Slack,
    Webhook,
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [ChannelKind::Slack, ChannelKind::Webhook, ChannelKind::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Email => "email",
        }
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of slack, webhook, email"))
    }
}

/// Where a channel sends, as stored: URLs and secrets sealed (`inquest-access`'s
/// keyring), `hint` the masked URL shown instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelTarget {
    Slack { webhook_url_sealed: String, hint: String },
    Webhook { url_sealed: String, hint: String, secret_sealed: Option<String> },
    Email { to: Vec<String> },
}

impl ChannelTarget {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelTarget::Slack { .. } => ChannelKind::Slack,
            ChannelTarget::Webhook { .. } => ChannelKind::Webhook,
            ChannelTarget::Email { .. } => ChannelKind::Email,
        }
    }

    /// What may be shown of the target: the masked URL, or the addresses.
    pub fn shown(&self) -> String {
        match self {
            ChannelTarget::Slack { hint, .. } | ChannelTarget::Webhook { hint, .. } => hint.clone(),
            ChannelTarget::Email { to } => to.join(", "),
        }
    }
}

/// A notification channel of a project. Deleted channels keep their row
/// (`deleted_at`), so their deliveries still name them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub channel_id: Uuid,
    pub project_id: ProjectId,
    pub name: String,
    pub target: ChannelTarget,
    /// The events it is told about; empty means all.
    pub events: Vec<NoticeEvent>,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl Channel {
    /// Whether a notice of `event` goes to this channel.
    pub fn wants(&self, event: NoticeEvent) -> bool {
        self.enabled && self.deleted_at.is_none() && (self.events.is_empty() || self.events.contains(&event))
    }
}

/// How a channel's recent attempts went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelHealth {
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_failure_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
}

impl ChannelHealth {
    pub fn failing(&self) -> bool {
        self.consecutive_failures >= FAILING_AFTER
    }

    pub fn succeeded(&mut self, at: Timestamp) {
        self.consecutive_failures = 0;
        self.last_success_at = Some(at);
    }

    pub fn failed(&mut self, error: &str, at: Timestamp) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some(clip(error));
        self.last_failure_at = Some(at);
    }
}

/// A channel with its health, as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    pub channel: Channel,
    pub health: ChannelHealth,
}

/// The longest prefix of `error` within `MAX_ERROR` bytes, on a character boundary.
pub fn clip(error: &str) -> String {
    let mut end = error.len().min(MAX_ERROR);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    error[..end].to_string()
}

/// The masked form of a URL: scheme and host, the rest hidden (a webhook URL is its
/// own credential).
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // user:password@ never shown
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

fn http_url(field: &str, url: &str) -> Result<(), FieldError> {
    if url.len() > MAX_URL {
        return Err(refuse(field, format!("longer than {MAX_URL} bytes")));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| refuse(field, "must be an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse(field, "must be an http:// or https:// URL with a host and no spaces"));
    }
    Ok(())
}

/// Whether `address` is a mail address (`local@domain`, one `@`, a dot-separated
/// domain of letters, digits and `-`). Display names are not accepted.
pub fn valid_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// Where a new or replaced channel sends, in the clear, as a person writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum NewTarget {
    Slack { webhook_url: String },
    Webhook { url: String, secret: Option<String> },
    Email { to: Vec<String> },
}

/// A channel as a person writes it (create or replace).
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    pub name: String,
    pub target: NewTarget,
    pub events: Vec<NoticeEvent>,
    pub enabled: bool,
}

impl NewChannel {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return Err(refuse("name", "must not be empty"));
        }
        if self.name.len() > MAX_NAME {
            return Err(refuse("name", format!("longer than {MAX_NAME} bytes")));
        }
        if self.name.chars().any(char::is_control) {
            return Err(refuse("name", "must not hold control characters"));
        }
        match &self.target {
            NewTarget::Slack { webhook_url } => http_url("webhook_url", webhook_url)?,
            NewTarget::Webhook { url, secret } => {
                http_url("url", url)?;
                if let Some(s) = secret
                    && (s.len() < 16 || s.len() > 512)
                {
                    return Err(refuse("secret", "must be 16 to 512 bytes"));
                }
            }
            NewTarget::Email { to } => {
                if to.is_empty() {
                    return Err(refuse("to", "must name at least one address"));
                }
                if to.len() > MAX_RECIPIENTS {
                    return Err(refuse("to", format!("more than {MAX_RECIPIENTS} addresses")));
                }
                for (i, a) in to.iter().enumerate() {
                    if !valid_address(a.trim()) {
                        return Err(refuse(format!("to[{i}]"), format!("'{a}' is not a mail address")));
                    }
                }
            }
        }
        let mut seen = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            if seen.contains(e) {
                return Err(refuse(format!("events[{i}]"), format!("{} is listed twice", e.as_str())));
            }
            seen.push(*e);
        }
        Ok(())
    }

    /// The stored target, its secrets sealed with `seal`.
    fn sealed(&self, seal: &dyn Fn(&str) -> String) -> ChannelTarget {
        match &self.target {
            NewTarget::Slack { webhook_url } => {
                ChannelTarget::Slack { webhook_url_sealed: seal(webhook_url), hint: mask_url(webhook_url) }
            }
            NewTarget::Webhook { url, secret } => ChannelTarget::Webhook {
                url_sealed: seal(url),
                hint: mask_url(url),
                secret_sealed: secret.as_deref().map(seal),
            },
            NewTarget::Email { to } => ChannelTarget::Email { to: to.iter().map(|a| a.trim().to_string()).collect() },
        }
    }

    /// A new channel of `project`, after `validate`.
    pub fn into_channel(
        self,
        project: &ProjectId,
        at: Timestamp,
        seal: &dyn Fn(&str) -> String,
    ) -> Result<Channel, FieldError> {
        self.validate()?;
        Ok(Channel {
            channel_id: Uuid::new_v4(),
            project_id: project.clone(),
            name: self.name.trim().to_string(),
            target: self.sealed(seal),
            events: self.events.clone(),
            enabled: self.enabled,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        })
    }

    /// `current` replaced by this, after `validate`: same id and creation time.
    pub fn replace(
        self,
        current: &Channel,
        at: Timestamp,
        seal: &dyn Fn(&str) -> String,
    ) -> Result<Channel, FieldError> {
        let mut next = self.into_channel(&current.project_id, at, seal)?;
        next.channel_id = current.channel_id;
        next.created_at = current.created_at;
        Ok(next)
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt (`next_attempt_at`).
    Queued,
    /// A worker holds it (`lease_owner` until `lease_until`).
    Sending,
    Sent,
    /// Given up after the last attempt (or its channel went away); `retry` queues it again.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] =
        [DeliveryState::Queued, DeliveryState::Sending, DeliveryState::Sent, DeliveryState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }

    /// Not sent nor given up.
    pub fn pending(self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::Sending)
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of queued, sending, sent, failed"))
    }
}

/// One notice on its way to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: Uuid,
    pub project_id: ProjectId,
    pub channel_id: Uuid,
    pub notice: Notice,
    pub state: DeliveryState,
    /// Attempts started so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

impl Delivery {
    pub fn new(channel: &Channel, notice: &Notice, at: Timestamp) -> Delivery {
        Delivery {
            delivery_id: Uuid::new_v4(),
            project_id: channel.project_id.clone(),
            channel_id: channel.channel_id,
            notice: notice.clone(),
            state: DeliveryState::Queued,
            attempts: 0,
            next_attempt_at: at,
            lease_owner: None,
            lease_until: None,
            last_error: None,
            created_at: at,
            sent_at: None,
        }
    }

    /// Whether a worker may take it at `now`: queued and due, or sending with its
    /// lease run out (the worker died).
    pub fn due(&self, now: Timestamp) -> bool {
        match self.state {
            DeliveryState::Queued => self.next_attempt_at <= now,
            DeliveryState::Sending => self.lease_until.is_none_or(|l| l < now),
            _ => false,
        }
    }

    /// What taking it at `now` does: another attempt under `worker`'s lease, or, when
    /// an expired lease was the last attempt allowed, giving up (`false`).
    pub fn take(&mut self, worker: &str, lease: chrono::Duration, max_attempts: u32, now: Timestamp) -> bool {
        if self.state == DeliveryState::Sending && self.attempts >= max_attempts {
            self.state = DeliveryState::Failed;
            self.last_error = Some(format!(
                "attempt {} of {max_attempts}: the lease expired without a result (the worker died or hung)",
                self.attempts
            ));
            self.lease_owner = None;
            self.lease_until = None;
            return false;
        }
        self.state = DeliveryState::Sending;
        self.attempts += 1;
        self.lease_owner = Some(worker.to_string());
        self.lease_until = Some(now + lease);
        true
    }

    /// Whether `worker` still holds attempt `attempt`.
    pub fn held_by(&self, worker: &str, attempt: u32) -> bool {
        self.state == DeliveryState::Sending && self.attempts == attempt && self.lease_owner.as_deref() == Some(worker)
    }

    pub fn sent(&mut self, now: Timestamp) {
        self.state = DeliveryState::Sent;
        self.sent_at = Some(now);
        self.lease_owner = None;
        self.lease_until = None;
        self.last_error = None;
    }

    /// Queued again at `retry_at`, or failed for good when `None`.
    pub fn failed(&mut self, error: &str, retry_at: Option<Timestamp>) {
        self.last_error = Some(clip(error));
        self.lease_owner = None;
        self.lease_until = None;
        match retry_at {
            Some(at) => {
                self.state = DeliveryState::Queued;
                self.next_attempt_at = at;
            }
            None => self.state = DeliveryState::Failed,
        }
    }

    /// A failed delivery queued again at `now` with a fresh count of attempts.
    pub fn retried(&mut self, now: Timestamp) {
        self.state = DeliveryState::Queued;
        self.attempts = 0;
        self.next_attempt_at = now;
    }
}

/// Filters and paging of the delivery list (newest first).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryQuery {
    pub channel: Option<Uuid>,
    pub incident: Option<IncidentId>,
    pub state: Option<DeliveryState>,
    pub limit: usize,
    pub offset: usize,
}

impl Default for DeliveryQuery {
    fn default() -> Self {
        DeliveryQuery { channel: None, incident: None, state: None, limit: DEFAULT_LIMIT, offset: 0 }
    }
}

impl DeliveryQuery {
    pub fn keeps(&self, d: &Delivery) -> bool {
        self.channel.is_none_or(|c| c == d.channel_id)
            && self.incident.is_none_or(|i| i == d.notice.incident_id)
            && self.state.is_none_or(|s| s == d.state)
    }
}

/// Newest first, then by id.
pub fn list_order(a: &Delivery, b: &Delivery) -> std::cmp::Ordering {
    b.created_at.cmp(&a.created_at).then(a.delivery_id.cmp(&b.delivery_id))
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub total: usize,
}

/// What `retry` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Retried {
    Queued(Box<Delivery>),
    NotFound,
    /// Only a failed delivery is retried; this one is in that state.
    NotFailed(DeliveryState),
}

/// What a worker's `complete` or `fail` did to the channel: its health now, or
/// `None` when the worker no longer held the attempt (nothing changed).
pub type Settled = Option<ChannelHealth>;

/// The storage port of notification channels and their deliveries. Every call names
/// its project; a store never returns or changes another project's rows. Each write
/// is one transaction: a notice queues for every matching channel or for none.
#[async_trait]
pub trait NotifyStore: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn check_connectivity(&self) -> StoreResult<()>;

    async fn create_channel(&self, channel: &Channel) -> StoreResult<()>;
    /// A channel that is not deleted, with its health.
    async fn get_channel(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<ChannelState>>;
    /// The channels that are not deleted, oldest first.
    async fn list_channels(&self, project: &ProjectId) -> StoreResult<Vec<ChannelState>>;
    /// Replaces a channel that is not deleted; `false` when there is none.
    async fn replace_channel(&self, channel: &Channel) -> StoreResult<bool>;
    /// Marks it deleted (its deliveries stay); `false` when there is none.
    async fn delete_channel(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool>;

    /// One queued delivery per enabled channel whose events match the notice.
    async fn enqueue(&self, project: &ProjectId, notice: &Notice, at: Timestamp) -> StoreResult<Vec<Delivery>>;
    /// One queued delivery to this channel whatever its events (a test notice);
    /// `None` when there is no such channel.
    async fn enqueue_to(
        &self,
        project: &ProjectId,
        channel: Uuid,
        notice: &Notice,
        at: Timestamp,
    ) -> StoreResult<Option<Delivery>>;
    /// Leases up to `limit` due deliveries (`Delivery::take`), oldest due first;
    /// those whose expired lease was their last attempt are failed instead. A
    /// delivery is held by one worker at a time.
    async fn take_due(
        &self,
        project: &ProjectId,
        worker: &str,
        lease: chrono::Duration,
        max_attempts: u32,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// Marks the attempt sent and the channel healthy.
    async fn complete(
        &self,
        project: &ProjectId,
        delivery: Uuid,
        worker: &str,
        attempt: u32,
        now: Timestamp,
    ) -> StoreResult<Settled>;
    /// Records the failed attempt on the delivery (queued again at `retry_at`, or
    /// failed for good) and on the channel's health.
    #[allow(clippy::too_many_arguments)]
    async fn fail(
        &self,
        project: &ProjectId,
        delivery: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Settled>;
    async fn get_delivery(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Delivery>>;
    async fn list_deliveries(&self, project: &ProjectId, query: &DeliveryQuery) -> StoreResult<DeliveryPage>;
    /// Queues a failed delivery again, now, with a fresh count of attempts.
    async fn retry(&self, project: &ProjectId, id: Uuid, now: Timestamp) -> StoreResult<Retried>;
}

/// The notification store of a server built without one: every call is
/// `Unavailable`, so routes answer 503 and nothing pretends to be queued.
pub struct Unconfigured;

fn down(op: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "notify", op, "no notification store is configured")
}

#[async_trait]
impl NotifyStore for Unconfigured {
    fn backend(&self) -> &'static str {
        "unconfigured"
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn create_channel(&self, _: &Channel) -> StoreResult<()> {
        Err(down("create_channel"))
    }
    async fn get_channel(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<ChannelState>> {
        Err(down("get_channel"))
    }
    async fn list_channels(&self, _: &ProjectId) -> StoreResult<Vec<ChannelState>> {
        Err(down("list_channels"))
    }
    async fn replace_channel(&self, _: &Channel) -> StoreResult<bool> {
        Err(down("replace_channel"))
    }
    async fn delete_channel(&self, _: &ProjectId, _: Uuid, _: Timestamp) -> StoreResult<bool> {
        Err(down("delete_channel"))
    }
    async fn enqueue(&self, _: &ProjectId, _: &Notice, _: Timestamp) -> StoreResult<Vec<Delivery>> {
        Err(down("enqueue"))
    }
    async fn enqueue_to(&self, _: &ProjectId, _: Uuid, _: &Notice, _: Timestamp) -> StoreResult<Option<Delivery>> {
        Err(down("enqueue_to"))
    }
    async fn take_due(
        &self,
        _: &ProjectId,
        _: &str,
        _: chrono::Duration,
        _: u32,
        _: usize,
        _: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        Err(down("take_due"))
    }
    async fn complete(&self, _: &ProjectId, _: Uuid, _: &str, _: u32, _: Timestamp) -> StoreResult<Settled> {
        Err(down("complete"))
    }
    async fn fail(
        &self,
        _: &ProjectId,
        _: Uuid,
        _: &str,
        _: u32,
        _: &str,
        _: Option<Timestamp>,
        _: Timestamp,
    ) -> StoreResult<Settled> {
        Err(down("fail"))
    }
    async fn get_delivery(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<Delivery>> {
        Err(down("get_delivery"))
    }
    async fn list_deliveries(&self, _: &ProjectId, _: &DeliveryQuery) -> StoreResult<DeliveryPage> {
        Err(down("list_deliveries"))
    }
    async fn retry(&self, _: &ProjectId, _: Uuid, _: Timestamp) -> StoreResult<Retried> {
        Err(down("retry"))
    }
}

/// The `Notifier` of a deployment with a notification store: a notice becomes one
/// queued delivery per matching channel, in one transaction; the worker sends them.
#[derive(Clone)]
pub struct OutboxNotifier {
    pub store: Arc<dyn NotifyStore>,
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn notify(&self, project: &ProjectId, notice: &Notice) -> StoreResult<usize> {
        Ok(self.store.enqueue(project, notice, chrono::Utc::now()).await?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NoticeCause;

    fn at(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn new(target: NewTarget) -> NewChannel {
        NewChannel { name: "ops".into(), target, events: vec![], enabled: true }
    }

    fn seal(s: &str) -> String {
        format!("sealed({})", s.len())
    }

    #[test]
    fn refusals_name_the_field() {
        let bad = |c: NewChannel| c.validate().expect_err("refused").field;
        assert_eq!(bad(NewChannel { name: " ".into(), ..new(NewTarget::Email { to: vec!["a@b.c".into()] }) }), "name");
        assert_eq!(bad(new(NewTarget::Slack { webhook_url: "ftp://x/y".into() })), "webhook_url");
        assert_eq!(bad(new(NewTarget::Webhook { url: "https:///nohost".into(), secret: None })), "url");
        assert_eq!(bad(new(NewTarget::Webhook { url: "https://h/x".into(), secret: Some("short".into()) })), "secret");
        assert_eq!(bad(new(NewTarget::Email { to: vec![] })), "to");
        assert_eq!(bad(new(NewTarget::Email { to: vec!["ok@example.com".into(), "not an address".into()] })), "to[1]");
        let twice = NewChannel {
            events: vec![NoticeEvent::Paged, NoticeEvent::Paged],
            ..new(NewTarget::Email { to: vec!["a@b.c".into()] })
        };
        assert_eq!(bad(twice), "events[1]");
    }

    #[test]
    fn addresses_parse_or_not() {
        for ok in ["ana@example.com", "on-call+sre@ops.example.org", "a@b"] {
            assert!(valid_address(ok), "{ok}");
        }
        for bad in ["", "ana", "@example.com", "ana@", "a b@c.d", "ana@exa mple.com", "a@b@c", "a..b@c.d", "a@-b.c"] {
            assert!(!valid_address(bad), "{bad}");
        }
    }

    #[test]
    fn urls_are_sealed_and_only_their_host_is_shown() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        let c = new(NewTarget::Slack { webhook_url: url.into() })
            .into_channel(&ProjectId::new("p").expect("id"), at(0), &seal)
            .expect("valid");
        let stored = serde_json::to_string(&c).expect("json");
        assert!(!stored.contains("XXXXSECRET"), "{stored}");
        assert_eq!(c.target.shown(), "https://hooks.slack.com/…");
        assert_eq!(mask_url("http://user:pw@host:8080/x?y"), "http://host:8080/…");
        assert_eq!(c.target.kind(), ChannelKind::Slack);
    }

    #[test]
    fn a_channel_wants_its_events_only_while_enabled() {
        let p = ProjectId::new("p").expect("id");
        let mut c =
            NewChannel { events: vec![NoticeEvent::Paged], ..new(NewTarget::Email { to: vec!["a@b.c".into()] }) }
                .into_channel(&p, at(0), &seal)
                .expect("valid");
        assert!(c.wants(NoticeEvent::Paged) && !c.wants(NoticeEvent::Assigned));
        c.events.clear();
        assert!(c.wants(NoticeEvent::Assigned));
        c.enabled = false;
        assert!(!c.wants(NoticeEvent::Paged));
    }

    #[test]
    fn a_delivery_is_leased_retried_and_given_up_after_an_expired_last_attempt() {
        let p = ProjectId::new("p").expect("id");
        let c = new(NewTarget::Email { to: vec!["a@b.c".into()] }).into_channel(&p, at(0), &seal).expect("valid");
        let id = IncidentId::new_random();
        let notice = Notice {
            incident_id: id,
            event: NoticeEvent::Diagnosed,
            at: at(0),
            service: "checkout".into(),
            severity: "critical".into(),
            status: "open".into(),
            recipient: None,
            cause: Some(NoticeCause { title: "r42".into(), hypothesis_type: "release".into(), confidence: 0.9 }),
            link: Notice::link_of(id),
            reason: "diagnosed".into(),
        };
        let mut d = Delivery::new(&c, &notice, at(0));
        assert!(d.due(at(0)));
        assert!(d.take("w1", chrono::Duration::seconds(30), 2, at(0)));
        assert!(!d.due(at(10)) && d.held_by("w1", 1) && !d.held_by("w2", 1));
        d.failed("500", Some(at(5)));
        assert_eq!((d.state, d.next_attempt_at), (DeliveryState::Queued, at(5)));
        assert!(d.take("w1", chrono::Duration::seconds(30), 2, at(5)));
        // the worker dies holding the last attempt
        assert!(d.due(at(36)));
        assert!(!d.take("w2", chrono::Duration::seconds(30), 2, at(36)));
        assert_eq!(d.state, DeliveryState::Failed);
        assert!(d.last_error.as_deref().is_some_and(|e| e.contains("lease expired")));
        d.retried(at(40));
        assert_eq!((d.state, d.attempts), (DeliveryState::Queued, 0));
    }

    #[test]
    fn health_turns_failing_after_failures_in_a_row_and_back_on_success() {
        let mut h = ChannelHealth::default();
        for i in 0..FAILING_AFTER {
            assert!(!h.failing(), "after {i}");
            h.failed("connection refused", at(i as i64));
        }
        assert!(h.failing());
        h.succeeded(at(10));
        assert!(!h.failing());
        assert_eq!(h.last_error.as_deref(), Some("connection refused"));
        assert_eq!(clip(&"é".repeat(MAX_ERROR)).len(), MAX_ERROR);
    }
}
