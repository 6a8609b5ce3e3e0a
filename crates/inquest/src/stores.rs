//! Which backend serves each port, chosen from the settings: a real server where its
//! URL is set, the embedded store otherwise. Every backend is one entry of
//! [`REGISTRY`] saying how it is built, checked (`inquest doctor`) and migrated
//! (`inquest migrate`); the commands loop over the registry. Every built port is
//! wrapped (`inquest_telemetry::observe`): timeouts from `[timeouts]`, and each call
//! counted, timed and traced, whatever command or route makes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use async_trait::async_trait;
use inquest_config::{PostgresSettings, Settings};
use inquest_domain::ProjectId;
use inquest_ops::OpsStore;
use inquest_ops::channels::NotifyStore;
use inquest_ops::oncall::OncallStore;
use inquest_ops::tickets::TicketStore;
use inquest_ports::{
    AccessStore, Embedder, ErrorKind, MetricStore, RecordStore, SemanticStore, StoreError, Stores, TopologyStore,
};
use inquest_store_embedded::{
    EmbeddedAccessStore, EmbeddedNotifyStore, EmbeddedOncallStore, EmbeddedOpsStore, EmbeddedStore, EmbeddedTicketStore,
};
use inquest_store_postgres::{PoolSettings, PostgresStore};
use inquest_telemetry::{StoreMetrics, Timeouts, observe};
use prometheus::Registry;

mod clickhouse;
mod embedded;
mod intake_file;
mod neo4j;
mod own_file;
mod postgres;
mod qdrant;

pub use intake_file::intake_path;
pub use postgres::migrate_to;

/// What a backend can serve: the four evidence ports, the alert intake's store, the
/// access store (projects, users, tokens, integrations, audit), the SLO and
/// invariant store, the ticket store, the on-call store and the notification store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Records,
    Metrics,
    Topology,
    Semantic,
    Intake,
    Access,
    Ops,
    Tickets,
    Oncall,
    Notify,
}

impl Port {
    pub fn name(self) -> &'static str {
        match self {
            Port::Records => "records",
            Port::Metrics => "metrics",
            Port::Topology => "topology",
            Port::Semantic => "semantic",
            Port::Intake => "intake",
            Port::Access => "access",
            Port::Ops => "ops",
            Port::Tickets => "tickets",
            Port::Oncall => "oncall",
            Port::Notify => "notify",
        }
    }

    /// `records:  ` and so on: the port's name padded so doctor's values line up.
    fn label(self) -> String {
        format!("{}:{}", self.name(), " ".repeat(9 - self.name().len()))
    }
}

/// One kind of store: which ports it serves under the settings, and how it is
/// built, checked and migrated. A backend serving no port is left alone.
#[async_trait]
pub trait Backend: Sync {
    /// How doctor and migrate name it.
    fn name(&self) -> &'static str;
    /// The ports it serves under `settings` (empty: not used).
    fn ports(&self, settings: &Settings) -> Vec<Port>;
    /// Puts its stores for `ports` into `parts` (the intake store is built by `serve`).
    async fn build(&self, cx: &mut Context<'_>, ports: &[Port], parts: &mut Parts) -> Result<()>;
    /// Prints doctor's lines (problems with a fix); false when something needs attention.
    async fn check(&self, cx: &mut Context<'_>, ports: &[Port]) -> bool;
    /// Creates or upgrades its schema (idempotent); prints what it did.
    async fn migrate(&self, cx: &mut Context<'_>, ports: &[Port]) -> Result<()>;
}

/// Every backend, in the order doctor and migrate report them.
pub const REGISTRY: [&dyn Backend; 11] = [
    &embedded::Embedded,
    &postgres::Postgres,
    &clickhouse::ClickHouse,
    &neo4j::Neo4j,
    &qdrant::Qdrant,
    &intake_file::IntakeFile,
    &own_file::OwnFile::<EmbeddedAccessStore>::NEW,
    &own_file::OwnFile::<EmbeddedOpsStore>::NEW,
    &own_file::OwnFile::<EmbeddedTicketStore>::NEW,
    &own_file::OwnFile::<EmbeddedOncallStore>::NEW,
    &own_file::OwnFile::<EmbeddedNotifyStore>::NEW,
];

/// What the backends of one command share: the embedded store and the Postgres pool,
/// each opened at most once, and the configured embedder.
pub struct Context<'a> {
    pub settings: &'a Settings,
    embedded: Option<Arc<EmbeddedStore>>,
    postgres: Option<PostgresStore>,
    embedder: Option<Arc<dyn Embedder>>,
}

impl<'a> Context<'a> {
    pub fn new(settings: &'a Settings) -> Self {
        Self { settings, embedded: None, postgres: None, embedder: None }
    }

    /// The embedded store, opened on first use (redb allows one handle per file).
    pub fn embedded(&mut self) -> Result<Arc<EmbeddedStore>, StoreError> {
        if let Some(s) = &self.embedded {
            return Ok(s.clone());
        }
        let store = Arc::new(EmbeddedStore::open(&embedded_path(self.settings))?);
        self.embedded = Some(store.clone());
        Ok(store)
    }

    /// The records' Postgres store (one pool, shared by records and the intake).
    pub fn postgres(&mut self) -> Result<PostgresStore, StoreError> {
        if let Some(s) = &self.postgres {
            return Ok(s.clone());
        }
        let url = self.settings.postgres.url.as_ref().map(|u| u.expose()).unwrap_or_default();
        let store = PostgresStore::connect(url, &pool_settings(&self.settings.postgres))?;
        self.postgres = Some(store.clone());
        Ok(store)
    }

    /// The Postgres store `inquest migrate` uses: `postgres.owner_url` (the tables'
    /// owner) when set, the records' store otherwise.
    pub fn postgres_owner(&mut self) -> Result<PostgresStore, StoreError> {
        match &self.settings.postgres.owner_url {
            Some(owner) => PostgresStore::connect(owner.expose(), &pool_settings(&self.settings.postgres)),
            None => self.postgres(),
        }
    }

    /// The configured embedder (says on stderr which one it is), loaded once.
    pub async fn embedder(&mut self) -> Arc<dyn Embedder> {
        if let Some(e) = &self.embedder {
            return e.clone();
        }
        let e = crate::writers::embedder(self.settings).await;
        self.embedder = Some(e.clone());
        e
    }
}

/// The evidence ports as the backends fill them.
#[derive(Default)]
pub struct Parts {
    pub records: Option<Arc<dyn RecordStore>>,
    pub metrics: Option<Arc<dyn MetricStore>>,
    pub topology: Option<Arc<dyn TopologyStore>>,
    pub semantic: Option<Arc<dyn SemanticStore>>,
    pub access: Option<Arc<dyn AccessStore>>,
    pub ops: Option<Arc<dyn OpsStore>>,
    pub tickets: Option<Arc<dyn TicketStore>>,
    pub oncall: Option<Arc<dyn OncallStore>>,
    pub notify: Option<Arc<dyn NotifyStore>>,
}

/// The stores of a command, and the Postgres store they were built from: the intake
/// store of `serve` uses the same pool.
pub struct Built {
    /// Every port behind its observed wrapper.
    pub stores: Stores,
    /// Projects, users, tokens, sessions, integrations and the audit log (for `serve`).
    pub access: Arc<dyn AccessStore>,
    /// SLOs and invariants (for `serve`).
    pub ops: Arc<dyn OpsStore>,
    /// Follow-up tickets (for `serve`).
    pub tickets: Arc<dyn TicketStore>,
    /// On-call schedules and assignments (for `serve`).
    pub oncall: Arc<dyn OncallStore>,
    /// Notification channels and their deliveries (for `serve`).
    pub notify: Arc<dyn NotifyStore>,
    pub postgres: Option<PostgresStore>,
    /// The registry `/metrics` renders: the store calls here, the intake's metrics
    /// join it in `serve`.
    pub registry: Registry,
    /// The store series on `registry`, for the stores built later (the intake's).
    pub store_metrics: StoreMetrics,
    pub timeouts: Timeouts,
    /// The precedent hook on `stores.records` (resolutions with a confirmed hypothesis
    /// write `incident_summaries`); `serve` connects its outcomes to the feed counters.
    pub precedents: Arc<inquest_feeds::precedent::Precedents>,
}

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

/// The per-port call timeouts of `[timeouts]`.
pub fn timeouts(settings: &Settings) -> Timeouts {
    let t = &settings.timeouts;
    Timeouts {
        records: Duration::from_secs(t.records_secs),
        metrics: Duration::from_secs(t.metrics_secs),
        topology: Duration::from_secs(t.topology_secs),
        semantic: Duration::from_secs(t.semantic_secs),
        intake: Duration::from_secs(t.intake_secs),
        embedder: Duration::from_secs(t.embedder_secs),
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

/// Each backend that serves a port under `settings`, with those ports.
fn in_use(settings: &Settings) -> Vec<(&'static dyn Backend, Vec<Port>)> {
    REGISTRY.into_iter().map(|b| (b, b.ports(settings))).filter(|(_, ports)| !ports.is_empty()).collect()
}

/// One implementation per port and the configured embedder, each behind its
/// observed wrapper, and the shared handles.
pub async fn build_stores(settings: &Settings) -> Result<Built> {
    let mut cx = Context::new(settings);
    let mut parts = Parts::default();
    for (backend, ports) in in_use(settings) {
        tracing::debug!(backend = backend.name(), ?ports, "building");
        backend.build(&mut cx, &ports, &mut parts).await?;
    }
    let missing = |port: Port| anyhow!("no backend serves the {} port", port.name());
    let stores = Stores {
        records: parts.records.ok_or_else(|| missing(Port::Records))?,
        metrics: parts.metrics.ok_or_else(|| missing(Port::Metrics))?,
        topology: parts.topology.ok_or_else(|| missing(Port::Topology))?,
        semantic: parts.semantic.ok_or_else(|| missing(Port::Semantic))?,
        embedder: cx.embedder().await,
    };
    let access = parts.access.ok_or_else(|| missing(Port::Access))?;
    let ops = parts.ops.ok_or_else(|| missing(Port::Ops))?;
    let tickets = parts.tickets.ok_or_else(|| missing(Port::Tickets))?;
    let oncall = parts.oncall.ok_or_else(|| missing(Port::Oncall))?;
    let notify = parts.notify.ok_or_else(|| missing(Port::Notify))?;
    let registry = Registry::new();
    let store_metrics = StoreMetrics::new(&registry).context("registering the store metrics")?;
    let timeouts = timeouts(settings);
    let precedents = inquest_feeds::precedent::Precedents::new();
    let stores = precedents.wrap(observe(stores, &store_metrics, timeouts));
    let ops: Arc<dyn OpsStore> = Arc::new(inquest_telemetry::ObservedOps::new(ops, &store_metrics, timeouts.records));
    Ok(Built {
        stores,
        access,
        ops,
        tickets,
        oncall,
        notify,
        postgres: cx.postgres,
        registry,
        store_metrics,
        timeouts,
        precedents,
    })
}

/// The access store alone (the access commands need no evidence port): Postgres when
/// `postgres.url` is set, else `<data dir>/access.redb`.
pub async fn build_access(settings: &Settings) -> Result<Arc<dyn AccessStore>> {
    let mut cx = Context::new(settings);
    let mut parts = Parts::default();
    for (backend, ports) in in_use(settings).into_iter().filter(|(_, p)| p.contains(&Port::Access)) {
        backend.build(&mut cx, &[Port::Access], &mut parts).await?;
        tracing::debug!(backend = backend.name(), ?ports, "built the access store");
    }
    parts.access.ok_or_else(|| anyhow!("no backend serves the access port"))
}

/// The stores of `build_stores` acting in `project`. With Postgres the project must
/// exist (a row of `projects`); the embedded store accepts any valid id.
pub async fn project_stores(settings: &Settings, project: &ProjectId) -> Result<Stores> {
    let built = build_stores(settings).await?;
    if let Some(pg) = &built.postgres
        && !pg.project_exists(project).await.context("checking the project")?
    {
        anyhow::bail!("project '{project}' does not exist in the Postgres database (a row of `projects`)");
    }
    Ok(if project == built.stores.project() { built.stores } else { built.stores.for_project(project) })
}

/// Applies the schema of every store in use; stops at the first that fails.
pub async fn migrate(settings: &Settings) -> Result<()> {
    let mut cx = Context::new(settings);
    for (backend, ports) in in_use(settings) {
        tracing::debug!(backend = backend.name(), ?ports, "migrating");
        backend.migrate(&mut cx, &ports).await?;
    }
    Ok(())
}

/// Checks every store in use; prints one block per backend. Returns whether all is well.
pub async fn doctor(settings: &Settings, config: Option<&Path>) -> Result<bool> {
    match config {
        Some(path) => println!("config file: {}", path.display()),
        None => println!("config file: none (defaults and INQUEST_* environment variables)"),
    }
    let mut ok = true;
    let mut cx = Context::new(settings);
    for (backend, ports) in in_use(settings) {
        tracing::debug!(backend = backend.name(), ?ports, "checking");
        ok &= backend.check(&mut cx, &ports).await;
    }
    Ok(ok)
}

/// A store error in plain words, without secrets (URLs are shown redacted).
fn plain(e: &StoreError, target: &str) -> String {
    match e.kind {
        ErrorKind::Unavailable => format!("cannot use {target}: {}", e.message),
        ErrorKind::Timeout => format!("{target} did not answer in time: {}", e.message),
        ErrorKind::InvalidInput => format!("{target} refused the settings or request: {}", e.message),
        ErrorKind::NotFound => format!("{target}: not found: {}", e.message),
        ErrorKind::Conflict => format!("{target}: already exists: {}", e.message),
        ErrorKind::Internal => format!("{target} failed: {}", e.message),
    }
}

/// Doctor's block for a server reached through one port: `port: backend url: ok`,
/// or the problem and the fix.
fn report_server(port: Port, shown: &str, target: &str, result: Result<(), StoreError>) -> bool {
    match result {
        Ok(()) => {
            println!("{}{shown}: ok", port.label());
            true
        }
        Err(e) => {
            println!("{}{shown}", port.label());
            println!("  problem: {}", plain(&e, target));
            println!("  fix: start the server or correct its URL, then run `inquest migrate`");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inquest_config::ServiceUrl;

    fn with(postgres: bool, clickhouse: bool, neo4j: bool, qdrant: bool) -> Settings {
        let url = |on: bool, u: &str| on.then(|| ServiceUrl::new(u));
        let mut s = Settings::default();
        s.postgres.url = url(postgres, "postgres://127.0.0.1:1/x");
        s.clickhouse.url = url(clickhouse, "http://127.0.0.1:1");
        s.neo4j.url = url(neo4j, "bolt://127.0.0.1:1");
        s.qdrant.url = url(qdrant, "http://127.0.0.1:1");
        s
    }

    #[test]
    fn the_timeouts_come_from_the_settings() {
        let mut s = Settings::default();
        assert_eq!(timeouts(&s), Timeouts::default());
        s.timeouts.topology_secs = 7;
        s.timeouts.intake_secs = 9;
        let t = timeouts(&s);
        assert_eq!(
            (t.topology, t.intake, t.records),
            (Duration::from_secs(7), Duration::from_secs(9), Duration::from_secs(60))
        );
    }

    #[test]
    fn every_port_is_served_by_exactly_one_backend_under_any_settings() {
        for bits in 0..16u8 {
            let s = with(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
            for port in [
                Port::Records,
                Port::Metrics,
                Port::Topology,
                Port::Semantic,
                Port::Intake,
                Port::Access,
                Port::Ops,
                Port::Tickets,
                Port::Oncall,
                Port::Notify,
            ] {
                let serving: Vec<_> =
                    REGISTRY.iter().filter(|b| b.ports(&s).contains(&port)).map(|b| b.name()).collect();
                assert_eq!(serving.len(), 1, "{} under {bits:04b}: {serving:?}", port.name());
            }
        }
    }

    #[test]
    fn the_embedded_store_is_used_only_by_ports_without_a_server() {
        let names = |s: &Settings| in_use(s).into_iter().map(|(b, _)| b.name()).collect::<Vec<_>>();
        assert_eq!(
            names(&with(false, false, false, false)),
            ["embedded store", "intake file", "access file", "ops file", "tickets file", "oncall file", "notify file"]
        );
        assert_eq!(names(&with(true, true, true, true)), ["postgres", "clickhouse", "neo4j", "qdrant"]);
        let s = with(false, false, false, true);
        let embedded = in_use(&s).into_iter().find(|(b, _)| b.name() == "embedded store").map(|(_, p)| p);
        assert_eq!(embedded, Some(vec![Port::Records, Port::Metrics, Port::Topology]));
    }
}
