//! The ticket store's own `redb` file (`<data dir>/tickets.redb`), when no Postgres is
//! configured: follow-up tickets, their history and their dependencies.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_ops::tickets::TicketStore;
use inquest_store_embedded::EmbeddedTicketStore;

use super::{Backend, Context, Parts, Port, plain};

pub struct TicketsFile;

pub fn tickets_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("tickets.redb")
}

fn open(settings: &Settings) -> Result<EmbeddedTicketStore> {
    let path = tickets_path(settings);
    EmbeddedTicketStore::open(&path).with_context(|| format!("opening the ticket store at {}", path.display()))
}

#[async_trait]
impl Backend for TicketsFile {
    fn name(&self) -> &'static str {
        "tickets file"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![Port::Tickets] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        parts.tickets = Some(Arc::new(open(cx.settings)?));
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = tickets_path(cx.settings);
        let label = Port::Tickets.label();
        let result = match EmbeddedTicketStore::open(&path) {
            Ok(store) => store.check_connectivity().await.and_then(|()| store.schema_version()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                println!("{label}embedded {} (schema version {v}): ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, "the ticket store"));
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
            "ticket store {} is at schema version {}",
            tickets_path(cx.settings).display(),
            store.schema_version()?
        );
        Ok(())
    }
}
