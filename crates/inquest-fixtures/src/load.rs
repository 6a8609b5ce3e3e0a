//! Loading a converted case into the four ports.

use inquest_domain::{Commit, collections};
use inquest_ports::Stores;
use tracing::instrument;

use crate::{FixtureCase, FixtureError};

/// Rows written by one load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub services: usize,
    pub deployments: usize,
    pub config_changes: usize,
    pub commits: usize,
    pub metric_points: usize,
    pub edges: usize,
    pub documents: usize,
}

/// Points per insert: large batches, as the metrics store expects.
const POINT_BATCH: usize = 20_000;

/// Load one case into `stores`. Records go in one batch (all or nothing); the other
/// stores are idempotent upserts keyed by derived ids, so a retried load converges.
#[instrument(skip_all, fields(case = %case.id))]
pub async fn load_case(stores: &Stores, case: &FixtureCase) -> Result<LoadSummary, FixtureError> {
    let err = |source| FixtureError::Store { case: case.id.clone(), source };
    stores.records.apply_batch(&case.batch).await.map_err(err)?;
    for chunk in case.points.chunks(POINT_BATCH) {
        stores.metrics.insert_points(chunk).await.map_err(err)?;
    }
    stores.topology.upsert_nodes(&case.nodes).await.map_err(err)?;
    stores.topology.upsert_edges(&case.edges).await.map_err(err)?;
    for range in &case.batch.commit_ranges {
        let Some(dep) = case.batch.deployments.iter().find(|d| d.deployment_event_id == range.deployment_event_id)
        else {
            continue;
        };
        let Some(service) = case.batch.services.iter().find(|s| s.service_id == dep.service_id) else {
            continue;
        };
        let commits: Vec<Commit> =
            case.batch.commits.iter().filter(|c| range.commit_shas.contains(&c.commit_sha)).cloned().collect();
        stores.topology.link_deployment(&service.service_key(), dep, &commits).await.map_err(err)?;
    }

    // Every collection exists after a load, even one the case has no documents for.
    for collection in collections::ALL {
        stores.semantic.ensure_collection(collection, stores.embedder.dim()).await.map_err(err)?;
    }
    inquest_feeds::embed(stores, &case.documents).await.map_err(err)?;

    Ok(LoadSummary {
        services: case.batch.services.len(),
        deployments: case.batch.deployments.len(),
        config_changes: case.batch.config_changes.len(),
        commits: case.batch.commits.len(),
        metric_points: case.points.len(),
        edges: case.edges.len(),
        documents: case.documents.len(),
    })
}
