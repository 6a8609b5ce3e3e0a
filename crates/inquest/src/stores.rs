//! Which implementation serves each port, chosen from the settings: a real server
//! where its URL is set, the embedded store otherwise. Also `migrate` and `doctor`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use inquest_config::{PostgresSettings, ServiceUrl, Settings};
use inquest_ports::{
    ErrorKind, HashEmbedder, MetricStore, RecordStore, SemanticStore, StoreError, Stores, TopologyStore,
};
use inquest_store_clickhouse::ClickHouseStore;
use inquest_store_embedded::EmbeddedStore;
use inquest_store_neo4j::Neo4jStore;
use inquest_store_postgres::{MigrationState, PoolSettings, PostgresStore};
use inquest_store_qdrant::QdrantStore;

/// Defaults, then the config file, then `INQUEST_*`; `--data-dir` (or
/// `INQUEST_DATA_DIR`) given on the command line wins.
pub fn load_settings(config: Option<&Path>, data_dir: Option<PathBuf>) -> Result<Settings> {
    let mut settings = Settings::load(config).context("loading settings")?;
    if let Some(dir) = data_dir {
        settings.data_dir = dir;
    }
    Ok(settings)
}

pub fn embedded_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("inquest.redb")
}

/// The embedded store, opened once and only if some port uses it.
struct Embedded<'a> {
    settings: &'a Settings,
    store: Option<Arc<EmbeddedStore>>,
}

impl Embedded<'_> {
    fn get(&mut self) -> Result<Arc<EmbeddedStore>> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let path = embedded_path(self.settings);
        let store = Arc::new(
            EmbeddedStore::open(&path).with_context(|| format!("opening the embedded store at {}", path.display()))?,
        );
        self.store = Some(store.clone());
        Ok(store)
    }
}

pub(crate) fn pool_settings(p: &PostgresSettings) -> PoolSettings {
    PoolSettings {
        max_size: p.pool_max_size,
        connect_timeout: Duration::from_secs(p.connect_timeout_secs),
        wait_timeout: Duration::from_secs(p.wait_timeout_secs),
        statement_timeout: Duration::from_secs(p.statement_timeout_secs),
    }
}

/// The ClickHouse URL with the configured user and password, when the URL has none.
fn clickhouse(settings: &Settings) -> Result<ClickHouseStore> {
    let c = &settings.clickhouse;
    let url = c.url.as_ref().map(|u| u.expose().to_string()).unwrap_or_default();
    let url = match (&c.user, url.split_once("://")) {
        (Some(user), Some((scheme, rest))) if !rest.contains('@') => {
            let password = c.password.as_ref().map(|p| format!(":{}", p.expose())).unwrap_or_default();
            format!("{scheme}://{user}{password}@{rest}")
        }
        _ => url,
    };
    let database = c.database.clone().unwrap_or_else(|| "inquest".to_string());
    ClickHouseStore::new(&url, &database).map_err(|e| anyhow::anyhow!("clickhouse: {e}"))
}

async fn neo4j(settings: &Settings) -> std::result::Result<Neo4jStore, StoreError> {
    let n = &settings.neo4j;
    let url = n.url.as_ref().map(|u| u.expose().to_string()).unwrap_or_default();
    let user = n.user.clone().unwrap_or_else(|| "neo4j".to_string());
    let password = n.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
    Neo4jStore::connect(&url, &user, &password).await
}

fn postgres(url: &ServiceUrl, p: &PostgresSettings) -> Result<PostgresStore> {
    PostgresStore::connect(url.expose(), &pool_settings(p)).with_context(|| format!("postgres at {url}"))
}

/// One implementation per port. The metrics, topology and semantic adapters are
/// chosen here the same way as records once their crates are in.
pub async fn build_stores(settings: &Settings) -> Result<Stores> {
    Ok(build_stores_and_postgres(settings).await?.0)
}

/// `build_stores`, and the records store when it is on Postgres (the intake shares its pool).
pub async fn build_stores_and_postgres(settings: &Settings) -> Result<(Stores, Option<PostgresStore>)> {
    let mut embedded = Embedded { settings, store: None };
    let mut pg = None;
    let records: Arc<dyn RecordStore> = match &settings.postgres.url {
        Some(url) => {
            let store = postgres(url, &settings.postgres)?;
            pg = Some(store.clone());
            Arc::new(store)
        }
        None => embedded.get()?,
    };
    let metrics: Arc<dyn MetricStore> = match &settings.clickhouse.url {
        Some(_) => Arc::new(clickhouse(settings)?),
        None => embedded.get()?,
    };
    let topology: Arc<dyn TopologyStore> = match &settings.neo4j.url {
        // A Neo4j that is down at start-up still lets investigations run: every
        // topology call then reports the connection error as an evidence gap.
        Some(url) => match neo4j(settings).await {
            Ok(store) => Arc::new(store),
            Err(e) => {
                tracing::warn!(store = "neo4j", url = %url, error = %e, "topology store unreachable; investigations will record a gap");
                Arc::new(inquest_ports::DownTopology(e))
            }
        },
        None => embedded.get()?,
    };
    let semantic: Arc<dyn SemanticStore> = match &settings.qdrant.url {
        Some(url) => Arc::new(
            QdrantStore::new(url.expose(), settings.qdrant.api_key.as_ref().map(|k| k.expose().to_string()))
                .with_context(|| format!("qdrant at {url}"))?,
        ),
        None => embedded.get()?,
    };
    let stores = Stores { records, metrics, topology, semantic, embedder: Arc::new(HashEmbedder::default()) };
    Ok((crate::writers::with_embedder(stores).await, pg))
}

/// Applies the schema of every configured store.
pub async fn migrate(settings: &Settings) -> Result<()> {
    let path = embedded_path(settings);
    let store =
        EmbeddedStore::open(&path).with_context(|| format!("opening the embedded store at {}", path.display()))?;
    println!("embedded store {} is at schema version {}", path.display(), store.schema_version()?);
    if let Some(url) = &settings.postgres.url {
        let pg = postgres(url, &settings.postgres)?;
        let started = Instant::now();
        let applied = pg.migrate().await.with_context(|| format!("migrating postgres at {url}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if applied.is_empty() {
            println!("postgres {url}: schema up to date ({ms:.0} ms)");
        } else {
            for m in &applied {
                println!("postgres {url}: applied {:04} {}", m.version, m.name);
            }
            println!("postgres {url}: {} migration(s) applied in {ms:.0} ms", applied.len());
        }
    }
    if let Some(url) = &settings.clickhouse.url {
        clickhouse(settings)?.migrate().await.with_context(|| format!("migrating clickhouse at {url}"))?;
        println!("clickhouse {url}: metric_points and anomaly_features up to date");
    }
    if let Some(url) = &settings.neo4j.url {
        let store = neo4j(settings).await.with_context(|| format!("connecting to neo4j at {url}"))?;
        store.migrate().await.with_context(|| format!("migrating neo4j at {url}"))?;
        println!("neo4j {url}: constraints up to date");
    }
    if let Some(url) = &settings.qdrant.url {
        let store = build_stores(settings).await?;
        for c in inquest_domain::collections::ALL {
            store
                .semantic
                .ensure_collection(c, store.embedder.dim())
                .await
                .with_context(|| format!("qdrant at {url}: collection {c}"))?;
        }
        println!(
            "qdrant {url}: collections {} ready ({} dimensions)",
            inquest_domain::collections::ALL.join(", "),
            store.embedder.dim()
        );
    }
    Ok(())
}

/// A store error in plain words, without secrets (URLs are shown redacted).
fn plain(e: &StoreError, target: &str) -> String {
    match e.kind {
        ErrorKind::Unavailable => format!("cannot use {target}: {}", e.message),
        ErrorKind::Timeout => format!("{target} did not answer in time: {}", e.message),
        ErrorKind::InvalidInput => format!("{target} refused the settings or request: {}", e.message),
        ErrorKind::NotFound => format!("{target}: not found: {}", e.message),
        ErrorKind::Internal => format!("{target} failed: {}", e.message),
    }
}

/// Checks every port's store; prints one block per port. Returns whether all is well.
pub async fn doctor(settings: &Settings, config: Option<&Path>) -> Result<bool> {
    let mut ok = true;
    match config {
        Some(path) => println!("config file: {}", path.display()),
        None => println!("config file: none (defaults and INQUEST_* environment variables)"),
    }
    // Metrics, topology and semantic use the embedded store in this build.
    {
        let path = embedded_path(settings);
        match EmbeddedStore::open(&path) {
            Ok(store) => match store.schema_version() {
                Ok(v) => println!("embedded store: {} (schema version {v}): ok", path.display()),
                Err(e) => {
                    ok = false;
                    println!("embedded store: {}: {}", path.display(), plain(&e, "the embedded store"));
                }
            },
            Err(e) => {
                ok = false;
                println!("embedded store: {}: {}", path.display(), plain(&e, "the embedded store"));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
            }
        }
    }
    // records
    match &settings.postgres.url {
        None => println!("records:  embedded"),
        Some(url) => {
            println!("records:  postgres {url}");
            ok &= check_postgres(url, &settings.postgres).await;
        }
    }
    // metrics, topology, semantic: the real server where a URL is set.
    if settings.clickhouse.url.is_some() || settings.neo4j.url.is_some() || settings.qdrant.url.is_some() {
        match build_stores(settings).await {
            Ok(stores) => {
                for (port, backend, result) in stores.check_all().await {
                    if port == "records" {
                        continue;
                    }
                    match result {
                        Ok(()) => println!("{port}:{}{backend}: ok", " ".repeat(9 - port.len())),
                        Err(e) => {
                            ok = false;
                            println!("{port}:{}{backend}", " ".repeat(9 - port.len()));
                            println!("  problem: {}", plain(&e, backend));
                            println!("  fix: start the server or correct its URL, then run `inquest migrate`");
                        }
                    }
                }
            }
            Err(e) => {
                ok = false;
                println!("stores: cannot be built: {e:#}");
            }
        }
    } else {
        for port in ["metrics", "topology", "semantic"] {
            println!("{port}:{}embedded", " ".repeat(9 - port.len()));
        }
    }
    ok &= crate::intake::doctor(settings).await;
    println!("{}", if ok { "all stores ok" } else { "some stores need attention (see above)" });
    Ok(ok)
}

async fn check_postgres(url: &ServiceUrl, p: &PostgresSettings) -> bool {
    let target = format!("postgres at {url}");
    let store = match PostgresStore::connect(url.expose(), &pool_settings(p)) {
        Ok(s) => s,
        Err(e) => {
            println!("  problem: {}", plain(&e, &target));
            return false;
        }
    };
    if let Err(e) = store.check_connectivity().await {
        println!("  problem: {}", plain(&e, &target));
        println!(
            "  fix: start the server, or correct INQUEST_POSTGRES_URL / [postgres] url (host, port, user, database)"
        );
        return false;
    }
    println!("  connection: ok");
    let status = match store.migration_status().await {
        Ok(s) => s,
        Err(e) => {
            println!("  problem: cannot read the schema state: {}", plain(&e, &target));
            return false;
        }
    };
    let mut ok = true;
    let pending: Vec<_> = status.iter().filter(|m| m.state == MigrationState::Pending).collect();
    if !pending.is_empty() {
        ok = false;
        println!("  problem: the schema is not applied ({} of {} migrations pending)", pending.len(), status.len());
        println!("  fix: run `inquest migrate`");
    }
    for m in &status {
        match &m.state {
            MigrationState::Changed { .. } => {
                ok = false;
                println!(
                    "  problem: migration {:04} {} was changed after it was applied; restore the file or add a new migration",
                    m.version, m.name
                );
            }
            MigrationState::Unknown { name } => {
                ok = false;
                println!(
                    "  problem: the database has migration {} ({name}) that this build does not know: upgrade inquest",
                    m.version
                );
            }
            _ => {}
        }
    }
    if ok {
        println!("  schema: {} migrations applied", status.len());
    }
    ok
}
