//! A topology port standing in for a store that could not be reached (a Neo4j down
//! at start-up): every call returns the connection error, which the investigation
//! records as a gap.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::*;

use crate::{BlastRadius, SourceReplaced, StoreError, StoreResult, TopologyStore};

/// The connection error, and the project the handle acts in.
pub struct DownTopology {
    pub error: StoreError,
    pub project: ProjectId,
}

impl DownTopology {
    /// In the default project, as the wiring builds every store.
    pub fn new(error: StoreError) -> DownTopology {
        DownTopology { error, project: ProjectId::default_project() }
    }
}

#[async_trait]
impl TopologyStore for DownTopology {
    fn backend(&self) -> &'static str {
        "neo4j"
    }
    fn project(&self) -> &ProjectId {
        &self.project
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn TopologyStore> {
        Arc::new(DownTopology { error: self.error.clone(), project: project.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(self.error.clone())
    }
    async fn upsert_nodes(&self, _: &[TopologyNode]) -> StoreResult<()> {
        Err(self.error.clone())
    }
    async fn upsert_edges(&self, _: &[DependsOn]) -> StoreResult<()> {
        Err(self.error.clone())
    }
    async fn record_calls(&self, _: &[EdgeCalls]) -> StoreResult<()> {
        Err(self.error.clone())
    }
    async fn edge_calls(&self, _: &[String]) -> StoreResult<Vec<EdgeCalls>> {
        Err(self.error.clone())
    }
    async fn link_deployment(&self, _: &str, _: &DeploymentEvent, _: &[Commit]) -> StoreResult<()> {
        Err(self.error.clone())
    }
    async fn blast_radius(&self, _: &str, _: u32) -> StoreResult<BlastRadius> {
        Err(self.error.clone())
    }
    async fn commits_touching(&self, _: &[String]) -> StoreResult<Vec<(String, String)>> {
        Err(self.error.clone())
    }
    async fn replace_source(&self, _: &str, _: &[TopologyNode], _: &[DependsOn]) -> StoreResult<SourceReplaced> {
        Err(self.error.clone())
    }
}
