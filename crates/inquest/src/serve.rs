//! `inquest serve`: the HTTP API and dashboard on the configured store.

use std::sync::Arc;

use anyhow::Result;
use inquest_ports::Stores;
use inquest_report::TemplateReport;

pub async fn run(stores: Stores, bind: &str) -> Result<()> {
    // Resolution columns are derived from feedback: make them agree before serving.
    let fixed = inquest_core::feedback::rederive_all(&stores, chrono::Utc::now()).await?;
    if fixed > 0 {
        tracing::info!(incidents = fixed, "resolution re-derived from feedback");
    }
    inquest_server::serve(bind, stores, Arc::new(TemplateReport), |addr| {
        println!("dashboard: http://{addr}/");
        println!("API:       http://{addr}/api/incidents  (OpenAPI: http://{addr}/api/openapi.json)");
    })
    .await?;
    Ok(())
}
