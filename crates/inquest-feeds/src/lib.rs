//! Change feeds: what the tools a team already runs send (deploy tools, the
//! Kubernetes audit webhook, migration hooks, git, runbook folders, topology files),
//! parsed into one `Delivery` each and applied through the ports.
//!
//! Parsing is a pure function of the sender's body (and, for feeds that diff against
//! what they saw last, of the feed's state); errors name the field. `apply` writes a
//! delivery: the idempotent upserts of the topology and semantic ports first, then
//! the rows, the delivery id and the feed's state in one records transaction, so a
//! delivery that failed half-way is retried whole by its sender and a redelivery of
//! one that succeeded changes nothing.

pub mod classify;
pub mod commits;
pub mod precedent;
pub mod runbooks;

use std::fmt;

pub mod topology;

use inquest_domain::{Commit, Timestamp, service_key};
use inquest_ports::{DeliveryOutcome, FeedDelivery, RecordBatch, StoreError, Stores, vector_point};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

pub mod deploy;
pub mod kubernetes;
pub mod schema_change;

/// The feeds, by the name used in `/metrics` and in `FeedDelivery::feed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// The generic deployment JSON.
    Deployments,
    /// GitHub webhooks (`deployment_status`, `push`).
    Github,
    /// Argo CD notifications.
    Argocd,
    /// Flux notification-controller events.
    Flux,
    /// The Kubernetes audit webhook backend.
    KubernetesAudit,
    /// Database schema changes from a migration tool's hook.
    SchemaChanges,
    /// Sync of a local git clone.
    Git,
    /// Runbooks: folder sync and the API.
    Runbooks,
    /// Declarative topology uploads.
    Topology,
    /// Resolved incidents with a confirmed cause, as precedent.
    Precedent,
}

impl Feed {
    pub const ALL: &'static [Feed] = &[
        Feed::Deployments,
        Feed::Github,
        Feed::Argocd,
        Feed::Flux,
        Feed::KubernetesAudit,
        Feed::SchemaChanges,
        Feed::Git,
        Feed::Runbooks,
        Feed::Topology,
        Feed::Precedent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Deployments => "deployments",
            Feed::Github => "github",
            Feed::Argocd => "argocd",
            Feed::Flux => "flux",
            Feed::KubernetesAudit => "kubernetes_audit",
            Feed::SchemaChanges => "schema_changes",
            Feed::Git => "git",
            Feed::Runbooks => "runbooks",
            Feed::Topology => "topology",
            Feed::Precedent => "precedent",
        }
    }
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The body is malformed or a field is invalid (`400`); nothing is written.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A store failed (the sender should retry).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FeedError {
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        FeedError::Invalid { field: field.into(), message: message.to_string() }
    }

    /// The counter label of a refusal: `invalid` or `store`.
    pub fn reason(&self) -> &'static str {
        match self {
            FeedError::Invalid { .. } => "invalid",
            FeedError::Store(_) => "store",
        }
    }
}

/// A text to embed into a collection, with its payload (already redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub collection: &'static str,
    pub id: Uuid,
    pub text: String,
    pub payload: Map<String, Value>,
}

/// One delivery of a feed, ready to apply.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub records: FeedDelivery,
    /// Embedded and upserted before the records are written.
    pub documents: Vec<Document>,
}

impl Delivery {
    pub fn new(feed: Feed, delivery_id: impl Into<String>, received_at: Timestamp, batch: RecordBatch) -> Self {
        Delivery {
            records: FeedDelivery {
                feed: feed.as_str().to_string(),
                delivery_id: delivery_id.into(),
                received_at,
                batch,
                state: Vec::new(),
            },
            documents: Vec::new(),
        }
    }

    /// How many rows the delivery brings (for receipts and counters).
    pub fn rows(&self) -> usize {
        let b = &self.records.batch;
        b.services.len()
            + b.deployments.len()
            + b.commit_ranges.len()
            + b.config_changes.len()
            + b.commits.len()
            + b.commit_files.len()
            + b.incidents.len()
            + b.decisions.len()
    }
}

/// What a feed made of a body.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// Something to store.
    Delivery(Box<Delivery>),
    /// An event the feed does not handle (a GitHub `ping`, an audit `get`, a Flux
    /// info event): answered `2xx`, counted, nothing stored. `reason` is the counter label.
    Ignored { reason: &'static str, detail: String },
}

/// What `apply` did, as the sender is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub outcome: DeliveryOutcome,
    pub rows: usize,
    pub documents: usize,
}

/// Local clones Inquest may read, by repository name (`owner/name`).
pub trait Repositories: Send + Sync {
    /// Commits of `repo` reachable from `current` and not from `previous`, newest
    /// first; with no `previous`, the last `last_n` commits up to `current`. `Ok(None)`
    /// when no clone of `repo` is configured. Blocking: call it off the async runtime.
    fn range(
        &self,
        repo: &str,
        previous: Option<&str>,
        current: &str,
        last_n: usize,
    ) -> Result<Option<Vec<String>>, String>;
}

/// No clone configured for any repository.
pub struct NoRepositories;

impl Repositories for NoRepositories {
    fn range(&self, _: &str, _: Option<&str>, _: &str, _: usize) -> Result<Option<Vec<String>>, String> {
        Ok(None)
    }
}

/// Write one delivery. The topology links of its deployments and its documents are
/// idempotent upserts keyed by derived ids and go first; the rows, the delivery id and
/// the feed's state then go in one records transaction. A redelivery is `Duplicate`.
pub async fn apply(stores: &Stores, delivery: &Delivery) -> Result<Applied, FeedError> {
    let batch = &delivery.records.batch;
    if !batch.deployments.is_empty() {
        // Feeds put the service row of each deployment into the batch; the store's
        // list is read only when one is missing.
        let complete = batch.deployments.iter().all(|d| batch.services.iter().any(|s| s.service_id == d.service_id));
        let known = if complete { Vec::new() } else { stores.records.list_services().await? };
        let services: Vec<_> = batch.services.iter().chain(known.iter()).collect();
        for dep in &batch.deployments {
            let Some(service) = services.iter().find(|s| s.service_id == dep.service_id) else {
                return Err(FeedError::invalid(
                    "service",
                    format!("deployment {} names no known service", dep.deployment_event_id),
                ));
            };
            let shas: Vec<String> = batch
                .commit_ranges
                .iter()
                .filter(|r| r.deployment_event_id == dep.deployment_event_id)
                .flat_map(|r| r.commit_shas.iter().cloned())
                .collect();
            let mut commits: Vec<Commit> =
                batch.commits.iter().filter(|c| shas.contains(&c.commit_sha)).cloned().collect();
            let missing: Vec<String> =
                shas.iter().filter(|s| !commits.iter().any(|c| &&c.commit_sha == s)).cloned().collect();
            if !missing.is_empty() {
                commits.extend(stores.records.commits(&missing).await?.into_iter().map(|c| c.commit));
            }
            let key = service_key(&service.cluster_id, &service.namespace, &service.service_name);
            stores.topology.link_deployment(&key, dep, &commits).await?;
        }
    }
    embed(stores, &delivery.documents).await?;
    let outcome = stores.records.apply_delivery(&delivery.records).await?;
    Ok(Applied { outcome, rows: delivery.rows(), documents: delivery.documents.len() })
}

/// Embed `documents` and upsert them into their collections (each ensured first), a
/// few hundred texts per call to the embedder. Upserts keyed by the documents' ids, so
/// embedding the same documents again converges.
pub async fn embed(stores: &Stores, documents: &[Document]) -> Result<(), StoreError> {
    let dim = stores.embedder.dim();
    let mut collections: Vec<&'static str> = documents.iter().map(|d| d.collection).collect();
    collections.sort_unstable();
    collections.dedup();
    for collection in collections {
        stores.semantic.ensure_collection(collection, dim).await?;
        let docs: Vec<&Document> = documents.iter().filter(|d| d.collection == collection).collect();
        for chunk in docs.chunks(256) {
            let texts: Vec<String> = chunk.iter().map(|d| d.text.clone()).collect();
            let vectors = stores.embedder.embed(&texts).await?;
            let points: Vec<_> = chunk
                .iter()
                .zip(vectors)
                .map(|(d, v)| vector_point(d.id, v, d.payload.clone(), stores.embedder.model()))
                .collect();
            stores.semantic.upsert(collection, &points).await?;
        }
    }
    Ok(())
}
