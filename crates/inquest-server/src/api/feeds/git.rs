//! The GitHub `push` event: its commits become `commits` and `commit_files` rows (the
//! payload's paths, change types from the paths, no diffs) under
//! `repository.full_name`. When a clone of that repository is configured it is fetched
//! (with `fetch = true`) and synced first, which writes the same rows with their diffs,
//! chunks and summaries; the webhook then only adds the commits the sync did not reach
//! (another branch), so it never overwrites a synced diff with an empty one.

use chrono::Utc;
use inquest_feeds::commits::{PushEvent, parse_push};
use inquest_feeds::{Delivery, Feed, FeedError, Parsed};
use inquest_git::GitError;
use inquest_ports::RecordBatch;

use crate::AppState;
use crate::feeds::Request;

/// Parse a `push` delivery; `X-GitHub-Delivery` is its id.
pub async fn push(s: &AppState, req: Request) -> Result<Parsed, FeedError> {
    let Some(delivery_id) = req.headers.get("x-github-delivery").and_then(|v| v.to_str().ok()).map(str::to_string)
    else {
        return Err(FeedError::invalid("X-GitHub-Delivery", "the header is missing"));
    };
    let received_at = Utc::now();
    let push = match parse_push(&req.body, received_at)? {
        PushEvent::Deleted { git_ref } => {
            return Ok(Parsed::Ignored { reason: "deleted", detail: format!("{git_ref} was deleted") });
        }
        PushEvent::Push(p) if p.commits.is_empty() => {
            return Ok(Parsed::Ignored { reason: "no_commits", detail: format!("{} brought no commits", p.git_ref) });
        }
        PushEvent::Push(p) => p,
    };
    match s.feeds.git.sync_pushed(&req.stores, &push.repo).await {
        Ok(Some(synced)) => {
            tracing::info!(repo = %push.repo, commits = synced.commits, "push: clone synced");
        }
        Ok(None) => {}
        Err(GitError::Store(e)) => return Err(FeedError::Store(e)),
        Err(GitError::Feed(e)) => return Err(e),
        // The clone is not the sender's fault: keep the payload's rows, say why in the log.
        Err(e) => tracing::warn!(repo = %push.repo, error = %e, "push: the clone could not be synced"),
    }
    let shas: Vec<String> = push.commits.iter().map(|c| c.commit_sha.clone()).collect();
    let known: Vec<String> =
        req.stores.records.commits(&shas).await?.into_iter().map(|c| c.commit.commit_sha).collect();
    let batch = RecordBatch {
        commits: push.commits.into_iter().filter(|c| !known.contains(&c.commit_sha)).collect(),
        commit_files: push.files.into_iter().filter(|f| !known.contains(&f.commit_sha)).collect(),
        ..RecordBatch::default()
    };
    Ok(Parsed::Delivery(Box::new(Delivery::new(Feed::Github, delivery_id, received_at, batch))))
}
