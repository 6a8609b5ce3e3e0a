//! ClickHouse: the metrics port, when `clickhouse.url` is set.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::{ServiceUrl, Settings};
use inquest_ports::MetricStore;
use inquest_store_clickhouse::ClickHouseStore;

use super::{Backend, Context, Parts, Port, report_server};

pub struct ClickHouse;

fn url(settings: &Settings) -> ServiceUrl {
    settings.clickhouse.url.clone().unwrap_or_else(|| ServiceUrl::new(""))
}

/// The store on the configured URL, with the configured user and password when the
/// URL has none.
fn store(settings: &Settings) -> Result<ClickHouseStore, inquest_ports::StoreError> {
    let c = &settings.clickhouse;
    let url = url(settings).expose().to_string();
    let url = match (&c.user, url.split_once("://")) {
        (Some(user), Some((scheme, rest))) if !rest.contains('@') => {
            let password = c.password.as_ref().map(|p| format!(":{}", p.expose())).unwrap_or_default();
            format!("{scheme}://{user}{password}@{rest}")
        }
        _ => url,
    };
    ClickHouseStore::new(&url, c.database.as_deref().unwrap_or("inquest"))
}

#[async_trait]
impl Backend for ClickHouse {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.clickhouse.url.is_some() { vec![Port::Metrics] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        let store = store(cx.settings).with_context(|| format!("clickhouse at {}", url(cx.settings)))?;
        parts.metrics = Some(Arc::new(store));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let url = url(cx.settings);
        let result = match store(cx.settings) {
            Ok(s) => s.check_connectivity().await,
            Err(e) => Err(e),
        };
        report_server(Port::Metrics, &format!("clickhouse {url}"), &format!("clickhouse at {url}"), result)
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let url = url(cx.settings);
        let store = store(cx.settings).with_context(|| format!("clickhouse at {url}"))?;
        store.migrate().await.with_context(|| format!("migrating clickhouse at {url}"))?;
        println!("clickhouse {url}: metric_points and anomaly_features up to date");
        Ok(())
    }
}
