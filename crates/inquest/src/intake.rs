//! The alert intake of `inquest serve` and `inquest worker`: the intake store (on the
//! records' Postgres store and its pool when configured, `<data dir>/ingest.redb`
//! otherwise) behind its observed wrapper, the intake metrics on the registry of
//! the store metrics, the correlation policy, the investigation workers and the
//! background writer of incidents to the records store.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use inquest_config::Settings;
use inquest_core::{InvestigationConfig, ReportWriter};
use inquest_intake::{IngestStore, Policy, ResponsePolicy};
use inquest_intake_service::{
    CoreInvestigator, Ingest, Metrics, Responder, WorkerConfig, run_records_sync, run_worker,
};
use inquest_ops::notify::Notifier;
use inquest_store_embedded::EmbeddedIntakeStore;
use inquest_store_postgres::PostgresStore;
use inquest_telemetry::ObservedIntake;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::stores::Built;

/// The running intake: its service (for the HTTP routes) and its background tasks.
pub struct Intake {
    pub ingest: Arc<Ingest>,
    /// The `[investigation]` settings its workers investigate with (the API uses the same).
    pub config: InvestigationConfig,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Intake {
    /// The workers take no new job and the records writer makes its last write.
    pub fn stop_taking_work(&self) {
        let _ = self.stop.send(true);
    }

    /// Stop taking work and wait until `deadline` for the jobs in flight and the last
    /// records write; false when some were still running then (a job left so is
    /// taken over by another worker once its lease expires).
    pub async fn stop(self, deadline: tokio::time::Instant) -> bool {
        self.stop_taking_work();
        let drained = async {
            for t in self.tasks {
                let _ = t.await;
            }
        };
        tokio::time::timeout_at(deadline, drained).await.is_ok()
    }
}

/// The intake store: on the records' Postgres store and its pool when one is
/// configured (shared by every `inquest` process on that database), the embedded
/// intake file otherwise.
pub fn intake_store(settings: &Settings, records: Option<&PostgresStore>) -> Result<Arc<dyn IngestStore>> {
    if let Some(records) = records {
        return Ok(Arc::new(records.intake()));
    }
    let path = crate::stores::intake_path(settings);
    let store =
        EmbeddedIntakeStore::open(&path).with_context(|| format!("opening the intake store at {}", path.display()))?;
    Ok(Arc::new(store))
}

pub fn policy(settings: &Settings) -> Result<Policy> {
    match &settings.intake.policy_file {
        Some(path) => Policy::load(path).with_context(|| format!("intake.policy_file {}", path.display())),
        None => Ok(Policy::default_policy()),
    }
}

pub fn response_policy(settings: &Settings) -> Result<ResponsePolicy> {
    match &settings.intake.response_policy_file {
        Some(path) => {
            ResponsePolicy::load(path).with_context(|| format!("intake.response_policy_file {}", path.display()))
        }
        None => Ok(ResponsePolicy::default_policy()),
    }
}

/// Open the intake store (on the pool of the records' Postgres store, when there is
/// one) behind its wrapper, re-send incidents a crash left unwritten, and start the
/// workers and the records writer. The intake metrics join `built.registry`, so
/// `/metrics` renders them with every store call.
pub async fn start(
    settings: &Settings,
    built: &Built,
    writer: Arc<dyn ReportWriter>,
    notifier: Arc<dyn Notifier>,
) -> Result<Intake> {
    let policy = policy(settings)?;
    let response = response_policy(settings)?;
    let store = intake_store(settings, built.postgres.as_ref())?;
    let store = Arc::new(ObservedIntake::new(store, &built.store_metrics, built.timeouts.intake));
    let metrics = Metrics::with_registry(&built.registry).context("registering the intake metrics")?;
    let stores = &built.stores;
    let ingest = Arc::new(
        Ingest::with_metrics(store, stores.records.clone(), policy, Arc::new(metrics))
            .with_responder(Responder { policy: response, notifier }),
    );
    // A records store that is down must not keep the intake from taking alerts:
    // the outbox keeps the incidents and the background writer retries.
    match ingest.sync_all_records().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(incidents = n, "incidents written to the records store after a restart"),
        Err(e) => tracing::warn!(error = %e, "records store unavailable; incidents stay in the intake outbox"),
    }
    let (stop, stop_rx) = watch::channel(false);
    let i = &settings.intake;
    let config = crate::investigation::config(settings)?;
    let investigator = Arc::new(CoreInvestigator { stores: stores.clone(), writer, config: config.clone() });
    let mut tasks = Vec::new();
    let pid = std::process::id();
    for n in 0..i.workers {
        let mut cfg = WorkerConfig::new(format!("{pid}-{n}-{}", uuid::Uuid::new_v4().simple()));
        cfg.lease = chrono::Duration::seconds(i64::try_from(i.lease_secs).unwrap_or(i64::MAX).max(1));
        cfg.max_attempts = i.max_attempts.max(1);
        cfg.backoff_base = chrono::Duration::seconds(i64::try_from(i.backoff_base_secs).unwrap_or(i64::MAX));
        cfg.backoff_max = chrono::Duration::seconds(i64::try_from(i.backoff_max_secs).unwrap_or(i64::MAX));
        tasks.push(tokio::spawn(run_worker(ingest.clone(), investigator.clone(), cfg, stop_rx.clone())));
    }
    tasks.push(tokio::spawn(run_records_sync(ingest.clone(), Duration::from_secs(2), stop_rx)));
    let response_version = ingest.responder.as_ref().map(|r| r.policy.version.clone()).unwrap_or_default();
    tracing::info!(policy_version = %ingest.policy.version, %response_version, workers = i.workers, store = ingest.store.backend(), "intake started");
    Ok(Intake { ingest, config, stop, tasks })
}

/// `inquest doctor`'s line for the intake policy (the intake store is checked by
/// its backend in `stores::REGISTRY`).
pub async fn doctor(settings: &Settings) -> bool {
    let source =
        settings.intake.policy_file.as_ref().map_or("built-in default".to_string(), |p| p.display().to_string());
    let triage = match policy(settings) {
        Ok(p) => {
            println!("policy:   {source} ({}): ok", p.version);
            true
        }
        Err(e) => {
            println!("policy:   {e:#}");
            println!("  fix: correct the file named above (see the README for its keys)");
            false
        }
    };
    let source = settings
        .intake
        .response_policy_file
        .as_ref()
        .map_or("built-in default".to_string(), |p| p.display().to_string());
    let response = match response_policy(settings) {
        Ok(p) => {
            println!("response: {source} ({}, {} rules): ok", p.version, p.rules.len());
            true
        }
        Err(e) => {
            println!("response: {e:#}");
            println!("  fix: correct the file named above (see the README for its keys)");
            false
        }
    };
    triage && response
}
