//! The topology port on Neo4j. The adapter builds Cypher statements (`cypher`)
//! and maps their rows; a small [`CypherExecutor`] runs them: [`BoltExecutor`]
//! (neo4rs, Bolt 4.x, which Neo4j 5 accepts) in production, an in-process Cypher
//! engine in tests, so the statements are exercised on a real Cypher engine even
//! where no Neo4j server can run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{Commit, DependsOn, DeploymentEvent, EdgeCalls, NodeKind, ProjectId, TopologyNode};
use inquest_ports::{BlastRadius, Direction, ErrorKind, Reach, SourceReplaced, StoreError, StoreResult, TopologyStore};
use serde_json::Value;

pub mod bolt;
pub mod cypher;

pub use bolt::BoltExecutor;
use cypher::Statement;

/// Name reported as the backend and used as evidence `source`.
pub const BACKEND: &str = "neo4j";

/// One result row: column name to value.
pub type CypherRow = BTreeMap<String, Value>;

/// Runs Cypher statements. Values cross as JSON (null, bool, integer, float,
/// string, list, map), which is all the topology statements use.
#[async_trait]
pub trait CypherExecutor: Send + Sync {
    /// Where the statements go, for messages (credentials removed).
    fn describe(&self) -> String;
    /// Run one statement and return its rows (the statement's `columns`).
    async fn query(&self, statement: &Statement) -> StoreResult<Vec<CypherRow>>;
    /// Run write statements in one transaction: all or nothing.
    async fn write(&self, statements: &[Statement]) -> StoreResult<()>;
}

/// The topology port of one project over any [`CypherExecutor`]: every statement
/// carries `$project`.
#[derive(Clone)]
pub struct Neo4jStore {
    exec: Arc<dyn CypherExecutor>,
    project: ProjectId,
}

impl std::fmt::Debug for Neo4jStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jStore").field("executor", &self.exec.describe()).field("project", &self.project).finish()
    }
}

pub(crate) fn err(kind: ErrorKind, operation: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::new(kind, BACKEND, operation, message)
}

impl Neo4jStore {
    /// Connect over Bolt to `uri` (`bolt://host:7687` or `neo4j://...`) with the
    /// given credentials, then check the server answers.
    pub async fn connect(uri: &str, user: &str, password: &str) -> StoreResult<Self> {
        let exec = BoltExecutor::connect(uri, user, password).await?;
        let store = Self::with_executor(Arc::new(exec));
        store.check_connectivity().await?;
        Ok(store)
    }

    /// The adapter over any executor (tests use an in-process Cypher engine).
    pub fn with_executor(exec: Arc<dyn CypherExecutor>) -> Self {
        Self { exec, project: ProjectId::default_project() }
    }

    /// A statement of this store's project.
    fn statement(&self, text: impl Into<String>, columns: &'static [&'static str]) -> Statement {
        Statement::new(text, columns).param("project", self.project.as_str())
    }

    fn source_edges(&self, source: &str) -> Statement {
        self.statement(cypher::SOURCE_EDGES, &["from", "to", "sources", "unsourced"]).param("source", source)
    }

    /// `Service` nodes for the endpoints of `edges` that name no node yet (and are
    /// not among `nodes`, written with them), as in the embedded store.
    async fn bare_services(&self, edges: &[DependsOn], nodes: &[TopologyNode]) -> StoreResult<Vec<Statement>> {
        let keys: BTreeSet<&str> = edges
            .iter()
            .flat_map(|e| [e.from.as_str(), e.to.as_str()])
            .filter(|k| !nodes.iter().any(|n| n.key == *k))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let existing: BTreeSet<String> = self
            .exec
            .query(
                &self
                    .statement(cypher::EXISTING_KEYS, &["key"])
                    .param("keys", Value::from(keys.iter().copied().collect::<Vec<_>>())),
            )
            .await?
            .iter()
            .filter_map(|r| r.get("key").and_then(Value::as_str).map(str::to_string))
            .collect();
        Ok(keys
            .iter()
            .filter(|k| !existing.contains(**k))
            .map(|k| self.statement(cypher::MERGE_BARE_SERVICE, &[]).param("service_key", *k))
            .collect())
    }

    /// Apply the constraints of `schemas/neo4j` (`IF NOT EXISTS`: idempotent).
    pub async fn migrate(&self) -> StoreResult<()> {
        for (name, text) in cypher::SCHEMA_FILES {
            for statement in cypher::schema_statements(text) {
                self.exec
                    .write(std::slice::from_ref(&statement))
                    .await
                    .map_err(|e| err(e.kind, "migrate", format!("{name}: {}", e.message)))?;
            }
            tracing::info!(migration = name, "neo4j constraints applied");
        }
        Ok(())
    }

    /// Statement texts of one blast-radius query, for the evidence reference.
    pub fn blast_radius_reference(service_key: &str, max_depth: u32) -> String {
        format!(
            "neo4j:cypher {{origin: {}}} {} UNION {}",
            Value::from(service_key),
            cypher::one_line(&cypher::reach(max_depth, true)),
            cypher::one_line(&cypher::reach(max_depth, false)),
        )
    }
}

fn kind_from_labels(v: Option<&Value>) -> NodeKind {
    let labels: Vec<&str> =
        v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if labels.contains(&"Database") {
        NodeKind::Database
    } else if labels.contains(&"Dependency") {
        NodeKind::Dependency
    } else {
        NodeKind::Service
    }
}

fn string_col(row: &CypherRow, col: &str, op: &str) -> StoreResult<String> {
    row.get(col)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| err(ErrorKind::Internal, op, format!("column {col} missing or not a string")))
}

#[async_trait]
impl TopologyStore for Neo4jStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        &self.project
    }

    fn scoped(&self, project: &ProjectId) -> Arc<dyn TopologyStore> {
        Arc::new(Neo4jStore { exec: self.exec.clone(), project: project.clone() })
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let rows = self
            .exec
            .query(&Statement::new("RETURN 1 AS ok", &["ok"]))
            .await
            .map_err(|e| err(e.kind, op, format!("neo4j at {}: {}", self.exec.describe(), e.message)))?;
        match rows.first().and_then(|r| r.get("ok")).and_then(Value::as_i64) {
            Some(1) => Ok(()),
            _ => Err(err(
                ErrorKind::Unavailable,
                op,
                format!("neo4j at {} answered `RETURN 1` wrongly", self.exec.describe()),
            )),
        }
    }

    async fn upsert_nodes(&self, nodes: &[TopologyNode]) -> StoreResult<()> {
        let statements: Vec<Statement> =
            nodes.iter().map(|n| cypher::merge_node(n).param("project", self.project.as_str())).collect();
        self.exec.write(&statements).await
    }

    async fn upsert_edges(&self, edges: &[DependsOn]) -> StoreResult<()> {
        if edges.is_empty() {
            return Ok(());
        }
        let mut statements = self.bare_services(edges, &[]).await?;
        statements.extend(edges.iter().map(|e| {
            self.statement(cypher::MERGE_DEPENDS_ON, &[]).param("from", e.from.as_str()).param("to", e.to.as_str())
        }));
        self.exec.write(&statements).await
    }

    async fn record_calls(&self, calls: &[EdgeCalls]) -> StoreResult<()> {
        if calls.is_empty() {
            return Ok(());
        }
        let edges: Vec<DependsOn> = calls.iter().map(|c| c.edge.clone()).collect();
        let mut statements = self.bare_services(&edges, &[]).await?;
        // Cypher integers are signed 64-bit.
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        statements.extend(calls.iter().map(|c| {
            self.statement(cypher::RECORD_CALLS, &[])
                .param("from", c.edge.from.as_str())
                .param("to", c.edge.to.as_str())
                .param("calls", int(c.calls))
                .param("errors", int(c.errors))
        }));
        self.exec.write(&statements).await
    }

    async fn edge_calls(&self, service_keys: &[String]) -> StoreResult<Vec<EdgeCalls>> {
        let op = "edge_calls";
        if service_keys.is_empty() {
            return Ok(Vec::new());
        }
        let statement = self
            .statement(cypher::EDGE_CALLS, &["from", "to", "calls", "errors"])
            .param("keys", Value::from(service_keys.to_vec()));
        let count = |row: &CypherRow, col: &str| {
            row.get(col)
                .and_then(Value::as_u64)
                .ok_or_else(|| err(ErrorKind::Internal, op, format!("column {col} missing or not a count")))
        };
        let mut out = self
            .exec
            .query(&statement)
            .await?
            .iter()
            .map(|row| {
                Ok(EdgeCalls {
                    edge: DependsOn { from: string_col(row, "from", op)?, to: string_col(row, "to", op)? },
                    calls: count(row, "calls")?,
                    errors: count(row, "errors")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.edge.cmp(&b.edge));
        Ok(out)
    }

    async fn replace_source(
        &self,
        source: &str,
        nodes: &[TopologyNode],
        edges: &[DependsOn],
    ) -> StoreResult<SourceReplaced> {
        let op = "replace_source";
        if source.is_empty() {
            return Err(err(ErrorKind::InvalidInput, op, "source must not be empty"));
        }
        let declared: BTreeSet<(&str, &str)> = edges.iter().map(|e| (e.from.as_str(), e.to.as_str())).collect();
        let before = self.exec.query(&self.source_edges(source)).await?;
        let mut statements: Vec<Statement> =
            nodes.iter().map(|n| cypher::merge_node(n).param("project", self.project.as_str())).collect();
        statements.extend(self.bare_services(edges, nodes).await?);
        statements.push(self.statement(cypher::MARK_UNSOURCED, &[]));
        statements.extend(declared.iter().map(|(from, to)| {
            self.statement(cypher::DECLARE_DEPENDS_ON, &[])
                .param("from", *from)
                .param("to", *to)
                .param("source", source)
        }));
        let mut removed = 0;
        for row in &before {
            let (from, to) = (string_col(row, "from", op)?, string_col(row, "to", op)?);
            if declared.contains(&(from.as_str(), to.as_str())) {
                continue;
            }
            let others = row
                .get("sources")
                .and_then(Value::as_array)
                .map_or(0, |s| s.iter().filter(|x| x.as_str() != Some(source)).count());
            let unsourced = row.get("unsourced").and_then(Value::as_bool).unwrap_or(true);
            removed += usize::from(others == 0 && !unsourced);
            for text in [cypher::UNDECLARE_DEPENDS_ON, cypher::DROP_UNDECLARED] {
                statements.push(
                    self.statement(text, &[])
                        .param("from", from.as_str())
                        .param("to", to.as_str())
                        .param("source", source),
                );
            }
        }
        self.exec.write(&statements).await?;
        Ok(SourceReplaced { nodes: nodes.len(), edges: declared.len(), removed })
    }

    async fn link_deployment(
        &self,
        service_key: &str,
        deployment: &DeploymentEvent,
        commits: &[Commit],
    ) -> StoreResult<()> {
        let dep = deployment.deployment_event_id.to_string();
        let mut statements = vec![
            self.statement(cypher::MERGE_DEPLOYMENT, &[])
                .param("service_key", service_key)
                .param("deployment_event_id", dep.as_str())
                .param("started_at", deployment.started_at.to_rfc3339())
                .param("image_ref", Value::from(deployment.image_ref.clone()))
                .param("revision", Value::from(deployment.revision.clone())),
        ];
        statements.extend(commits.iter().map(|c| {
            self.statement(cypher::MERGE_COMMIT, &[])
                .param("service_key", service_key)
                .param("deployment_event_id", dep.as_str())
                .param("sha", c.commit_sha.as_str())
                .param("repo", c.repo.as_str())
                .param("authored_at", c.authored_at.to_rfc3339())
        }));
        self.exec.write(&statements).await
    }

    async fn blast_radius(&self, service_key: &str, max_depth: u32) -> StoreResult<BlastRadius> {
        let op = "blast_radius";
        let origin_rows =
            self.exec.query(&self.statement(cypher::ORIGIN, &["labels"]).param("origin", service_key)).await?;
        let mut nodes = vec![Reach {
            key: service_key.to_string(),
            kind: kind_from_labels(origin_rows.first().and_then(|r| r.get("labels"))),
            distance: 0,
            direction: Direction::Origin,
        }];
        if max_depth > 0 {
            let mut seen = BTreeSet::from([service_key.to_string()]);
            for (downstream, direction) in [(true, Direction::Downstream), (false, Direction::Upstream)] {
                let statement = self
                    .statement(cypher::reach(max_depth, downstream), &["key", "labels", "distance"])
                    .param("origin", service_key);
                let mut found = Vec::new();
                for row in self.exec.query(&statement).await? {
                    let key = string_col(&row, "key", op)?;
                    let distance = row
                        .get("distance")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| err(ErrorKind::Internal, op, "column distance missing or not an integer"))?;
                    found.push(Reach {
                        key,
                        kind: kind_from_labels(row.get("labels")),
                        distance: distance as u32,
                        direction,
                    });
                }
                // Downstream reach wins over upstream, whatever the distances.
                found.retain(|r| !seen.contains(&r.key));
                found.sort_by(|a, b| a.distance.cmp(&b.distance).then_with(|| a.key.cmp(&b.key)));
                seen.extend(found.iter().map(|r| r.key.clone()));
                nodes.extend(found);
            }
        }
        let keys: Vec<String> = nodes.iter().map(|r| r.key.clone()).collect();
        let mut edges = Vec::new();
        if keys.len() > 1 {
            let statement = self.statement(cypher::EDGES_AMONG, &["from", "to"]).param("keys", Value::from(keys));
            for row in self.exec.query(&statement).await? {
                edges.push(DependsOn { from: string_col(&row, "from", op)?, to: string_col(&row, "to", op)? });
            }
            edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
            edges.dedup();
        }
        Ok(BlastRadius { reference: Self::blast_radius_reference(service_key, max_depth), nodes, edges })
    }

    async fn commits_touching(&self, service_keys: &[String]) -> StoreResult<Vec<(String, String)>> {
        let op = "commits_touching";
        if service_keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .exec
            .query(
                &self
                    .statement(cypher::COMMITS_TOUCHING, &["sha", "key"])
                    .param("keys", Value::from(service_keys.to_vec())),
            )
            .await?;
        let mut out: Vec<(String, String)> = rows
            .iter()
            .map(|r| Ok((string_col(r, "sha", op)?, string_col(r, "key", op)?)))
            .collect::<StoreResult<_>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}
