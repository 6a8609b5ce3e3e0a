//! `inquest ingest`: serve the alert intake routes and run investigation workers
//! on the embedded stores (`<data dir>/inquest.redb` for records,
//! `<data dir>/ingest.redb` for alerts, incident lifecycle and jobs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use inquest_core::InvestigationConfig;
use inquest_ingest::{CoreInvestigator, Ingest, Policy, RedbIngestStore, WorkerConfig, http, run_records_sync, run_worker};
use inquest_store_embedded::EmbeddedStore;
use tokio::sync::watch;

pub struct IngestArgs {
    pub bind: SocketAddr,
    pub workers: usize,
    pub policy: Option<PathBuf>,
    pub lease_seconds: u32,
    pub max_attempts: u32,
}

pub async fn run(data_dir: &Path, args: IngestArgs) -> Result<()> {
    if !args.bind.ip().is_loopback() && std::env::var("INQUEST_ALLOW_PUBLIC_BIND").is_err() {
        bail!("refusing to bind {} (not loopback); set INQUEST_ALLOW_PUBLIC_BIND=1 to allow it", args.bind);
    }
    if std::env::var_os("INQUEST_POSTGRES_URL").is_some() {
        tracing::warn!("INQUEST_POSTGRES_URL is set, but the intake has no Postgres adapter yet: using the embedded stores");
        eprintln!("warning: the intake has no Postgres adapter yet; alerts and jobs use {}", data_dir.join("ingest.redb").display());
    }
    let policy = match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::default_policy(),
    };
    let records_path = data_dir.join("inquest.redb");
    let records = EmbeddedStore::open(&records_path)
        .with_context(|| format!("opening the embedded store at {}", records_path.display()))?;
    let stores = records.stores();
    let ingest_path = data_dir.join("ingest.redb");
    let store = RedbIngestStore::open(&ingest_path)
        .with_context(|| format!("opening the ingest store at {}", ingest_path.display()))?;
    let ingest = Arc::new(Ingest::new(Arc::new(store), stores.records.clone(), policy));
    // Incidents stored before a crash but not yet written to the records store.
    let synced = ingest.sync_records().await?;
    let listener = tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let investigator = Arc::new(CoreInvestigator { stores, config: InvestigationConfig::default() });
    let mut tasks = Vec::new();
    let pid = std::process::id();
    for n in 0..args.workers {
        let mut cfg = WorkerConfig::new(format!("{pid}-{n}-{}", uuid::Uuid::new_v4().simple()));
        cfg.lease = chrono::Duration::seconds(i64::from(args.lease_seconds));
        cfg.max_attempts = args.max_attempts;
        tasks.push(tokio::spawn(run_worker(ingest.clone(), investigator.clone(), cfg, stop_rx.clone())));
    }
    tasks.push(tokio::spawn(run_records_sync(ingest.clone(), std::time::Duration::from_secs(2), stop_rx.clone())));
    println!(
        "inquest ingest listening on http://{addr} (policy {}, {} workers, {} incidents re-synced)",
        ingest.policy.version, args.workers, synced
    );
    let app = http::routes(ingest.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
