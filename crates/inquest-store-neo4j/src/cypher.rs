//! Every Cypher statement the adapter sends, in one place, so the same text runs
//! on Neo4j over Bolt and, in tests, on an in-process Cypher engine. Values are
//! always `$parameters`; the only thing formatted into a statement is the depth
//! bound of a variable-length path (an integer), which Cypher cannot parameterise.
//! Every node and relationship is written with `project: $project` and every
//! `MATCH` names it, so projects share a graph without seeing each other.

use serde_json::{Value, json};

/// One statement with its parameters and the result columns it returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub text: String,
    pub params: serde_json::Map<String, Value>,
    /// Result columns read back, in `RETURN` order (empty for writes).
    pub columns: &'static [&'static str],
}

impl Statement {
    pub fn new(text: impl Into<String>, columns: &'static [&'static str]) -> Self {
        Self { text: text.into(), params: serde_json::Map::new(), columns }
    }

    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.insert(name.to_string(), value.into());
        self
    }
}

/// The constraints of `schemas/neo4j`, one statement per `;`.
pub const SCHEMA_FILES: &[(&str, &str)] =
    &[("0003_project_keys", include_str!("../../../schemas/neo4j/0003_project_keys.cypher"))];

/// The statements of a `.cypher` file: `//` comment lines dropped, then split on `;`.
pub fn schema_statements(text: &str) -> Vec<Statement> {
    inquest_ports::schema::statements(text, "//").into_iter().map(|s| Statement::new(s, &[])).collect()
}

/// The topology labels a blast-radius node may carry.
pub const TOPOLOGY_LABELS: [&str; 3] = ["Service", "Database", "Dependency"];

pub const MERGE_SERVICE: &str = "\
MERGE (n:Service {project: $project, service_key: $service_key})
SET n.cluster_id = $cluster_id, n.namespace = $namespace, n.name = $name";

pub const MERGE_DATABASE: &str = "\
MERGE (n:Database {project: $project, service_key: $service_key})
SET n.name = $name, n.engine = $detail";

pub const MERGE_DEPENDENCY: &str = "\
MERGE (n:Dependency {project: $project, service_key: $service_key})
SET n.name = $name, n.kind = $detail";

/// Keys among `$keys` that already name a topology node.
pub const EXISTING_KEYS: &str = "\
MATCH (n {project: $project}) WHERE n.service_key IN $keys AND (n:Service OR n:Database OR n:Dependency)
RETURN n.service_key AS key";

/// An endpoint named by an edge but never upserted becomes a `Service`, as in the
/// embedded store.
pub const MERGE_BARE_SERVICE: &str = "MERGE (n:Service {project: $project, service_key: $service_key})";

/// An edge written without a source (`unsourced`): `replace_source` never removes it.
pub const MERGE_DEPENDS_ON: &str = "\
MATCH (a {project: $project}) WHERE a.service_key = $from AND (a:Service OR a:Database OR a:Dependency)
MATCH (b {project: $project}) WHERE b.service_key = $to AND (b:Service OR b:Database OR b:Dependency)
MERGE (a)-[r:DEPENDS_ON {project: $project}]->(b)
SET r.unsourced = true";

/// Traced calls added to an edge (`r.calls`, `r.errors`), the edge written without a
/// source when it is not there yet.
pub const RECORD_CALLS: &str = "\
MATCH (a {project: $project}) WHERE a.service_key = $from AND (a:Service OR a:Database OR a:Dependency)
MATCH (b {project: $project}) WHERE b.service_key = $to AND (b:Service OR b:Database OR b:Dependency)
MERGE (a)-[r:DEPENDS_ON {project: $project}]->(b)
SET r.unsourced = true, r.calls = coalesce(r.calls, 0) + $calls, r.errors = coalesce(r.errors, 0) + $errors";

/// The counted calls of the edges from or to any of `$keys`.
pub const EDGE_CALLS: &str = "\
MATCH (a {project: $project})-[r:DEPENDS_ON {project: $project}]->(b {project: $project})
WHERE (a.service_key IN $keys OR b.service_key IN $keys) AND r.calls IS NOT NULL
RETURN a.service_key AS from, b.service_key AS to, r.calls AS calls, r.errors AS errors";

/// Edges written before sources were kept carry neither property: they were written
/// without a source.
pub const MARK_UNSOURCED: &str = "\
MATCH ()-[r:DEPENDS_ON {project: $project}]->() WHERE r.unsourced IS NULL AND r.sources IS NULL
SET r.unsourced = true";

/// `$source` declares the edge: added once to its `sources`.
pub const DECLARE_DEPENDS_ON: &str = "\
MATCH (a {project: $project}) WHERE a.service_key = $from AND (a:Service OR a:Database OR a:Dependency)
MATCH (b {project: $project}) WHERE b.service_key = $to AND (b:Service OR b:Database OR b:Dependency)
MERGE (a)-[r:DEPENDS_ON {project: $project}]->(b)
SET r.unsourced = coalesce(r.unsourced, false),
    r.sources = [x IN coalesce(r.sources, []) WHERE x <> $source] + [$source]";

/// The edges `$source` declares, with who else declares them.
pub const SOURCE_EDGES: &str = "\
MATCH (a {project: $project})-[r:DEPENDS_ON {project: $project}]->(b {project: $project})
WHERE $source IN r.sources
RETURN a.service_key AS from, b.service_key AS to, r.sources AS sources, r.unsourced AS unsourced";

/// `$source` no longer declares the edge.
pub const UNDECLARE_DEPENDS_ON: &str = "\
MATCH (a {project: $project})-[r:DEPENDS_ON {project: $project}]->(b {project: $project})
WHERE a.service_key = $from AND b.service_key = $to AND $source IN r.sources
SET r.sources = [x IN r.sources WHERE x <> $source]";

/// The edge goes once no source declares it, unless it was written without one.
pub const DROP_UNDECLARED: &str = "\
MATCH (a {project: $project})-[r:DEPENDS_ON {project: $project}]->(b {project: $project})
WHERE a.service_key = $from AND b.service_key = $to AND size(r.sources) = 0 AND r.unsourced = false
DELETE r";

pub const MERGE_DEPLOYMENT: &str = "\
MERGE (s:Service {project: $project, service_key: $service_key})
MERGE (d:Deployment {project: $project, deployment_event_id: $deployment_event_id})
SET d.started_at = $started_at, d.image_ref = $image_ref, d.revision = $revision
MERGE (s)-[:DEPLOYED_AS {project: $project}]->(d)";

/// The relationships are named (`built`, `touched`): grafeo 0.5 mis-handles two
/// anonymous relationship `MERGE`s in one statement; Neo4j does not mind.
pub const MERGE_COMMIT: &str = "\
MATCH (s:Service {project: $project, service_key: $service_key})
MATCH (d:Deployment {project: $project, deployment_event_id: $deployment_event_id})
MERGE (c:Commit {project: $project, sha: $sha})
SET c.repo = $repo, c.authored_at = $authored_at
MERGE (d)-[built:BUILT_FROM {project: $project}]->(c)
MERGE (c)-[touched:TOUCHED {project: $project}]->(s)";

/// The origin node's labels (absent when the key is unknown).
pub const ORIGIN: &str = "\
MATCH (o {project: $project}) WHERE o.service_key = $origin AND (o:Service OR o:Database OR o:Dependency)
RETURN labels(o) AS labels";

/// Nodes reachable along `DEPENDS_ON` from the origin (`downstream`) or reaching
/// it (`upstream`) within `depth` hops, each with its shortest distance.
pub fn reach(depth: u32, downstream: bool) -> String {
    let depth = depth.max(1);
    let pattern = if downstream {
        format!("(o)-[:DEPENDS_ON*1..{depth}]->(n)")
    } else {
        format!("(o)<-[:DEPENDS_ON*1..{depth}]-(n)")
    };
    format!(
        "MATCH (o {{project: $project}}) WHERE o.service_key = $origin AND (o:Service OR o:Database OR o:Dependency)\n\
         MATCH p = {pattern}\n\
         WHERE n.project = $project AND n.service_key <> $origin\n\
         RETURN n.service_key AS key, labels(n) AS labels, min(length(p)) AS distance"
    )
}

/// The `DEPENDS_ON` edges between the given nodes.
pub const EDGES_AMONG: &str = "\
MATCH (a {project: $project})-[:DEPENDS_ON {project: $project}]->(b {project: $project})
WHERE a.service_key IN $keys AND b.service_key IN $keys
RETURN a.service_key AS from, b.service_key AS to";

pub const COMMITS_TOUCHING: &str = "\
MATCH (c:Commit {project: $project})-[:TOUCHED]->(s:Service {project: $project})
WHERE s.service_key IN $keys
RETURN c.sha AS sha, s.service_key AS key";

/// Statements that upsert one node (the caller adds `project`).
pub fn merge_node(node: &inquest_domain::TopologyNode) -> Statement {
    use inquest_domain::NodeKind;
    let parts: Vec<&str> = node.key.splitn(3, '/').collect();
    let name = parts.last().copied().unwrap_or_default().to_string();
    match node.kind {
        NodeKind::Service => {
            let (cluster, namespace) = match parts.as_slice() {
                [c, ns, _] => (c.to_string(), ns.to_string()),
                _ => (String::new(), String::new()),
            };
            Statement::new(MERGE_SERVICE, &[])
                .param("service_key", node.key.as_str())
                .param("cluster_id", cluster)
                .param("namespace", namespace)
                .param("name", name)
        }
        NodeKind::Database => Statement::new(MERGE_DATABASE, &[])
            .param("service_key", node.key.as_str())
            .param("name", name)
            .param("detail", json!(node.detail)),
        NodeKind::Dependency => Statement::new(MERGE_DEPENDENCY, &[])
            .param("service_key", node.key.as_str())
            .param("name", name)
            .param("detail", json!(node.detail)),
    }
}

/// Collapse runs of whitespace, for statement text quoted in references.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
