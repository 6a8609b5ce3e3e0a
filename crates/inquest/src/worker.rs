//! `inquest worker`: the investigation workers and the records writer of the intake,
//! without HTTP. On Postgres any number of them share the job queue with any number of
//! `serve` processes (run those with `intake.workers = 0` to keep HTTP and
//! investigations apart). Ctrl-C or SIGTERM: no new job is taken, and the jobs in
//! flight get `intake.shutdown_grace_secs` to finish.

use std::time::Duration;

use anyhow::{Result, bail};
use inquest_config::Settings;

use crate::stores::Built;
use crate::{intake, shutdown, writers};

pub async fn run(settings: &Settings, built: Built) -> Result<()> {
    let workers = settings.intake.workers;
    if workers == 0 {
        bail!("intake.workers is 0: `inquest worker` would run no worker (set INQUEST_INTAKE_WORKERS to 1 or more)");
    }
    if built.postgres.is_none() {
        tracing::warn!(
            data_dir = %settings.data_dir.display(),
            "no postgres.url: this worker uses the embedded intake file, which belongs to one process, so it cannot \
             share the job queue with a serve process; set postgres.url to run workers apart"
        );
    }
    let writer = writers::report_writer(settings);
    let intake = intake::start(
        settings,
        &built,
        writer,
        std::sync::Arc::new(inquest_ops::channels::OutboxNotifier { store: built.notify.clone() }),
    )
    .await?;
    println!(
        "worker: {workers} investigation worker(s) on the {} intake store (policy {}); Ctrl-C or SIGTERM stops",
        intake.ingest.store.backend(),
        intake.ingest.policy.version
    );
    shutdown::signal().await;
    let grace = Duration::from_secs(settings.intake.shutdown_grace_secs);
    tracing::info!(grace_secs = grace.as_secs(), "stopping: no new jobs, draining those in flight");
    if !intake.stop(tokio::time::Instant::now() + grace).await {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "jobs still running at the end of the grace period: another worker takes them over after their lease"
        );
    }
    tracing::info!("stopped");
    Ok(())
}
