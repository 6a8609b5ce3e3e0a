//! `inquest topology apply FILE --source NAME`: a topology document (YAML or JSON, by
//! extension, else by its first character) made the source's graph in the configured
//! stores, as `PUT /api/topology/sources/{source}` does, printing what changed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use inquest_config::Settings;
use inquest_domain::ProjectId;
use inquest_feeds::FeedError;
use inquest_feeds::topology::{self, Format, Upload};
use inquest_ports::DeliveryOutcome;

use crate::stores;

#[derive(Subcommand)]
pub enum TopologyCommand {
    /// Make a source's declared graph the file's: its nodes upserted, its edges the
    /// source's, the edges it declared before and not now removed (other sources' and
    /// traced edges stay).
    Apply {
        /// The topology document (`.yaml`, `.yml` or `.json`).
        file: PathBuf,
        /// The source's name (letters, digits, '.', '_', '-'), e.g. the catalogue it comes from.
        #[arg(long)]
        source: String,
    },
}

pub async fn run(settings: &Settings, project: &ProjectId, command: TopologyCommand) -> Result<()> {
    match command {
        TopologyCommand::Apply { file, source } => apply(settings, project, &file, &source).await,
    }
}

async fn apply(settings: &Settings, project: &ProjectId, file: &Path, source: &str) -> Result<()> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let format = Format::from_path(file).unwrap_or_else(|| Format::sniff(&body));
    let graph = topology::parse(&body, format).map_err(|e| named(file, e))?;
    topology::check_source(source).map_err(|e| named(file, e))?;
    let stores = stores::project_stores(settings, project).await?;
    let upload = Upload::prepare(&stores, source, graph, Utc::now()).await.map_err(|e| named(file, e))?;
    let applied = topology::apply(&stores, &upload).await.map_err(|e| named(file, e))?;
    let outcome = match applied.outcome {
        DeliveryOutcome::Stored => "stored",
        DeliveryOutcome::Duplicate => "duplicate (this graph was applied before)",
    };
    println!(
        "source {source}: {} node(s), {} edge(s) declared, {} edge(s) removed, {} new service(s)",
        applied.nodes, applied.edges, applied.removed, applied.services_added
    );
    println!("delivery {}: {outcome}", applied.delivery_id);
    Ok(())
}

fn named(file: &Path, e: FeedError) -> anyhow::Error {
    match e {
        FeedError::Invalid { field, message } => anyhow::anyhow!("{}: {field}: {message}", file.display()),
        FeedError::Store(e) => anyhow::Error::new(e).context("applying the topology"),
    }
}
