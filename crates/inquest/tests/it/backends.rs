//! `inquest migrate` and `inquest doctor` with each store configured alone and all
//! together: Postgres (`INQUEST_TEST_POSTGRES_URL`) and ClickHouse
//! (`INQUEST_TEST_CLICKHOUSE_URL`) skip locally and fail under CI when unset; Neo4j
//! and Qdrant run when `INQUEST_TEST_NEO4J_URL` / `INQUEST_TEST_QDRANT_URL` name a
//! server (none can be installed here), and always against an unreachable address.

use inquest_contract::postgres::{FreshDb, server_url};

use crate::stores::{inquest, text};
use crate::support::require_env;

/// Nothing listens on port 1.
const NOWHERE_HTTP: &str = "http://127.0.0.1:1";
const NOWHERE_BOLT: &str = "bolt://127.0.0.1:1";

/// The settings naming one store, and the doctor line that shows it.
struct Store {
    env: Vec<(String, String)>,
    line: String,
}

async fn postgres(db: &FreshDb) -> Store {
    Store { env: vec![("INQUEST_POSTGRES_URL".into(), db.url.clone())], line: "records:  postgres".into() }
}

/// ClickHouse on a random database, so tests sharing the server do not meet.
fn clickhouse(url: &str) -> Store {
    let db = format!("inquest_cli_{}", uuid::Uuid::new_v4().simple());
    Store {
        env: vec![("INQUEST_CLICKHOUSE_URL".into(), url.into()), ("INQUEST_CLICKHOUSE_DATABASE".into(), db)],
        line: format!("metrics:  clickhouse {url}: ok"),
    }
}

fn neo4j_from_env() -> Option<Store> {
    let url = std::env::var("INQUEST_TEST_NEO4J_URL").ok().filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!("skipping the real neo4j: INQUEST_TEST_NEO4J_URL is not set (no Neo4j server can be installed here)");
        return None;
    };
    let mut env = vec![("INQUEST_NEO4J_URL".to_string(), url.clone())];
    for (from, to) in
        [("INQUEST_TEST_NEO4J_USER", "INQUEST_NEO4J_USER"), ("INQUEST_TEST_NEO4J_PASSWORD", "INQUEST_NEO4J_PASSWORD")]
    {
        if let Ok(v) = std::env::var(from) {
            env.push((to.into(), v));
        }
    }
    Some(Store { env, line: "topology: neo4j".into() })
}

fn qdrant_from_env() -> Option<Store> {
    let url = std::env::var("INQUEST_TEST_QDRANT_URL").ok().filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!(
            "skipping the real qdrant: INQUEST_TEST_QDRANT_URL is not set (no Qdrant server can be installed here)"
        );
        return None;
    };
    let mut env = vec![("INQUEST_QDRANT_URL".to_string(), url.clone())];
    if let Ok(key) = std::env::var("INQUEST_TEST_QDRANT_API_KEY") {
        env.push(("INQUEST_QDRANT_API_KEY".into(), key));
    }
    Some(Store { env, line: "semantic: qdrant".into() })
}

fn run(dir: &std::path::Path, stores: &[&Store], args: &[&str]) -> (bool, String) {
    let env: Vec<(&str, &str)> =
        stores.iter().flat_map(|s| s.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).collect();
    let out = inquest(dir, &env, args);
    (out.status.success(), text(&out))
}

/// `migrate` (twice: it is idempotent) then `doctor` succeed, and doctor shows each store.
fn migrate_then_doctor_pass(stores: &[&Store]) {
    let dir = tempfile::tempdir().expect("temp dir");
    for _ in 0..2 {
        let (ok, t) = run(dir.path(), stores, &["migrate"]);
        assert!(ok, "migrate: {t}");
        assert!(!t.contains("already open"), "{t}");
    }
    let (ok, t) = run(dir.path(), stores, &["doctor"]);
    assert!(ok, "doctor: {t}");
    for s in stores {
        assert!(t.contains(&s.line), "doctor must show `{}`: {t}", s.line);
    }
    assert!(t.contains("all stores ok"), "{t}");
}

#[tokio::test]
async fn postgres_alone_migrates_and_passes_doctor_with_the_intake_on_it() {
    let Some(admin) = server_url("postgres_alone_migrates_and_passes_doctor_with_the_intake_on_it") else { return };
    let db = FreshDb::create(&admin).await;
    let pg = postgres(&db).await;
    migrate_then_doctor_pass(&[&pg]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, t) = run(dir.path(), &[&pg], &["doctor"]);
    assert!(t.contains("intake:   postgres") && t.contains("metrics:  embedded"), "{t}");
    // The intake shares the records' database: no intake file is made.
    assert!(!dir.path().join(".inquest/ingest.redb").exists());
}

#[test]
fn clickhouse_alone_migrates_and_passes_doctor() {
    let Some(url) = require_env("INQUEST_TEST_CLICKHOUSE_URL") else { return };
    migrate_then_doctor_pass(&[&clickhouse(&url)]);
}

#[test]
fn neo4j_alone_migrates_and_passes_doctor() {
    let Some(neo4j) = neo4j_from_env() else { return };
    migrate_then_doctor_pass(&[&neo4j]);
}

#[test]
fn qdrant_alone_migrates_and_passes_doctor() {
    let Some(qdrant) = qdrant_from_env() else { return };
    migrate_then_doctor_pass(&[&qdrant]);
}

#[tokio::test]
async fn every_available_store_together_migrates_and_passes_doctor() {
    let Some(admin) = server_url("every_available_store_together_migrates_and_passes_doctor") else { return };
    let db = FreshDb::create(&admin).await;
    let mut stores = vec![postgres(&db).await];
    stores.extend(require_env("INQUEST_TEST_CLICKHOUSE_URL").map(|u| clickhouse(&u)));
    stores.extend(neo4j_from_env());
    stores.extend(qdrant_from_env());
    migrate_then_doctor_pass(&stores.iter().collect::<Vec<_>>());
}

/// With `store` unreachable and the other ports embedded: migrate fails naming the
/// store (not the embedded file's lock), doctor reports it and exits non-zero.
fn unreachable_is_named(var: &str, url: &str, migrate_says: &str, doctor_says: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [(var, url)];
    let out = inquest(dir.path(), &env, &["migrate"]);
    let t = text(&out);
    assert!(!out.status.success(), "migrate must fail: {t}");
    assert!(t.contains(migrate_says), "migrate must name the store ({migrate_says}): {t}");
    assert!(!t.contains("already open") && !t.contains("lock"), "{t}");
    // The embedded ports were migrated before the server was reached.
    assert!(t.contains("embedded store") && t.contains("schema version"), "{t}");

    let out = inquest(dir.path(), &env, &["doctor"]);
    let t = text(&out);
    assert!(!out.status.success(), "doctor must fail: {t}");
    assert!(t.contains(doctor_says) && t.contains("  problem: ") && t.contains("  fix: "), "{t}");
    assert!(t.contains("records:  embedded") && t.contains("some stores need attention"), "{t}");
}

#[test]
fn an_unreachable_qdrant_is_named_by_migrate_and_doctor() {
    unreachable_is_named(
        "INQUEST_QDRANT_URL",
        NOWHERE_HTTP,
        "qdrant at http://127.0.0.1:1",
        "semantic: qdrant http://127.0.0.1:1\n",
    );
}

#[test]
fn an_unreachable_neo4j_is_named_by_migrate_and_doctor() {
    unreachable_is_named(
        "INQUEST_NEO4J_URL",
        NOWHERE_BOLT,
        "neo4j at bolt://127.0.0.1:1",
        "topology: neo4j bolt://127.0.0.1:1\n",
    );
}

#[test]
fn an_unreachable_clickhouse_is_named_by_migrate_and_doctor() {
    unreachable_is_named(
        "INQUEST_CLICKHOUSE_URL",
        NOWHERE_HTTP,
        "clickhouse at http://127.0.0.1:1",
        "metrics:  clickhouse http://127.0.0.1:1\n",
    );
}

#[tokio::test]
async fn unreachable_graph_and_vector_servers_beside_a_real_postgres() {
    let Some(admin) = server_url("unreachable_graph_and_vector_servers_beside_a_real_postgres") else { return };
    let db = FreshDb::create(&admin).await;
    let pg = postgres(&db).await;
    let nowhere = Store {
        env: vec![
            ("INQUEST_NEO4J_URL".into(), NOWHERE_BOLT.into()),
            ("INQUEST_QDRANT_URL".into(), NOWHERE_HTTP.into()),
        ],
        line: String::new(),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, t) = run(dir.path(), &[&pg, &nowhere], &["migrate"]);
    assert!(!ok, "{t}");
    assert!(t.contains("migration(s) applied") && t.contains("neo4j at bolt://127.0.0.1:1"), "{t}");
    let (ok, t) = run(dir.path(), &[&pg, &nowhere], &["doctor"]);
    assert!(!ok, "{t}");
    let applied = format!("schema: {} migrations applied", inquest_store_postgres::MIGRATIONS.len());
    assert!(t.contains(&applied) && t.contains("intake:   postgres"), "{t}");
    assert!(
        t.contains("topology: neo4j bolt://127.0.0.1:1\n") && t.contains("semantic: qdrant http://127.0.0.1:1\n"),
        "{t}"
    );
    assert!(t.contains("metrics:  embedded") && !t.contains("records:  embedded"), "{t}");
}

#[test]
fn an_unknown_llm_key_is_refused_and_the_api_key_never_prints() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.toml"), "[llm]\nmodle = \"smollm2\"\n").expect("write");
    let out = inquest(dir.path(), &[("INQUEST_LLM_API_KEY", "sk-never-shown")], &["--config", "c.toml", "doctor"]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("modle"), "{t}");
    assert!(!t.contains("sk-never-shown"), "{t}");

    let env = [("INQUEST_LLM_API_KEY", "sk-never-shown"), ("INQUEST_LLM_TEMPERATURE", "warm")];
    let out = inquest(dir.path(), &env, &["doctor"]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("llm.temperature"), "{t}");
    assert!(!t.contains("sk-never-shown"), "{t}");

    // The variables in use still load.
    let env = [("INQUEST_LLM_API_KEY", "sk-never-shown"), ("INQUEST_LLM_BASE_URL", NOWHERE_HTTP)];
    let out = inquest(dir.path(), &env, &["doctor"]);
    assert!(out.status.success(), "{}", text(&out));
}
