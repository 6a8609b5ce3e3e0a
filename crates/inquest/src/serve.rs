//! `inquest serve`: the HTTP API, the dashboard and the alert intake (with its
//! investigation workers) on the configured stores, until Ctrl-C or SIGTERM.

use anyhow::Result;
use inquest_config::Settings;

use crate::stores::Built;
use crate::{intake, writers};

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
