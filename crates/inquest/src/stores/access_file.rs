//! The access store's own `redb` file (`<data dir>/access.redb`), when no Postgres is
//! configured: projects, users, members, tokens, sessions, integrations and the audit log.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_ports::AccessStore;
use inquest_store_embedded::EmbeddedAccessStore;

use super::{Backend, Context, Parts, Port, plain};

pub struct AccessFile;

pub fn access_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("access.redb")
}

#[async_trait]
impl Backend for AccessFile {
    fn name(&self) -> &'static str {
        "access file"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![Port::Access] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        let path = access_path(cx.settings);
        let store = EmbeddedAccessStore::open(&path)
            .with_context(|| format!("opening the access store at {}", path.display()))?;
        parts.access = Some(Arc::new(store));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = access_path(cx.settings);
        let label = Port::Access.label();
        let result = match EmbeddedAccessStore::open(&path) {
            Ok(store) => store.check_connectivity().await.and_then(|()| store.schema_version()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                println!("{label}embedded {} (schema version {v}): ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, "the access store"));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
                false
            }
        }
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let path = access_path(cx.settings);
        let store = EmbeddedAccessStore::open(&path)
            .with_context(|| format!("opening the access store at {}", path.display()))?;
        println!("access store {} is at schema version {}", path.display(), store.schema_version()?);
        Ok(())
    }
}
