//! The commit range of a deployment with a revision.
//!
//! - previous revision: as the sender gives it, else the revision of the service's
//!   latest deployment that started before this one (within a year), else unknown;
//! - rollback: when the sender says so, or when the revision is one the service ran
//!   before and not the one it runs now (deploy A, then B, then A again);
//! - commits: read from the local clone of `repo` when one is configured (commits
//!   reachable from the revision and not from the previous one, or the last `LAST_N`
//!   up to the revision when the previous one is unknown; for a rollback, the commits
//!   it undid, from the revision to the previous one); otherwise just the revision when
//!   it looks like a commit sha, else none. A clone that cannot answer (a commit it has
//!   not fetched yet) falls back the same way and says so in the note, since the
//!   deployment happened either way.
//!
//! The note (`metadata.commit_range`) says where each part came from.

use std::sync::Arc;

use inquest_domain::DeploymentEvent;
use inquest_ports::Stores;
use serde_json::{Value, json};

use super::Rollout;
use crate::{FeedError, Repositories};

/// Commits taken up to the revision when the previous revision is unknown.
pub const LAST_N: usize = 20;

/// How far back the service's previous deployment is looked for.
const LOOKBACK_DAYS: i64 = 365;

pub(super) struct Resolved {
    pub previous: Option<String>,
    pub is_rollback: bool,
    pub shas: Vec<String>,
    pub note: Value,
}

/// A full or abbreviated git object name (7 to 64 hex digits).
pub fn looks_like_sha(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) async fn resolve(
    stores: &Stores,
    repos: Arc<dyn Repositories>,
    r: &Rollout,
    dep: &DeploymentEvent,
    earlier_in_batch: &[DeploymentEvent],
) -> Result<Resolved, FeedError> {
    let revision = r.revision.clone().unwrap_or_default();
    let from = dep.started_at - chrono::Duration::days(LOOKBACK_DAYS);
    let mut before: Vec<DeploymentEvent> = stores
        .records
        .deployments_between(&[dep.service_id], from, dep.started_at)
        .await?
        .into_iter()
        .chain(earlier_in_batch.iter().filter(|d| d.service_id == dep.service_id).cloned())
        .filter(|d| d.deployment_event_id != dep.deployment_event_id && d.started_at < dep.started_at)
        .collect();
    before.sort_by_key(|d| d.started_at);
    let last = before.iter().rev().find_map(|d| d.revision.clone());
    let (previous, previous_from) = match (&r.previous_revision, &last) {
        (Some(p), _) => (Some(p.clone()), "sender"),
        (None, Some(p)) => (Some(p.clone()), "previous_deployment"),
        (None, None) => (None, "unknown"),
    };
    let ran_before = before.iter().any(|d| d.revision.as_deref() == Some(revision.as_str()));
    let is_rollback = r.is_rollback || (ran_before && previous.as_deref().is_some_and(|p| p != revision.as_str()));

    let mut note = json!({ "previous_from": previous_from });
    let from_clone = match &r.repo {
        None => None,
        Some(repo) => {
            let (repo, previous, current) = (repo.clone(), previous.clone(), revision.clone());
            let rollback = is_rollback;
            let answer = tokio::task::spawn_blocking(move || match (rollback, previous.as_deref()) {
                // A rollback runs an older revision: its range is what it undid.
                (true, Some(p)) => repos.range(&repo, Some(&current), p, LAST_N),
                (_, p) => repos.range(&repo, p, &current, LAST_N),
            })
            .await
            .map_err(|e| format!("the range lookup stopped: {e}"))
            .and_then(|a| a);
            match answer {
                Ok(Some(shas)) => Some(shas),
                Ok(None) => {
                    note["clone"] = json!("none configured");
                    None
                }
                Err(e) => {
                    tracing::warn!(repo = r.repo.as_deref().unwrap_or(""), error = %e, "commit range unresolved");
                    note["clone"] = json!(format!("unresolved: {e}"));
                    None
                }
            }
        }
    };
    let (shas, source) = match from_clone {
        Some(shas) => (shas, "clone"),
        None if looks_like_sha(&revision) => (vec![revision.clone()], "revision"),
        None => (Vec::new(), "none"),
    };
    note["commits_from"] = json!(source);
    Ok(Resolved { previous, is_rollback, shas, note })
}
