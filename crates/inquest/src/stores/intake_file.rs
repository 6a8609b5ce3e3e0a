//! The intake's own `redb` file (`<data dir>/ingest.redb`), when no Postgres is
//! configured: redb allows one handle per file and `inquest.redb` belongs to the
//! embedded store. `inquest serve` opens it for the intake; doctor and migrate here.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_intake::IngestStore;
use inquest_store_embedded::EmbeddedIntakeStore;

use super::{Backend, Context, Parts, Port, plain};

pub struct IntakeFile;

pub fn intake_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("ingest.redb")
}

#[async_trait]
impl Backend for IntakeFile {
    fn name(&self) -> &'static str {
        "intake file"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![Port::Intake] } else { Vec::new() }
    }

    async fn build(&self, _cx: &mut Context<'_>, _ports: &[Port], _parts: &mut Parts) -> Result<()> {
        // Only `serve` runs the intake; opening the file here would hold its lock.
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = intake_path(cx.settings);
        let label = Port::Intake.label();
        let result = match EmbeddedIntakeStore::open(&path) {
            Ok(store) => store.check_connectivity().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                println!("{label}embedded {}: ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, "the intake store"));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
                false
            }
        }
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let path = intake_path(cx.settings);
        EmbeddedIntakeStore::open(&path).with_context(|| format!("opening the intake store at {}", path.display()))?;
        println!("intake store {}: ready", path.display());
        Ok(())
    }
}
