//! The GitHub `push` webhook through the router, signed as GitHub signs: the pushed
//! commits stored, a configured clone synced first (its diffs kept), a redelivery
//! changing nothing, a deleted branch ignored, a bad signature refused.

use std::process::Command;
use std::sync::Arc;

use axum::Router;
use chrono::Utc;
use inquest_access::{hmac, token};
use inquest_domain::{FileChangeType, Integration, IntegrationId, ProjectId, WebhookAuth};
use inquest_git::{CloneSpec, GitRepositories};
use inquest_ports::{AccessStore, Stores};
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use serde_json::json;

use crate::access::{Answer, send};
use crate::intake_on;

const SECRET: &str = "hmac-secret-of-the-push-feed-0123456789";

struct PushApp {
    router: Router,
    stores: Stores,
    integration: IntegrationId,
    _clone: tempfile::TempDir,
    /// The clone's commits, oldest first.
    shas: Vec<String>,
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Dev One", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A clone with two commits: the second lowers a timeout in a config file.
fn clone() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(p.join("config")).expect("mkdir");
    std::fs::write(p.join("config/app.yaml"), "payments:\n  timeout: 30s\n").expect("write");
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "initial"]);
    let first = git(p, &["rev-parse", "HEAD"]);
    std::fs::write(p.join("config/app.yaml"), "payments:\n  timeout: 2s\n").expect("write");
    git(p, &["commit", "-q", "-am", "lower the payments timeout"]);
    let second = git(p, &["rev-parse", "HEAD"]);
    (dir, vec![first, second])
}

async fn app() -> PushApp {
    let stores = EmbeddedStore::in_memory().expect("store").stores();
    let (ingest, _observed) = intake_on(stores.clone(), Arc::new(EmbeddedIntakeStore::in_memory().expect("intake")));
    let access_store: Arc<dyn AccessStore> = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    let access = Access::required(access_store.clone(), ingest.metrics.registry()).expect("access metrics");
    let integration = Integration {
        integration_id: IntegrationId::new_random(),
        project_id: ProjectId::default_project(),
        kind: "github".into(),
        name: "github push".into(),
        webhook_auth: WebhookAuth::Hmac,
        settings: json!({}),
        secret_sealed: access.keyring.seal(SECRET),
        secret_hash: token::hash(SECRET),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    access_store.put_integration(&integration).await.expect("integration");
    let (dir, shas) = clone();
    let mut state = AppState::new(stores.clone(), Arc::new(TemplateReport), ingest, Arc::new(access));
    let repos = Arc::new(GitRepositories::new(vec![CloneSpec {
        repo: "acme/shop".into(),
        path: dir.path().to_path_buf(),
        branch: None,
        fetch: false,
    }]));
    state.feeds = Arc::new(state.feeds.with_clones(repos));
    PushApp { router: inquest_server::app(state), stores, integration: integration.integration_id, _clone: dir, shas }
}

impl PushApp {
    async fn push(&self, delivery: &str, body: &str, secret: &str) -> Answer {
        let signature = hmac::sign_sha256(secret.as_bytes(), body.as_bytes());
        let uri = format!("/api/feeds/github?integration={}", self.integration);
        let headers = [
            ("x-hub-signature-256", signature.as_str()),
            ("x-github-event", "push"),
            ("x-github-delivery", delivery),
            ("content-type", "application/json"),
        ];
        send(&self.router, "post", &uri, &headers, Some(body)).await
    }
}

/// A push as GitHub sends it: the clone's second commit and one from elsewhere.
fn payload(known: &str, other: &str) -> String {
    json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000001",
        "after": other,
        "created": false, "deleted": false, "forced": false,
        "repository": {"id": 1, "name": "shop", "full_name": "acme/shop"},
        "pusher": {"name": "octo", "email": "octo@example.com"},
        "commits": [
            {"id": known, "distinct": true, "message": "lower the payments timeout",
             "timestamp": "2026-03-01T10:00:00+01:00", "url": format!("https://github.com/acme/shop/commit/{known}"),
             "author": {"name": "Dev One", "email": "dev@example.com", "username": "dev"},
             "added": [], "removed": [], "modified": ["config/app.yaml"]},
            {"id": other, "distinct": true, "message": "session cookie flags\n\ntoken=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
             "timestamp": "2026-03-01T10:05:00+01:00", "url": format!("https://github.com/acme/shop/commit/{other}"),
             "author": {"name": "Dev Two", "email": "two@example.com", "username": "two"},
             "added": ["src/auth/session.go"], "removed": [], "modified": []}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn a_signed_push_syncs_the_clone_and_stores_the_commits_it_did_not_reach() {
    let a = app().await;
    let other = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
    let body = payload(&a.shas[1], other);
    let r = a.push("72d3162e-cc78-11e3-81ab-4c9367dc0958", &body, SECRET).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "stored");
    assert_eq!(r.body["delivery_id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    // The other commit and its file: the clone's two came through the sync.
    assert_eq!(r.body["rows"], 2, "{}", r.text);

    let all =
        a.stores.records.commits(&[a.shas[0].clone(), a.shas[1].clone(), other.to_string()]).await.expect("commits");
    assert_eq!(all.len(), 3);
    let synced = all.iter().find(|c| c.commit.commit_sha == a.shas[1]).expect("synced commit");
    let f = &synced.files[0];
    assert_eq!(f.change_type, FileChangeType::TimeoutRetry);
    assert!(f.diff_text.as_deref().is_some_and(|d| d.contains("+  timeout: 2s")), "the sync's diff is kept: {f:?}");
    assert_eq!((f.lines_added, f.lines_removed), (1, 1));
    let pushed = all.iter().find(|c| c.commit.commit_sha == other).expect("pushed commit");
    assert_eq!(pushed.commit.repo, "acme/shop");
    assert!(!pushed.commit.message.contains("ghp_"), "{}", pushed.commit.message);
    assert_eq!(pushed.files.len(), 1);
    assert_eq!((pushed.files[0].change_type, pushed.files[0].diff_text.as_deref()), (FileChangeType::Auth, None));

    let again = a.push("72d3162e-cc78-11e3-81ab-4c9367dc0958", &body, SECRET).await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["outcome"], "duplicate");
}

#[tokio::test]
async fn a_deleted_branch_is_ignored_and_a_bad_signature_stores_nothing() {
    let a = app().await;
    let deleted =
        json!({"ref": "refs/heads/old", "before": a.shas[1], "after": "0000000000000000000000000000000000000000",
        "created": false, "deleted": true, "forced": false, "commits": [], "head_commit": null,
        "repository": {"full_name": "acme/shop"}})
        .to_string();
    let r = a.push("d1", &deleted, SECRET).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "ignored");

    let body = payload(&a.shas[1], "abcdefabcdefabcdefabcdefabcdefabcdefabcd");
    let r = a.push("d2", &body, "not-the-secret").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(a.stores.records.commits(&a.shas).await.expect("commits").is_empty(), "nothing synced or stored");

    let bad = body.replace("2026-03-01T10:00:00+01:00", "yesterday");
    let r = a.push("d3", &bad, SECRET).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("commits[0].timestamp"), "{}", r.text);
}
