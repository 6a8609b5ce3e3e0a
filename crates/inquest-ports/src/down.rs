//! A topology port standing in for a store that could not be reached (a Neo4j down
//! at start-up): every call returns the connection error, which the investigation
//! records as a gap.

use async_trait::async_trait;
use inquest_domain::*;

use crate::{BlastRadius, StoreError, StoreResult, TopologyStore};

pub struct DownTopology(pub StoreError);

#[async_trait]
impl TopologyStore for DownTopology {
    fn backend(&self) -> &'static str {
        "neo4j"
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(self.0.clone())
    }
    async fn upsert_nodes(&self, _: &[TopologyNode]) -> StoreResult<()> {
        Err(self.0.clone())
    }
    async fn upsert_edges(&self, _: &[DependsOn]) -> StoreResult<()> {
        Err(self.0.clone())
    }
    async fn link_deployment(&self, _: &str, _: &DeploymentEvent, _: &[Commit]) -> StoreResult<()> {
        Err(self.0.clone())
    }
    async fn blast_radius(&self, _: &str, _: u32) -> StoreResult<BlastRadius> {
        Err(self.0.clone())
    }
    async fn commits_touching(&self, _: &[String]) -> StoreResult<Vec<(String, String)>> {
        Err(self.0.clone())
    }
}
