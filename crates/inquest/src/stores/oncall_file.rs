//! The on-call store's own `redb` file (`<data dir>/oncall.redb`), when no Postgres is
//! configured: on-call schedules with their overrides, and incidents' assignments.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_ops::oncall::OncallStore;
use inquest_store_embedded::EmbeddedOncallStore;

use super::{Backend, Context, Parts, Port, plain};

pub struct OncallFile;

pub fn oncall_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("oncall.redb")
}

fn open(settings: &Settings) -> Result<EmbeddedOncallStore> {
    let path = oncall_path(settings);
    EmbeddedOncallStore::open(&path).with_context(|| format!("opening the on-call store at {}", path.display()))
}

#[async_trait]
impl Backend for OncallFile {
    fn name(&self) -> &'static str {
        "oncall file"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![Port::Oncall] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        parts.oncall = Some(Arc::new(open(cx.settings)?));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = oncall_path(cx.settings);
        let label = Port::Oncall.label();
        let result = match EmbeddedOncallStore::open(&path) {
            Ok(store) => store.check_connectivity().await.and_then(|()| store.schema_version()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                println!("{label}embedded {} (schema version {v}): ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, "the on-call store"));
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
            "on-call store {} is at schema version {}",
            oncall_path(cx.settings).display(),
            store.schema_version()?
        );
        Ok(())
    }
}
