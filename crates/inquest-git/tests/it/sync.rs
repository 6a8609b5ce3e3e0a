//! The sync into the embedded store: rows, change types, line counts, renames,
//! binaries, merges, redaction, chunks, summaries and the incremental cursor.

use std::sync::{Arc, Mutex};

use inquest_domain::{FileChangeType, collections};
use inquest_git::{SyncOptions, SyncProgress, cursor, sync};
use inquest_ports::{CommitWithFiles, PayloadFilter, Stores};
use inquest_store_embedded::EmbeddedStore;

use crate::support::{FakeSummarizer, REPO, SECRET, Story, TestRepo, fake, story};

fn stores() -> Stores {
    EmbeddedStore::in_memory().expect("embedded store").stores()
}

async fn commit(stores: &Stores, sha: &str) -> CommitWithFiles {
    let mut found = stores.records.commits(&[sha.to_string()]).await.expect("commits");
    assert_eq!(found.len(), 1, "commit {sha} stored once");
    found.remove(0)
}

fn file<'a>(c: &'a CommitWithFiles, path: &str) -> &'a inquest_domain::CommitFile {
    c.files.iter().find(|f| f.file_path == path).unwrap_or_else(|| panic!("{path} in {:?}", c.files))
}

pub async fn check_story(stores: &Stores, s: &Story) {
    let init = commit(stores, &s.init).await;
    assert_eq!(init.commit.repo, REPO);
    assert_eq!(init.commit.author.as_deref(), Some("Dev One"));
    assert_eq!(init.files.len(), 3);
    assert_eq!(file(&init, "README.md").change_type, FileChangeType::Docs);
    assert_eq!(file(&init, "src/app.rs").lines_added, 22);

    let m = commit(stores, &s.migration).await;
    let f = file(&m, "db/migrations/0001_orders.sql");
    assert_eq!((f.change_type, f.lines_added, f.lines_removed), (FileChangeType::DbMigration, 4, 0));
    assert!(f.diff_text.as_deref().is_some_and(|d| d.contains("+CREATE TABLE orders")), "{:?}", f.diff_text);

    let l = commit(stores, &s.lockfile).await;
    assert_eq!(file(&l, "Cargo.lock").change_type, FileChangeType::Dependency);

    let t = commit(stores, &s.timeout).await;
    let f = file(&t, "config/client.yaml");
    assert_eq!((f.change_type, f.lines_added, f.lines_removed), (FileChangeType::TimeoutRetry, 1, 1));

    let b = commit(stores, &s.binary).await;
    let f = file(&b, "assets/logo.png");
    assert_eq!((f.diff_text.as_deref(), f.lines_added, f.lines_removed), (None, 0, 0));

    // The merge's files against its first parent: what it brought into main.
    let merge = commit(stores, &s.merge).await;
    assert_eq!(merge.files.iter().map(|f| f.file_path.as_str()).collect::<Vec<_>>(), vec!["config/client.yaml"]);
    assert_eq!(file(&merge, "config/client.yaml").change_type, FileChangeType::TimeoutRetry);

    let r = commit(stores, &s.rename).await;
    assert_eq!(r.files.len(), 1, "a rename is one row: {:?}", r.files);
    let f = file(&r, "src/server.rs");
    assert!(f.diff_text.as_deref().is_some_and(|d| d.contains("rename from src/app.rs")), "{:?}", f.diff_text);
    assert_eq!((f.lines_added, f.lines_removed), (0, 0));

    let sec = commit(stores, &s.secret).await;
    assert!(!sec.commit.message.contains(SECRET), "{}", sec.commit.message);
    let f = file(&sec, "src/settings.py");
    let d = f.diff_text.as_deref().expect("a text diff");
    assert!(!d.contains(SECRET) && d.contains("[REDACTED]"), "{d}");
    assert!(d.contains("REGION"), "the rest of the diff is kept: {d}");
}

async fn chunks(stores: &Stores) -> Vec<inquest_ports::StoredPoint> {
    stores.semantic.points(collections::GIT_DIFF_CHUNKS, &PayloadFilter::default(), 10_000).await.expect("points")
}

#[tokio::test]
async fn a_sync_stores_every_commit_with_its_files_and_chunks_and_no_secret() {
    let repo = TestRepo::new();
    let s = story(&repo);
    let stores = stores();
    let summary = sync(&stores, REPO, &repo.path(), &SyncOptions::default()).await.expect("sync");
    assert_eq!(summary.commits, 8);
    assert_eq!(summary.tip, s.secret);
    assert_eq!(summary.deliveries, 1);
    check_story(&stores, &s).await;

    let points = chunks(&stores).await;
    assert_eq!(points.len(), summary.chunks);
    assert!(points.iter().all(|p| p.payload["repo"] == REPO));
    assert!(!points.iter().any(|p| p.payload["sha"] == s.merge.as_str()), "no chunk repeats the merged hunks");
    assert!(!points.iter().any(|p| p.payload["text"].as_str().is_some_and(|t| t.contains(SECRET))));
    let migration = points.iter().find(|p| p.payload["sha"] == s.migration.as_str()).expect("a migration chunk");
    assert_eq!(migration.payload["hunk_id"], format!("{}:db/migrations/0001_orders.sql#0", s.migration).as_str());
    assert_eq!(migration.payload["change_type"], "db_migration");
    assert!(migration.payload["text"].as_str().is_some_and(|t| t.starts_with("@@")), "{:?}", migration.payload);
    // Every text file outside the merge has at least one chunk; the binary and the pure rename none.
    assert!(!points.iter().any(|p| p.payload["path"] == "assets/logo.png" || p.payload["path"] == "src/server.rs"));

    let c = cursor(&stores, REPO).await.expect("cursor");
    assert_eq!(c.tips, vec![s.secret.clone()]);
}

#[tokio::test]
async fn a_second_sync_reads_nothing_and_a_new_commit_syncs_alone() {
    let repo = TestRepo::new();
    let s = story(&repo);
    let stores = stores();
    sync(&stores, REPO, &repo.path(), &SyncOptions::default()).await.expect("first sync");
    let again = sync(&stores, REPO, &repo.path(), &SyncOptions::default()).await.expect("second sync");
    assert_eq!((again.commits, again.deliveries, again.chunks), (0, 0, 0));
    assert_eq!(again.tip, s.secret);

    repo.write("src/client.rs", "let c = reqwest::Client::new();\n");
    let new = repo.commit("a client");
    let third = sync(&stores, REPO, &repo.path(), &SyncOptions::default()).await.expect("third sync");
    assert_eq!((third.commits, third.deliveries), (1, 1));
    let c = commit(&stores, &new).await;
    assert_eq!(file(&c, "src/client.rs").change_type, FileChangeType::HttpClient);
    assert_eq!(cursor(&stores, REPO).await.expect("cursor").tips, vec![new]);
}

#[tokio::test]
async fn small_deliveries_resume_from_the_cursor_and_report_progress() {
    let repo = TestRepo::new();
    let s = story(&repo);
    let stores = stores();
    // Sync up to the branch's commit first, as a sync cut short there would have.
    let partial = SyncOptions { branch: Some(s.lockfile.clone()), chunk_commits: 2, ..SyncOptions::default() };
    let first = sync(&stores, REPO, &repo.path(), &partial).await.expect("partial sync");
    assert_eq!((first.commits, first.deliveries), (3, 2));
    assert_eq!(cursor(&stores, REPO).await.expect("cursor").tips, vec![s.lockfile.clone()]);

    let seen: Arc<Mutex<Vec<SyncProgress>>> = Arc::default();
    let log = seen.clone();
    let rest = SyncOptions {
        chunk_commits: 2,
        progress: Some(Arc::new(move |p| log.lock().expect("lock").push(p))),
        ..SyncOptions::default()
    };
    let second = sync(&stores, REPO, &repo.path(), &rest).await.expect("the rest");
    assert_eq!((second.commits, second.deliveries, second.duplicates), (5, 3, 0));
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.last(), Some(&SyncProgress { total: 5, done: 5 }));
    assert_eq!(seen.len(), 3);
    check_story(&stores, &s).await;
}

#[tokio::test]
async fn summaries_come_from_the_summarizer_and_a_failure_leaves_none() {
    let repo = TestRepo::new();
    let s = story(&repo);
    let stores = stores();
    let summarizer = fake();
    let options =
        SyncOptions { summarizer: Some(summarizer.clone() as Arc<dyn inquest_git::Summarizer>), ..Default::default() };
    let summary = sync(&stores, REPO, &repo.path(), &options).await.expect("sync");
    assert_eq!(summary.summaries, 7, "one commit's summary failed");
    assert_eq!(commit(&stores, &s.migration).await.commit.summary.as_deref(), Some("orders table"));
    assert_eq!(commit(&stores, &s.binary).await.commit.summary, None);
    let asked = FakeSummarizer::asked_texts(&summarizer);
    assert_eq!(asked.len(), 8);
    assert!(!asked.iter().any(|t| t.contains(SECRET)), "the secret reached the summarizer");
    assert!(asked.iter().any(|t| t.contains("+CREATE TABLE orders")), "the excerpt carries the diff");
}

#[tokio::test]
async fn a_huge_generated_file_is_capped_and_a_missing_clone_is_an_error() {
    let repo = TestRepo::new();
    let mut big = String::new();
    for i in 0..20_000 {
        big.push_str(&format!("export const v{i} = {i};\n"));
    }
    repo.write("web/generated.js", &big);
    let sha = repo.commit("generated");
    let stores = stores();
    sync(&stores, REPO, &repo.path(), &SyncOptions::default()).await.expect("sync");
    let c = commit(&stores, &sha).await;
    let f = file(&c, "web/generated.js");
    assert_eq!(f.lines_added, 20_000, "line counts stay exact");
    let d = f.diff_text.as_deref().expect("text");
    assert!(d.len() <= 64 * 1024 + 100, "{}", d.len());
    assert!(d.contains("[... diff truncated:"), "the cut is marked");

    let err = sync(&stores, REPO, &repo.path().join("nope"), &SyncOptions::default()).await.expect_err("no repo");
    assert!(err.to_string().contains("not a git repository"), "{err}");
    let bad = SyncOptions { branch: Some("release-9".into()), ..SyncOptions::default() };
    let err = sync(&stores, REPO, &repo.path(), &bad).await.expect_err("no branch");
    assert_eq!(err.to_string(), "unknown revision release-9");
}
