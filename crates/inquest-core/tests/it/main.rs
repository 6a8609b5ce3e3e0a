//! Integration tests of the investigation over the embedded store and the bundled fixtures.

mod batched;
mod contention;
mod edges;
mod gaps;
mod history;
mod learn;
mod ranking;
mod service_graph;

use std::path::{Path, PathBuf};

use inquest_fixtures::{FixtureCase, load_case};
use inquest_ports::Stores;
use inquest_store_embedded::EmbeddedStore;

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

pub fn read_case(id: &str) -> FixtureCase {
    FixtureCase::read(&fixtures_dir().join(id)).expect("bundled fixture parses")
}

/// A fresh in-memory store with one case loaded.
pub async fn loaded(case: &FixtureCase) -> Stores {
    let stores = EmbeddedStore::in_memory().expect("in-memory store").stores();
    load_case(&stores, case).await.expect("fixture loads");
    stores
}

pub fn now(case: &FixtureCase) -> inquest_domain::Timestamp {
    case.batch.incidents[0].window_end
}
