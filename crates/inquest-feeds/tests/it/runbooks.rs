//! Folder sync: a real folder of markdown files, synced, changed, synced again; and
//! an investigation that suggests a synced runbook.

use std::fs;

use inquest_core::{InvestigationConfig, investigate};
use inquest_domain::collections;
use inquest_feeds::runbooks::{self, chunk_id};
use inquest_ports::PayloadFilter;
use inquest_store_embedded::EmbeddedStore;
use serde_json::json;

use crate::{at, bare_incident};

/// The `*.md` files of `dir` and its subfolders, as `(relative path, text)` in path order.
fn read_folder(dir: &std::path::Path) -> std::io::Result<Vec<(std::path::PathBuf, String)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let text = fs::read_to_string(&path)?;
                out.push((path.strip_prefix(dir).unwrap_or(&path).to_path_buf(), text));
            }
        }
    }
    out.sort();
    Ok(out)
}

const CHECKOUT: &str = "---\ntitle: Checkout error rate spike\nservice: prod/shop/checkout\ntags: [checkout, errors]\nsource_url: https://wiki.example.com/checkout-errors\n---\n# Error rate spike on checkout\n\nHTTP 5xx errors on checkout rise.\n\n## Triage\n1. Check the latest checkout deployment\n2. Look at the payment dependency error rate\n\n## Mitigate\n- roll back the deployment\n";

const CACHE: &str =
    "---\ntitle: Cache flush\ntags: redis\n---\n# Flush\n- run `redis-cli FLUSHALL` on the replica first\n";

#[tokio::test]
async fn a_folder_syncs_updates_and_deletes_only_its_own_runbooks() -> anyhow::Result<()> {
    let stores = EmbeddedStore::in_memory()?.stores();
    let dir = tempfile::tempdir()?;
    fs::create_dir_all(dir.path().join("payments"))?;
    fs::write(dir.path().join("checkout.md"), CHECKOUT)?;
    fs::write(dir.path().join("payments/cache flush.md"), CACHE)?;
    fs::write(dir.path().join("notes.txt"), "not a runbook")?;
    fs::write(dir.path().join("broken.md"), "---\ntitle: [x\n---\nbody\n")?;
    let canonical = dir.path().canonicalize()?;
    let origin = runbooks::folder_origin(&canonical);

    // A runbook written through the API under an id the folder would claim is not taken over.
    let api = runbooks::Runbook::parse("other", runbooks::Fields::default(), "---\ntitle: API one\n---\n- x\n")?;
    runbooks::put(&stores, &api, runbooks::API_ORIGIN, &[]).await?;

    let files = read_folder(&canonical)?;
    assert_eq!(files.len(), 3, "only the *.md files: {files:?}");
    let s = runbooks::sync(&stores, &origin, &files).await?;
    assert_eq!(s.created, vec!["checkout", "payments/cache-flush"]);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert!(s.failed[0].0.contains("broken.md") && s.failed[0].1.contains("front_matter"), "{:?}", s.failed);
    let listed: Vec<String> = runbooks::list(&stores).await?.into_iter().map(|r| r.id).collect();
    assert_eq!(listed, vec!["checkout", "other", "payments/cache-flush"]);
    let got = runbooks::get(&stores, "checkout").await?.expect("synced");
    assert_eq!(got.summary.origin, origin);
    assert_eq!(got.summary.service_key.as_deref(), Some("prod/shop/checkout"));
    assert_eq!(
        got.sections[1].steps,
        vec!["Check the latest checkout deployment", "Look at the payment dependency error rate"]
    );

    // Unchanged files are not written again; a shorter file leaves no orphan chunk; a
    // file gone takes its runbook along, and only that one.
    let s = runbooks::sync(&stores, &origin, &read_folder(&canonical)?).await?;
    assert_eq!(s.unchanged, vec!["checkout", "payments/cache-flush"]);
    assert!(s.created.is_empty() && s.updated.is_empty() && s.deleted.is_empty());
    fs::write(dir.path().join("checkout.md"), "---\ntitle: Checkout error rate spike\n---\n# Only\n- roll back\n")?;
    fs::remove_file(dir.path().join("payments/cache flush.md"))?;
    fs::write(dir.path().join("other.md"), "---\ntitle: Folder one\n---\n- y\n")?;
    let s = runbooks::sync(&stores, &origin, &read_folder(&canonical)?).await?;
    assert_eq!(s.updated, vec!["checkout"]);
    assert_eq!(s.deleted, vec!["payments/cache-flush"]);
    assert!(s.failed.iter().any(|(f, why)| f == "other.md" && why.contains("held by origin 'api'")), "{:?}", s.failed);
    let filter = PayloadFilter::default().any_of("runbook_id", vec![json!("checkout")]);
    let points = stores.semantic.points(collections::RUNBOOKS, &filter, 100).await?;
    assert_eq!(points.len(), 1, "no orphan chunk");
    assert_eq!(points[0].id, chunk_id("checkout", 0));
    assert!(runbooks::get(&stores, "payments/cache-flush").await?.is_none());
    assert_eq!(runbooks::get(&stores, "other").await?.expect("kept").summary.title, "API one");
    Ok(())
}

#[tokio::test]
async fn an_investigation_suggests_a_runbook_synced_from_a_folder() -> anyhow::Result<()> {
    let stores = EmbeddedStore::in_memory()?.stores();
    let id = bare_incident(&stores, "checkout", at(10)).await;
    let dir = tempfile::tempdir()?;
    fs::write(dir.path().join("checkout.md"), CHECKOUT)?;
    fs::write(dir.path().join("cache.md"), CACHE)?;
    let canonical = dir.path().canonicalize()?;
    let s = runbooks::sync(&stores, &runbooks::folder_origin(&canonical), &read_folder(&canonical)?).await?;
    assert_eq!(s.created.len(), 2);

    let inv = investigate(&stores, id, &InvestigationConfig::default(), at(11)).await?;
    let top = inv.runbooks.first().unwrap_or_else(|| panic!("no runbook suggested: {:?}", inv.gaps));
    assert_eq!(top.title, "Checkout error rate spike");
    assert_eq!(top.source_url.as_deref(), Some("https://wiki.example.com/checkout-errors"));
    let ev = inv.evidence.iter().find(|e| e.evidence_id == top.evidence_id).expect("the runbook's evidence");
    let checkout_chunks: Vec<String> = (0..3).map(|i| format!("runbooks/{}", chunk_id("checkout", i))).collect();
    assert!(checkout_chunks.contains(&ev.reference), "{} is not a checkout chunk", ev.reference);
    assert_eq!(ev.metadata["payload"]["runbook_id"], "checkout");
    Ok(())
}
