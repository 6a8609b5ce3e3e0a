//! PostgreSQL: the records port, and the intake's, access, SLO, ticket and on-call tables on
//! the same database and pool, when `postgres.url` is set.

use std::time::Instant;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::{ServiceUrl, Settings};
use inquest_intake::IngestStore;
use inquest_store_postgres::{MigrationState, PostgresStore};

use super::{Backend, Context, Parts, Port, plain};

pub struct Postgres;

fn url(settings: &Settings) -> ServiceUrl {
    settings.postgres.url.clone().unwrap_or_else(|| ServiceUrl::new(""))
}

/// The URL `inquest migrate` connects with (shown redacted).
fn owner_url(settings: &Settings) -> ServiceUrl {
    settings.postgres.owner_url.clone().unwrap_or_else(|| url(settings))
}

#[async_trait]
impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_some() {
            vec![Port::Records, Port::Intake, Port::Access, Port::Ops, Port::Tickets, Port::Oncall, Port::Notify]
        } else {
            Vec::new()
        }
    }

    async fn build(&self, cx: &mut Context<'_>, ports: &[Port], parts: &mut Parts) -> Result<()> {
        let store = cx.postgres().with_context(|| format!("postgres at {}", url(cx.settings)))?;
        if ports.contains(&Port::Access) {
            parts.access = Some(std::sync::Arc::new(store.access()));
        }
        if ports.contains(&Port::Ops) {
            parts.ops = Some(std::sync::Arc::new(store.ops()));
        }
        if ports.contains(&Port::Tickets) {
            parts.tickets = Some(std::sync::Arc::new(store.tickets()));
        }
        if ports.contains(&Port::Oncall) {
            parts.oncall = Some(std::sync::Arc::new(store.oncall()));
        }
        if ports.contains(&Port::Notify) {
            parts.notify = Some(std::sync::Arc::new(store.notify()));
        }
        if ports.contains(&Port::Records) {
            parts.records = Some(std::sync::Arc::new(store));
        }
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, ports: &[Port]) -> bool {
        let url = url(cx.settings);
        println!("{}postgres {url}", Port::Records.label());
        let target = format!("postgres at {url}");
        let store = match cx.postgres() {
            Ok(s) => s,
            Err(e) => {
                println!("  problem: {}", plain(&e, &target));
                return false;
            }
        };
        let mut ok = check_records(&store, &target).await;
        if ports.contains(&Port::Access) {
            match inquest_ports::AccessStore::check_connectivity(&store.access()).await {
                Ok(()) => println!("{}postgres {url}: ok", Port::Access.label()),
                Err(e) => {
                    println!("{}postgres {url}: {}", Port::Access.label(), plain(&e, &target));
                    ok = false;
                }
            }
        }
        if ports.contains(&Port::Ops) {
            match inquest_ops::OpsStore::check_connectivity(&store.ops()).await {
                Ok(()) => println!("{}postgres {url}: ok", Port::Ops.label()),
                Err(e) => {
                    println!("{}postgres {url}: {}", Port::Ops.label(), plain(&e, &target));
                    ok = false;
                }
            }
        }
        if ports.contains(&Port::Tickets) {
            match inquest_ops::tickets::TicketStore::check_connectivity(&store.tickets()).await {
                Ok(()) => println!("{}postgres {url}: ok", Port::Tickets.label()),
                Err(e) => {
                    println!("{}postgres {url}: {}", Port::Tickets.label(), plain(&e, &target));
                    ok = false;
                }
            }
        }
        if ports.contains(&Port::Oncall) {
            match inquest_ops::oncall::OncallStore::check_connectivity(&store.oncall()).await {
                Ok(()) => println!("{}postgres {url}: ok", Port::Oncall.label()),
                Err(e) => {
                    println!("{}postgres {url}: {}", Port::Oncall.label(), plain(&e, &target));
                    ok = false;
                }
            }
        }
        if ports.contains(&Port::Notify) {
            match inquest_ops::channels::NotifyStore::check_connectivity(&store.notify()).await {
                Ok(()) => println!("{}postgres {url}: ok", Port::Notify.label()),
                Err(e) => {
                    println!("{}postgres {url}: {}", Port::Notify.label(), plain(&e, &target));
                    ok = false;
                }
            }
        }
        if !ports.contains(&Port::Intake) {
            return ok;
        }
        let intake = store.intake();
        match intake.check_connectivity().await {
            Ok(()) => {
                println!("{}postgres {url}: ok", Port::Intake.label());
                ok
            }
            Err(e) => {
                println!("{}postgres {url}: {e}", Port::Intake.label());
                false
            }
        }
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let url = owner_url(cx.settings);
        // The intake's and access tables are migrations of the same folder: one run covers all.
        let store = cx.postgres_owner().with_context(|| format!("postgres at {url}"))?;
        let started = Instant::now();
        let applied = store.migrate().await.with_context(|| format!("migrating postgres at {url}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if applied.is_empty() {
            println!("postgres {url}: schema up to date ({ms:.0} ms)");
        } else {
            for m in &applied {
                println!("postgres {url}: applied {:04} {}", m.version, m.name);
            }
            println!("postgres {url}: {} migration(s) applied in {ms:.0} ms", applied.len());
        }
        Ok(())
    }
}

/// `inquest migrate --to N`: only the Postgres schema is versioned, so only it moves;
/// down drops what the reverted files created (see `schemas/postgres/down`).
pub async fn migrate_to(settings: &Settings, target: i64) -> Result<()> {
    if settings.postgres.url.is_none() {
        anyhow::bail!(
            "`inquest migrate --to` needs postgres.url (INQUEST_POSTGRES_URL): only that schema has versions"
        );
    }
    let url = owner_url(settings);
    let mut cx = Context::new(settings);
    let store = cx.postgres_owner().with_context(|| format!("postgres at {url}"))?;
    let started = Instant::now();
    let outcome = store.migrate_to(target).await.with_context(|| format!("migrating postgres at {url} to {target}"))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    for m in &outcome.applied {
        println!("postgres {url}: applied {:04} {}", m.version, m.name);
    }
    for m in &outcome.reverted {
        println!("postgres {url}: reverted {:04} {}", m.version, m.name);
    }
    println!("postgres {url}: at version {target} ({ms:.0} ms)");
    Ok(())
}

/// Connection and schema state of the records database.
async fn check_records(store: &PostgresStore, target: &str) -> bool {
    if let Err(e) = inquest_ports::RecordStore::check_connectivity(store).await {
        println!("  problem: {}", plain(&e, target));
        println!(
            "  fix: start the server, or correct INQUEST_POSTGRES_URL / [postgres] url (host, port, user, database)"
        );
        return false;
    }
    println!("  connection: ok");
    let status = match store.migration_status().await {
        Ok(s) => s,
        Err(e) => {
            println!("  problem: cannot read the schema state: {}", plain(&e, target));
            return false;
        }
    };
    let mut ok = true;
    let pending: Vec<_> = status.iter().filter(|m| m.state == MigrationState::Pending).collect();
    if !pending.is_empty() {
        ok = false;
        println!("  problem: the schema is not applied ({} of {} migrations pending)", pending.len(), status.len());
        println!("  fix: run `inquest migrate`");
    }
    for m in &status {
        match &m.state {
            MigrationState::Changed { .. } => {
                ok = false;
                println!(
                    "  problem: migration {:04} {} was changed after it was applied; restore the file or add a new migration",
                    m.version, m.name
                );
            }
            MigrationState::Unknown { name } => {
                ok = false;
                println!(
                    "  problem: the database has migration {} ({name}) that this build does not know: upgrade inquest",
                    m.version
                );
            }
            _ => {}
        }
    }
    if ok {
        println!("  schema: {} migrations applied", status.len());
    }
    // A warning, not a failure: the stores name the project in every statement too.
    match store.rls_bypass().await {
        Ok(None) => println!("  row-level security: applies to this role"),
        Ok(Some((role, reason))) => {
            println!("  warning: row-level security is bypassed by role {role} ({reason})");
            println!(
                "  fix: connect as a login role that is a member of inquest_app, and set postgres.owner_url \
                 (INQUEST_POSTGRES_OWNER_URL) to the owner for `inquest migrate`"
            );
        }
        Err(e) => println!("  problem: cannot read the role's attributes: {}", plain(&e, target)),
    }
    ok
}
