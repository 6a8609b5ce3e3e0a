//! The change feeds' edge: one way for every feed route to read its body, hand it
//! to its parser, apply the delivery in the caller's project and answer, counting
//! every delivery in `inquest_feed_events_total{feed,outcome}` and every refusal in
//! `inquest_feed_rejected_total{feed,reason}`.
//!
//! Answers: `202` with a `FeedReceipt` for a stored or duplicate delivery, `202` for
//! an event the feed does not handle (ignored and counted, so the sender does not
//! retry it forever), `400` naming the field, `401` for a bad signature (nothing
//! read), `413` for an oversized body, `503` when a store is down (the sender retries).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use inquest_feeds::kubernetes::SecretKeys;
use inquest_feeds::{Delivery, Feed, FeedError, NoRepositories, Parsed, Repositories};
use inquest_ports::{DeliveryOutcome, Stores};
use prometheus::{IntCounterVec, Opts, Registry};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Principal, Webhook};
use crate::error::ApiError;

/// The feeds' counters.
#[derive(Clone)]
pub struct FeedMetrics {
    /// `inquest_feed_events_total{feed,outcome}`: outcome is `received`, `stored`,
    /// `duplicate`, `ignored` or `rejected`.
    pub events: IntCounterVec,
    /// `inquest_feed_rejected_total{feed,reason}`: `invalid`, `too_large`, `store`.
    pub rejected: IntCounterVec,
    /// `inquest_feed_ignored_total{feed,reason}`: events a feed does not handle, by kind.
    pub ignored: IntCounterVec,
}

impl FeedMetrics {
    pub fn with_registry(registry: &Registry) -> prometheus::Result<FeedMetrics> {
        let counter = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let m = FeedMetrics {
            events: counter("inquest_feed_events_total", "Change feed deliveries by outcome", &["feed", "outcome"])?,
            rejected: counter(
                "inquest_feed_rejected_total",
                "Change feed deliveries refused, by reason",
                &["feed", "reason"],
            )?,
            ignored: counter(
                "inquest_feed_ignored_total",
                "Change feed events not handled, by kind",
                &["feed", "reason"],
            )?,
        };
        // Every feed's series exist from the start, so a rate over them is defined.
        for feed in Feed::ALL {
            for outcome in ["received", "stored", "duplicate", "ignored", "rejected"] {
                m.events.with_label_values(&[feed.as_str(), outcome]);
            }
        }
        Ok(m)
    }

    fn count(&self, feed: Feed, outcome: &str) {
        self.events.with_label_values(&[feed.as_str(), outcome]).inc();
    }

    fn reject(&self, feed: Feed, reason: &str) {
        self.count(feed, "rejected");
        self.rejected.with_label_values(&[feed.as_str(), reason]).inc();
    }
}

/// What the feeds share: counters and the local clones commit ranges are read from.
pub struct Feeds {
    pub metrics: FeedMetrics,
    pub repositories: Arc<dyn Repositories>,
    /// The keys of the keyed hash that tells a Secret's value changed without keeping it.
    pub secret_keys: Arc<SecretKeys>,
    /// The configured clones a push webhook syncs (none by default).
    pub git: Arc<inquest_git::GitRepositories>,
}

impl Feeds {
    pub fn new(registry: &Registry) -> prometheus::Result<Feeds> {
        Ok(Feeds {
            metrics: FeedMetrics::with_registry(registry)?,
            repositories: Arc::new(NoRepositories),
            secret_keys: Arc::new(SecretKeys::ephemeral()),
            git: Arc::default(),
        })
    }

    /// The same feeds reading commit ranges from, and syncing pushes into, `git`'s clones.
    pub fn with_clones(&self, git: Arc<inquest_git::GitRepositories>) -> Feeds {
        Feeds { metrics: self.metrics.clone(), repositories: git.clone(), secret_keys: self.secret_keys.clone(), git }
    }
}

/// The answer to a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedReceipt {
    pub feed: String,
    /// `stored`, `duplicate` or `ignored`.
    pub outcome: String,
    /// The sender's delivery id the redelivery check used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// Rows written (0 for a duplicate or an ignored event).
    pub rows: usize,
    /// Documents embedded.
    pub documents: usize,
    /// Why an event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub type Received = (StatusCode, Json<FeedReceipt>);

/// A parser's view of a request: the body, the headers, the caller and its project's stores.
pub struct Request {
    pub body: Bytes,
    pub headers: HeaderMap,
    pub principal: Principal,
    pub stores: Stores,
}

/// Read a webhook's body, parse it with `parse`, apply the delivery in the caller's
/// project and answer; every step counted.
pub async fn receive<F, Fut>(s: &AppState, feed: Feed, hook: Webhook, parse: F) -> Result<Received, ApiError>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Parsed, FeedError>>,
{
    let metrics = &s.feeds.metrics;
    metrics.count(feed, "received");
    let body = match hook.body {
        Ok(b) => b,
        Err(e) => {
            let e = ApiError::from(e);
            metrics.reject(feed, if matches!(e, ApiError::PayloadTooLarge(_)) { "too_large" } else { "invalid" });
            return Err(e);
        }
    };
    let stores = s.stores.for_project(&hook.principal.project);
    let request = Request { body, headers: hook.headers, principal: hook.principal, stores: stores.clone() };
    let parsed = match parse(request).await {
        Ok(p) => p,
        Err(e) => return Err(refused(s, feed, e)),
    };
    match parsed {
        Parsed::Ignored { reason, detail } => {
            metrics.count(feed, "ignored");
            metrics.ignored.with_label_values(&[feed.as_str(), reason]).inc();
            tracing::debug!(%feed, reason, %detail, "feed event ignored");
            let receipt = FeedReceipt {
                feed: feed.to_string(),
                outcome: "ignored".into(),
                delivery_id: None,
                rows: 0,
                documents: 0,
                detail: Some(detail),
            };
            Ok((StatusCode::ACCEPTED, Json(receipt)))
        }
        Parsed::Delivery(delivery) => store(s, feed, &stores, &delivery).await,
    }
}

/// Apply one delivery and answer with its receipt.
pub async fn store(s: &AppState, feed: Feed, stores: &Stores, delivery: &Delivery) -> Result<Received, ApiError> {
    let applied = match inquest_feeds::apply(stores, delivery).await {
        Ok(a) => a,
        Err(e) => return Err(refused(s, feed, e)),
    };
    let (outcome, rows, documents) = match applied.outcome {
        DeliveryOutcome::Stored => ("stored", applied.rows, applied.documents),
        DeliveryOutcome::Duplicate => ("duplicate", 0, 0),
    };
    s.feeds.metrics.count(feed, outcome);
    tracing::info!(%feed, delivery = %delivery.records.delivery_id, outcome, rows, "feed delivery");
    let receipt = FeedReceipt {
        feed: feed.to_string(),
        outcome: outcome.into(),
        delivery_id: Some(delivery.records.delivery_id.clone()),
        rows,
        documents,
        detail: None,
    };
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}

fn refused(s: &AppState, feed: Feed, e: FeedError) -> ApiError {
    s.feeds.metrics.reject(feed, e.reason());
    match e {
        FeedError::Invalid { field, message } => ApiError::field(&field, message),
        FeedError::Store(e) => e.into(),
    }
}
