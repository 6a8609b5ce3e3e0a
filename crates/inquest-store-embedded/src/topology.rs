//! The topology port on the embedded store: `DEPENDS_ON` edges walked breadth-first.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{BlastRadius, Direction, Reach, SourceReplaced, StoreResult, TopologyStore};
use redb::{ReadableDatabase, ReadableTable};

use crate::*;

/// The declarer of an edge written without a source.
const UNSOURCED: &str = "";

impl EmbeddedStore {
    fn graph(&self, op: &str) -> StoreResult<(BTreeMap<String, TopologyNode>, Vec<DependsOn>)> {
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let nodes_t = txn.open_table(NODES).map_err(|e| store_err(op, e))?;
        let mut nodes = BTreeMap::new();
        let (lo, hi) = (self.key(""), self.key(MAX_STR));
        for row in nodes_t.range(lo.as_str()..=hi.as_str()).map_err(|e| store_err(op, e))? {
            let (k, v) = row.map_err(|e| store_err(op, e))?;
            nodes.insert(strip(k.value()).to_string(), from_json::<TopologyNode>(op, v.value())?);
        }
        let edges_t = txn.open_table(EDGES).map_err(|e| store_err(op, e))?;
        let mut edges = Vec::new();
        for row in edges_t.range((lo.as_str(), "")..=(hi.as_str(), MAX_STR)).map_err(|e| store_err(op, e))? {
            let (k, _) = row.map_err(|e| store_err(op, e))?;
            let (from, to) = k.value();
            edges.push(DependsOn { from: strip(from).to_string(), to: to.to_string() });
        }
        Ok((nodes, edges))
    }
}

/// Breadth-first walk from `origin` along `DEPENDS_ON` in both directions, up to
/// `max_depth` hops; downstream reach wins over upstream at equal distance.
pub fn walk(nodes: &BTreeMap<String, TopologyNode>, edges: &[DependsOn], origin: &str, max_depth: u32) -> Vec<Reach> {
    let kind_of = |k: &str| nodes.get(k).map(|n| n.kind).unwrap_or(NodeKind::Service);
    let mut out =
        vec![Reach { key: origin.to_string(), kind: kind_of(origin), distance: 0, direction: Direction::Origin }];
    let mut seen: BTreeSet<String> = BTreeSet::from([origin.to_string()]);
    for direction in [Direction::Downstream, Direction::Upstream] {
        let mut queue = VecDeque::from([(origin.to_string(), 0u32)]);
        let mut visited = BTreeSet::from([origin.to_string()]);
        while let Some((at, d)) = queue.pop_front() {
            if d >= max_depth {
                continue;
            }
            let next: Vec<&str> = edges
                .iter()
                .filter_map(|e| match direction {
                    Direction::Downstream if e.from == at => Some(e.to.as_str()),
                    Direction::Upstream if e.to == at => Some(e.from.as_str()),
                    _ => None,
                })
                .collect();
            for n in next {
                if visited.insert(n.to_string()) {
                    queue.push_back((n.to_string(), d + 1));
                    if seen.insert(n.to_string()) {
                        out.push(Reach { key: n.to_string(), kind: kind_of(n), distance: d + 1, direction });
                    }
                }
            }
        }
    }
    out
}

#[async_trait]
impl TopologyStore for EmbeddedStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        self.project_id()
    }

    fn scoped(&self, project: &ProjectId) -> std::sync::Arc<dyn TopologyStore> {
        std::sync::Arc::new(self.in_project(project))
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.check()
    }

    async fn upsert_nodes(&self, nodes: &[TopologyNode]) -> StoreResult<()> {
        let op = "upsert_nodes";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(NODES).map_err(|e| store_err(op, e))?;
            for n in nodes {
                let bytes = to_json(op, n)?;
                t.insert(self.key(&n.key).as_str(), bytes.as_slice()).map_err(|e| store_err(op, e))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn upsert_edges(&self, edges: &[DependsOn]) -> StoreResult<()> {
        let op = "upsert_edges";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(EDGES).map_err(|e| store_err(op, e))?;
            let mut sources = txn.open_table(EDGE_SOURCES).map_err(|e| store_err(op, e))?;
            for e in edges {
                let from = self.key(&e.from);
                t.insert((from.as_str(), e.to.as_str()), ()).map_err(|err| store_err(op, err))?;
                sources.insert((from.as_str(), e.to.as_str(), UNSOURCED), ()).map_err(|err| store_err(op, err))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn record_calls(&self, calls: &[EdgeCalls]) -> StoreResult<()> {
        let op = "record_calls";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut edges = txn.open_table(EDGES).map_err(|e| store_err(op, e))?;
            let mut sources = txn.open_table(EDGE_SOURCES).map_err(|e| store_err(op, e))?;
            let mut counts = txn.open_table(EDGE_CALLS).map_err(|e| store_err(op, e))?;
            for c in calls {
                let from = self.key(&c.edge.from);
                let key = (from.as_str(), c.edge.to.as_str());
                // Seen in traces: kept whatever the declaring sources say later, as by `upsert_edges`.
                edges.insert(key, ()).map_err(|e| store_err(op, e))?;
                sources.insert((key.0, key.1, UNSOURCED), ()).map_err(|e| store_err(op, e))?;
                let (calls, errors) = counts.get(key).map_err(|e| store_err(op, e))?.map_or((0, 0), |v| v.value());
                let sum = (calls.saturating_add(c.calls), errors.saturating_add(c.errors));
                counts.insert(key, sum).map_err(|e| store_err(op, e))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn edge_calls(&self, service_keys: &[String]) -> StoreResult<Vec<EdgeCalls>> {
        let op = "edge_calls";
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(EDGE_CALLS).map_err(|e| store_err(op, e))?;
        let (lo, hi) = (self.key(""), self.key(MAX_STR));
        let mut out = Vec::new();
        for row in t.range((lo.as_str(), "")..=(hi.as_str(), MAX_STR)).map_err(|e| store_err(op, e))? {
            let (k, v) = row.map_err(|e| store_err(op, e))?;
            let (from, to) = k.value();
            let from = strip(from);
            if service_keys.iter().any(|s| s == from || s == to) {
                let (calls, errors) = v.value();
                out.push(EdgeCalls { edge: DependsOn { from: from.to_string(), to: to.to_string() }, calls, errors });
            }
        }
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
            return Err(StoreError::new(ErrorKind::InvalidInput, BACKEND, op, "source must not be empty"));
        }
        let declared: BTreeSet<(String, &str)> = edges.iter().map(|e| (self.key(&e.from), e.to.as_str())).collect();
        let mut removed = 0;
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut nodes_t = txn.open_table(NODES).map_err(|e| store_err(op, e))?;
            for n in nodes {
                let bytes = to_json(op, n)?;
                nodes_t.insert(self.key(&n.key).as_str(), bytes.as_slice()).map_err(|e| store_err(op, e))?;
            }
            let mut edges_t = txn.open_table(EDGES).map_err(|e| store_err(op, e))?;
            let mut sources_t = txn.open_table(EDGE_SOURCES).map_err(|e| store_err(op, e))?;
            // Who declares each edge of this project now.
            let mut declarers: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
            let (lo, hi) = (self.key(""), self.key(MAX_STR));
            for row in sources_t
                .range((lo.as_str(), "", "")..=(hi.as_str(), MAX_STR, MAX_STR))
                .map_err(|e| store_err(op, e))?
            {
                let (k, _) = row.map_err(|e| store_err(op, e))?;
                let (from, to, by) = k.value();
                declarers.entry((from.to_string(), to.to_string())).or_default().insert(by.to_string());
            }
            for (from, to) in &declared {
                let key = (from.as_str(), *to);
                let known = declarers.contains_key(&(from.clone(), to.to_string()));
                // An edge that exists with no declarer was written without a source
                // (before sources were kept): mark it so this source never removes it.
                if !known && edges_t.get(key).map_err(|e| store_err(op, e))?.is_some() {
                    sources_t.insert((from.as_str(), *to, UNSOURCED), ()).map_err(|e| store_err(op, e))?;
                }
                edges_t.insert(key, ()).map_err(|e| store_err(op, e))?;
                sources_t.insert((from.as_str(), *to, source), ()).map_err(|e| store_err(op, e))?;
            }
            for ((from, to), by) in &declarers {
                if !by.contains(source) || declared.contains(&(from.clone(), to.as_str())) {
                    continue;
                }
                sources_t.remove((from.as_str(), to.as_str(), source)).map_err(|e| store_err(op, e))?;
                if by.len() == 1 {
                    edges_t.remove((from.as_str(), to.as_str())).map_err(|e| store_err(op, e))?;
                    removed += 1;
                }
            }
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(SourceReplaced { nodes: nodes.len(), edges: declared.len(), removed })
    }

    async fn link_deployment(
        &self,
        service_key: &str,
        deployment: &DeploymentEvent,
        commits: &[Commit],
    ) -> StoreResult<()> {
        let op = "link_deployment";
        let raw_dep = deployment.deployment_event_id.to_string();
        let dep = self.key(&raw_dep);
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(DEPLOYED_AS).map_err(|e| store_err(op, e))?;
            let bytes = to_json(op, deployment)?;
            t.insert((self.key(service_key).as_str(), raw_dep.as_str()), bytes.as_slice())
                .map_err(|e| store_err(op, e))?;
            let mut built = txn.open_table(BUILT_FROM).map_err(|e| store_err(op, e))?;
            let mut touched = txn.open_table(TOUCHED).map_err(|e| store_err(op, e))?;
            for c in commits {
                built.insert((dep.as_str(), c.commit_sha.as_str()), ()).map_err(|e| store_err(op, e))?;
                touched.insert((self.key(&c.commit_sha).as_str(), service_key), ()).map_err(|e| store_err(op, e))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn blast_radius(&self, service_key: &str, max_depth: u32) -> StoreResult<BlastRadius> {
        let (nodes, edges) = self.graph("blast_radius")?;
        let reached = walk(&nodes, &edges, service_key, max_depth);
        let keys: BTreeSet<&str> = reached.iter().map(|r| r.key.as_str()).collect();
        let mut among: Vec<DependsOn> =
            edges.iter().filter(|e| keys.contains(e.from.as_str()) && keys.contains(e.to.as_str())).cloned().collect();
        among.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        Ok(BlastRadius {
            reference: format!("topology/depends_on?origin={service_key}&depth={max_depth}"),
            nodes: reached,
            edges: among,
        })
    }

    async fn commits_touching(&self, service_keys: &[String]) -> StoreResult<Vec<(String, String)>> {
        let op = "commits_touching";
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(TOUCHED).map_err(|e| store_err(op, e))?;
        let mut out = Vec::new();
        let (lo, hi) = (self.key(""), self.key(MAX_STR));
        for row in t.range((lo.as_str(), "")..=(hi.as_str(), MAX_STR)).map_err(|e| store_err(op, e))? {
            let (k, _) = row.map_err(|e| store_err(op, e))?;
            let (sha, key) = k.value();
            if service_keys.iter().any(|s| s == key) {
                out.push((strip(sha).to_string(), key.to_string()));
            }
        }
        Ok(out)
    }
}
