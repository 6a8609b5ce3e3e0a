//! The notification store's own `redb` file (`<data dir>/notify.redb`), when no Postgres
//! is configured: notification channels and their queued, sent and failed deliveries.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_ops::channels::NotifyStore;
use inquest_store_embedded::EmbeddedNotifyStore;

use super::{Backend, Context, Parts, Port, plain};

pub struct NotifyFile;

pub fn notify_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("notify.redb")
}

fn open(settings: &Settings) -> Result<EmbeddedNotifyStore> {
    let path = notify_path(settings);
    EmbeddedNotifyStore::open(&path).with_context(|| format!("opening the notification store at {}", path.display()))
}

#[async_trait]
impl Backend for NotifyFile {
    fn name(&self) -> &'static str {
        "notify file"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![Port::Notify] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        parts.notify = Some(Arc::new(open(cx.settings)?));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = notify_path(cx.settings);
        let label = Port::Notify.label();
        let result = match EmbeddedNotifyStore::open(&path) {
            Ok(store) => store.check_connectivity().await.and_then(|()| store.schema_version()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                println!("{label}embedded {} (schema version {v}): ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, "the notification store"));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
                false
            }
        }
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let store = open(cx.settings)?;
        println!(
            "notification store {} is at schema version {}",
            notify_path(cx.settings).display(),
            store.schema_version()?
        );
        Ok(())
    }
}
