//! The stores that live on a `redb` file of their own under the data dir when no
//! Postgres is configured (redb allows one handle per file): access (projects, users,
//! tokens, integrations, the audit log) on `access.redb`, SLOs and invariants on
//! `ops.redb`, follow-up tickets on `tickets.redb`, on-call schedules and assignments
//! on `oncall.redb`, notification channels and their deliveries on `notify.redb`. One backend serves them all.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use inquest_config::Settings;
use inquest_ports::StoreResult;
use inquest_store_embedded::{
    EmbeddedAccessStore, EmbeddedNotifyStore, EmbeddedOncallStore, EmbeddedOpsStore, EmbeddedTicketStore,
};

use super::{Backend, Context, Parts, Port, plain};

/// A store on its own file: where it lives, how doctor names it, and the part of a
/// command's stores it fills.
#[async_trait]
pub trait OwnFileStore: Sized + Send + Sync + 'static {
    /// How doctor and migrate name the backend ("tickets file").
    const BACKEND: &'static str;
    /// The file's name in the data dir.
    const FILE: &'static str;
    /// What the store is, in messages ("ticket store").
    const WHAT: &'static str;
    const PORT: Port;
    fn open(path: &Path) -> StoreResult<Self>;
    fn schema_version(&self) -> StoreResult<u64>;
    async fn check_connectivity(&self) -> StoreResult<()>;
    /// Put the store into its slot of `parts`.
    fn install(self, parts: &mut Parts);
}

/// The backend of the store `S` on its own file.
pub struct OwnFile<S>(PhantomData<fn() -> S>);

impl<S> OwnFile<S> {
    pub const NEW: OwnFile<S> = OwnFile(PhantomData);
}

/// The file of `S` under `settings`' data dir.
pub fn path_of<S: OwnFileStore>(settings: &Settings) -> PathBuf {
    settings.data_dir.join(S::FILE)
}

fn open<S: OwnFileStore>(settings: &Settings) -> Result<S> {
    let path = path_of::<S>(settings);
    S::open(&path).with_context(|| format!("opening the {} at {}", S::WHAT, path.display()))
}

#[async_trait]
impl<S: OwnFileStore> Backend for OwnFile<S> {
    fn name(&self) -> &'static str {
        S::BACKEND
    }

    fn ports(&self, settings: &Settings) -> Vec<Port> {
        if settings.postgres.url.is_none() { vec![S::PORT] } else { Vec::new() }
    }

    async fn build(&self, cx: &mut Context<'_>, _ports: &[Port], parts: &mut Parts) -> Result<()> {
        open::<S>(cx.settings)?.install(parts);
        Ok(())
    }

    async fn check(&self, cx: &mut Context<'_>, _ports: &[Port]) -> bool {
        let path = path_of::<S>(cx.settings);
        let label = S::PORT.label();
        let result = match S::open(&path) {
            Ok(store) => store.check_connectivity().await.and_then(|()| store.schema_version()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                println!("{label}embedded {} (schema version {v}): ok", path.display());
                true
            }
            Err(e) => {
                println!("{label}embedded {}: {}", path.display(), plain(&e, &format!("the {}", S::WHAT)));
                println!(
                    "  fix: check that the folder exists and is writable, and that no other inquest holds the file"
                );
                false
            }
        }
    }

    async fn migrate(&self, cx: &mut Context<'_>, _ports: &[Port]) -> Result<()> {
        let store = open::<S>(cx.settings)?;
        let path = path_of::<S>(cx.settings);
        println!("{} {} is at schema version {}", S::WHAT, path.display(), store.schema_version()?);
        Ok(())
    }
}

#[async_trait]
impl OwnFileStore for EmbeddedAccessStore {
    const BACKEND: &'static str = "access file";
    const FILE: &'static str = "access.redb";
    const WHAT: &'static str = "access store";
    const PORT: Port = Port::Access;
    fn open(path: &Path) -> StoreResult<Self> {
        EmbeddedAccessStore::open(path)
    }
    fn schema_version(&self) -> StoreResult<u64> {
        EmbeddedAccessStore::schema_version(self)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        inquest_ports::AccessStore::check_connectivity(self).await
    }
    fn install(self, parts: &mut Parts) {
        parts.access = Some(Arc::new(self));
    }
}

#[async_trait]
impl OwnFileStore for EmbeddedOpsStore {
    const BACKEND: &'static str = "ops file";
    const FILE: &'static str = "ops.redb";
    const WHAT: &'static str = "ops store";
    const PORT: Port = Port::Ops;
    fn open(path: &Path) -> StoreResult<Self> {
        EmbeddedOpsStore::open(path)
    }
    fn schema_version(&self) -> StoreResult<u64> {
        EmbeddedOpsStore::schema_version(self)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        inquest_ops::OpsStore::check_connectivity(self).await
    }
    fn install(self, parts: &mut Parts) {
        parts.ops = Some(Arc::new(self));
    }
}

#[async_trait]
impl OwnFileStore for EmbeddedTicketStore {
    const BACKEND: &'static str = "tickets file";
    const FILE: &'static str = "tickets.redb";
    const WHAT: &'static str = "ticket store";
    const PORT: Port = Port::Tickets;
    fn open(path: &Path) -> StoreResult<Self> {
        EmbeddedTicketStore::open(path)
    }
    fn schema_version(&self) -> StoreResult<u64> {
        EmbeddedTicketStore::schema_version(self)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        inquest_ops::tickets::TicketStore::check_connectivity(self).await
    }
    fn install(self, parts: &mut Parts) {
        parts.tickets = Some(Arc::new(self));
    }
}

#[async_trait]
impl OwnFileStore for EmbeddedOncallStore {
    const BACKEND: &'static str = "oncall file";
    const FILE: &'static str = "oncall.redb";
    const WHAT: &'static str = "on-call store";
    const PORT: Port = Port::Oncall;
    fn open(path: &Path) -> StoreResult<Self> {
        EmbeddedOncallStore::open(path)
    }
    fn schema_version(&self) -> StoreResult<u64> {
        EmbeddedOncallStore::schema_version(self)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        inquest_ops::oncall::OncallStore::check_connectivity(self).await
    }
    fn install(self, parts: &mut Parts) {
        parts.oncall = Some(Arc::new(self));
    }
}

#[async_trait]
impl OwnFileStore for EmbeddedNotifyStore {
    const BACKEND: &'static str = "notify file";
    const FILE: &'static str = "notify.redb";
    const WHAT: &'static str = "notification store";
    const PORT: Port = Port::Notify;
    fn open(path: &Path) -> StoreResult<Self> {
        EmbeddedNotifyStore::open(path)
    }
    fn schema_version(&self) -> StoreResult<u64> {
        EmbeddedNotifyStore::schema_version(self)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        inquest_ops::channels::NotifyStore::check_connectivity(self).await
    }
    fn install(self, parts: &mut Parts) {
        parts.notify = Some(Arc::new(self));
    }
}
