//! `inquest serve`: the HTTP API, the dashboard and the alert intake (with its
//! investigation workers) on the configured stores, until Ctrl-C or SIGTERM.

use anyhow::Result;
use inquest_config::Settings;
use inquest_ports::Stores;
use inquest_store_postgres::PostgresStore;

use crate::{intake, writers};

/// `postgres` is the records store when it is on Postgres: the intake shares its pool.
pub async fn run(settings: &Settings, stores: Stores, postgres: Option<PostgresStore>, bind: &str) -> Result<()> {
    // Resolution columns are derived from feedback: make them agree before serving.
    let fixed = inquest_core::feedback::rederive_all(&stores, chrono::Utc::now()).await?;
    if fixed > 0 {
        tracing::info!(incidents = fixed, "resolution re-derived from feedback");
    }
    let writer = writers::report_writer(settings);
    let intake = intake::start(settings, &stores, postgres.as_ref(), writer.clone()).await?;
    let router = inquest_server::app(inquest_server::AppState::new(stores, writer, intake.ingest.clone()));
    let policy = intake.ingest.policy.version.clone();
    let served = inquest_server::serve(
        bind,
        router,
        |addr| {
            println!("dashboard: http://{addr}/");
            println!("API:       http://{addr}/api/incidents  (OpenAPI: http://{addr}/api/openapi.json)");
            println!("alerts:    http://{addr}/api/alerts, http://{addr}/api/alertmanager  (policy {policy})");
            println!("metrics:   http://{addr}/metrics");
        },
        shutdown_signal(),
    )
    .await;
    intake.stop().await;
    served?;
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
