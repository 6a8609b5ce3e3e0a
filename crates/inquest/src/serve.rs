//! `inquest serve`: the HTTP API, the dashboard and the alert intake (with its
//! investigation workers, unless `intake.workers` is 0) on the configured stores,
//! until Ctrl-C or SIGTERM; then it stops taking connections and jobs and drains
//! those in flight for at most `intake.shutdown_grace_secs`.

use std::time::Duration;

use anyhow::Result;
use inquest_config::Settings;

use crate::stores::Built;
use crate::{intake, shutdown, writers};

/// Serve on `built`: its observed stores answer the API and the dashboard, the intake
/// shares its Postgres pool (when the records are there) and its metrics registry.
pub async fn run(settings: &Settings, built: Built, bind: &str) -> Result<()> {
    let stores = built.stores.clone();
    // Resolution columns are derived from feedback: make them agree before serving.
    let fixed = inquest_core::feedback::rederive_all(&stores, chrono::Utc::now()).await?;
    if fixed > 0 {
        tracing::info!(incidents = fixed, "resolution re-derived from feedback");
    }
    let writer = writers::report_writer(settings);
    let intake = intake::start(settings, &built, writer.clone()).await?;
    let router = inquest_server::app(inquest_server::AppState::new(stores, writer, intake.ingest.clone()));
    let policy = intake.ingest.policy.version.clone();
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let served = inquest_server::serve(
        bind,
        router,
        |addr| {
            println!("dashboard: http://{addr}/");
            println!("API:       http://{addr}/api/incidents  (OpenAPI: http://{addr}/api/openapi.json)");
            println!("alerts:    http://{addr}/api/alerts, http://{addr}/api/alertmanager  (policy {policy})");
            println!("metrics:   http://{addr}/metrics");
        },
        async move {
            let _ = http_stopped.await;
        },
    );
    tokio::pin!(served);
    let grace = Duration::from_secs(settings.intake.shutdown_grace_secs);
    tokio::select! {
        // The server ended by itself (the address was taken): nothing to drain.
        r = &mut served => {
            intake.stop(tokio::time::Instant::now() + grace).await;
            return Ok(r?);
        }
        () = shutdown::signal() => {}
    }
    tracing::info!(grace_secs = grace.as_secs(), "stopping: no new connections or jobs, draining those in flight");
    let deadline = tokio::time::Instant::now() + grace;
    let _ = stop_http.send(());
    intake.stop_taking_work();
    let served = tokio::time::timeout_at(deadline, served).await;
    let drained = intake.stop(deadline).await;
    if !drained {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "jobs still running at the end of the grace period: another worker takes them over after their lease"
        );
    }
    match served {
        Ok(r) => r?,
        Err(_) => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still open at the end of the grace period were cut")
        }
    }
    tracing::info!("stopped");
    Ok(())
}
