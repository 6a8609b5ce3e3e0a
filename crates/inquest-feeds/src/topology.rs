//! Declarative topology: a document a platform team generates from its service
//! catalogue (YAML or JSON), validated into the nodes and `DEPENDS_ON` edges one
//! source declares, and applied as that source's whole graph.
//!
//! ```yaml
//! cluster: prod            # defaults for every node (else `default`)
//! namespace: shop
//! services:
//!   - name: checkout
//!     depends_on: [payments, orders-db, stripe-api]
//!   - name: payments
//!     namespace: pay       # overrides the default
//! databases:
//!   - { name: orders-db, engine: postgres, used_by: [inventory] }
//! dependencies:
//!   - { name: stripe-api, kind: external_http, used_by: [payments] }
//! edges:
//!   - { from: frontend, to: checkout }   # any node to any node
//! ```
//!
//! A node's key is `cluster/namespace/name`; a name may also be written as a full key.
//! A reference (`depends_on`, `used_by`, `edges`) names a node of the document, by key or
//! by a name declared once, as alerts name services. Errors name the path
//! (`services[3].depends_on[1]`): an unknown or ambiguous node, a self edge, a node or
//! a reference listed twice. The same edge declared in two places (`depends_on` of one
//! node and `used_by` of the other, as catalogues that mirror relations do) is one edge.
//!
//! Applying makes the source's edges exactly the document's (`replace_source`: an edge
//! the source declared before and no longer does disappears; other sources' and
//! unsourced edges stay); nodes are upserted, never removed. Every node without a
//! `services` row gets one, in one delivery of the `topology` feed whose id is the hash
//! of the source and the canonical document, so uploading the same graph twice, in
//! either format or any order, is a duplicate. The graph is replaced on every upload,
//! a duplicate included, so re-uploading an older file restores it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use inquest_domain::{DependsOn, NodeKind, Service, ServiceId, Timestamp, TopologyNode, service_key};
use inquest_ports::{DeliveryOutcome, RecordBatch, SourceReplaced, Stores};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Delivery, Feed, FeedError};

/// The longest source name accepted.
pub const MAX_SOURCE_LEN: usize = 128;

/// How a document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// From a file's extension (`.json`, `.yaml`, `.yml`); `None` for any other.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// From a `Content-Type` (`application/json`, `application/yaml`, `text/yaml`, the
    /// `x-yaml` forms, any `+json`/`+yaml` suffix); `None` for any other.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            Some(Format::Json)
        } else if matches!(essence.as_str(), "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml")
            || essence.ends_with("+yaml")
        {
            Some(Format::Yaml)
        } else {
            None
        }
    }

    /// A guess from the body when nothing says: JSON when it opens with `{`.
    pub fn sniff(body: &[u8]) -> Format {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// The document as written. Every field is optional; unknown fields are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentFile {
    cluster: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    services: Vec<NodeFile>,
    #[serde(default)]
    databases: Vec<NodeFile>,
    #[serde(default)]
    dependencies: Vec<NodeFile>,
    #[serde(default)]
    edges: Vec<EdgeFile>,
}

/// One node entry: which of `engine`, `kind`, `depends_on`, `used_by` it may carry
/// depends on its list, checked after parsing so the error names the path.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    name: String,
    cluster: Option<String>,
    namespace: Option<String>,
    /// Databases: the engine (`postgres`, `redis`).
    engine: Option<String>,
    /// Dependencies: what kind (`external_http`, `queue`).
    kind: Option<String>,
    /// Services: what this service calls or uses.
    depends_on: Option<Vec<String>>,
    /// Databases and dependencies: who uses this one.
    used_by: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeFile {
    from: String,
    to: String,
}

/// A validated topology: its nodes by key and its edges, both sorted (the canonical form).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    pub nodes: Vec<TopologyNode>,
    pub edges: Vec<DependsOn>,
}

/// Parse and validate a document; every error names the path of what is wrong.
pub fn parse(body: &[u8], format: Format) -> Result<Topology, FeedError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FeedError::invalid("body", "the document is empty (send `{}` to clear a source)"));
    }
    let file: DocumentFile = match format {
        Format::Json => {
            let de = &mut serde_json::Deserializer::from_slice(body);
            serde_path_to_error::deserialize(de).map_err(|e| {
                if e.inner().is_syntax() || e.inner().is_eof() {
                    FeedError::invalid("body", format!("not JSON: {}", e.inner()))
                } else {
                    FeedError::invalid(field_of(&e.path().to_string()), e.inner())
                }
            })?
        }
        Format::Yaml => {
            // Syntax first, so a path is named only for a document that is YAML.
            let value: serde_yaml_ng::Value =
                serde_yaml_ng::from_slice(body).map_err(|e| FeedError::invalid("body", format!("not YAML: {e}")))?;
            serde_path_to_error::deserialize(value)
                .map_err(|e| FeedError::invalid(field_of(&e.path().to_string()), e.inner()))?
        }
    };
    resolve(file)
}

fn field_of(path: &str) -> &str {
    if path == "." || path.is_empty() { "body" } else { path }
}

/// Where each node was declared, for errors naming the first declaration.
struct Declared {
    node: TopologyNode,
    at: String,
}

fn resolve(file: DocumentFile) -> Result<Topology, FeedError> {
    let cluster = file.cluster.as_deref().map(|c| segment("cluster", c)).transpose()?.unwrap_or("default");
    let namespace = file.namespace.as_deref().map(|n| segment("namespace", n)).transpose()?.unwrap_or("default");
    let lists: [(&str, NodeKind, &[NodeFile]); 3] = [
        ("services", NodeKind::Service, &file.services),
        ("databases", NodeKind::Database, &file.databases),
        ("dependencies", NodeKind::Dependency, &file.dependencies),
    ];

    // Nodes first: a reference may name a node declared after it.
    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut keys: Vec<Vec<String>> = Vec::new();
    for (list, kind, entries) in lists {
        let mut list_keys = Vec::new();
        for (i, n) in entries.iter().enumerate() {
            let at = format!("{list}[{i}]");
            check_fields(&at, kind, n)?;
            let key = node_key(&at, n, cluster, namespace)?;
            if let Some(first) = declared.get(&key) {
                return Err(FeedError::invalid(
                    format!("{at}.name"),
                    format!("duplicate node '{key}', already declared at {}", first.at),
                ));
            }
            let detail = match kind {
                NodeKind::Database => n.engine.clone(),
                NodeKind::Dependency => n.kind.clone(),
                NodeKind::Service => None,
            };
            let name = key.rsplit('/').next().unwrap_or(&key).to_string();
            by_name.entry(name).or_default().push(key.clone());
            declared.insert(key.clone(), Declared { node: TopologyNode { key: key.clone(), kind, detail }, at });
            list_keys.push(key);
        }
        keys.push(list_keys);
    }
    let find = |at: &str, reference: &str| -> Result<String, FeedError> {
        if reference.trim().is_empty() {
            return Err(FeedError::invalid(at, "an empty node name"));
        }
        if reference.contains('/') {
            if declared.contains_key(reference) {
                return Ok(reference.to_string());
            }
            return Err(FeedError::invalid(at, format!("unknown node '{reference}': declare it in the document")));
        }
        match by_name.get(reference).map(Vec::as_slice) {
            Some([key]) => Ok(key.clone()),
            Some(several) => Err(FeedError::invalid(
                at,
                format!("'{reference}' is ambiguous ({}): write its cluster/namespace/name", several.join(", ")),
            )),
            None => Err(FeedError::invalid(at, format!("unknown node '{reference}': declare it in the document"))),
        }
    };

    let mut edges: BTreeSet<DependsOn> = BTreeSet::new();
    for ((list, _, entries), list_keys) in lists.iter().zip(&keys) {
        for (i, (n, key)) in entries.iter().zip(list_keys).enumerate() {
            let (field, targets, outgoing) = match (&n.depends_on, &n.used_by) {
                (Some(t), _) => ("depends_on", t, true),
                (None, Some(t)) => ("used_by", t, false),
                (None, None) => continue,
            };
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (j, reference) in targets.iter().enumerate() {
                let at = format!("{list}[{i}].{field}[{j}]");
                let other = find(&at, reference)?;
                if &other == key {
                    return Err(FeedError::invalid(at, format!("self edge: '{key}' cannot depend on itself")));
                }
                if let Some(first) = seen.insert(other.clone(), j) {
                    return Err(FeedError::invalid(
                        at,
                        format!("duplicate: '{other}' is already listed at {list}[{i}].{field}[{first}]"),
                    ));
                }
                let (from, to) = if outgoing { (key.clone(), other) } else { (other, key.clone()) };
                edges.insert(DependsOn { from, to });
            }
        }
    }
    let mut listed: BTreeMap<DependsOn, usize> = BTreeMap::new();
    for (i, e) in file.edges.iter().enumerate() {
        let at = format!("edges[{i}]");
        let edge = DependsOn { from: find(&format!("{at}.from"), &e.from)?, to: find(&format!("{at}.to"), &e.to)? };
        if edge.from == edge.to {
            return Err(FeedError::invalid(at, format!("self edge: '{}' cannot depend on itself", edge.from)));
        }
        if let Some(first) = listed.insert(edge.clone(), i) {
            return Err(FeedError::invalid(
                at,
                format!("duplicate: {} -> {} is already listed at edges[{first}]", edge.from, edge.to),
            ));
        }
        edges.insert(edge);
    }
    Ok(Topology { nodes: declared.into_values().map(|d| d.node).collect(), edges: edges.into_iter().collect() })
}

/// Which optional fields a node of `kind` may carry.
fn check_fields(at: &str, kind: NodeKind, n: &NodeFile) -> Result<(), FeedError> {
    let misplaced: &[(&str, bool)] = match kind {
        NodeKind::Service => {
            &[("engine", n.engine.is_some()), ("kind", n.kind.is_some()), ("used_by", n.used_by.is_some())]
        }
        NodeKind::Database => &[("kind", n.kind.is_some()), ("depends_on", n.depends_on.is_some())],
        NodeKind::Dependency => &[("engine", n.engine.is_some()), ("depends_on", n.depends_on.is_some())],
    };
    if let Some((field, _)) = misplaced.iter().find(|(_, present)| *present) {
        let hint = match *field {
            "used_by" => "list the service's own `depends_on` instead",
            "depends_on" => "list the users in `used_by`, or add an entry to `edges`",
            "engine" => "`engine` belongs to databases",
            _ => "`kind` belongs to dependencies",
        };
        return Err(FeedError::invalid(format!("{at}.{field}"), format!("not a field of {kind} entries: {hint}")));
    }
    Ok(())
}

fn node_key(at: &str, n: &NodeFile, cluster: &str, namespace: &str) -> Result<String, FeedError> {
    let name_at = format!("{at}.name");
    if n.name.contains('/') {
        let parts: Vec<&str> = n.name.split('/').collect();
        if parts.len() != 3 {
            return Err(FeedError::invalid(
                name_at,
                format!("'{}' is neither a name nor cluster/namespace/name", n.name),
            ));
        }
        if n.cluster.is_some() || n.namespace.is_some() {
            return Err(FeedError::invalid(name_at, "a full key names its own cluster and namespace"));
        }
        for p in &parts {
            segment(&name_at, p)?;
        }
        return Ok(n.name.clone());
    }
    let name = segment(&name_at, &n.name)?;
    let cluster = n.cluster.as_deref().map(|c| segment(&format!("{at}.cluster"), c)).transpose()?.unwrap_or(cluster);
    let namespace =
        n.namespace.as_deref().map(|c| segment(&format!("{at}.namespace"), c)).transpose()?.unwrap_or(namespace);
    Ok(service_key(cluster, namespace, name))
}

/// One segment of a key: not empty, no `/`, no whitespace or control characters.
fn segment<'a>(at: &str, s: &'a str) -> Result<&'a str, FeedError> {
    if s.is_empty() {
        return Err(FeedError::invalid(at, "must not be empty"));
    }
    if s.len() > 253 {
        return Err(FeedError::invalid(at, "longer than 253 characters"));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control() || *c == '/') {
        return Err(FeedError::invalid(at, format!("'{s}' holds {c:?}, which a name cannot")));
    }
    Ok(s)
}

/// A source's name: 1 to 128 of `A-Z a-z 0-9 . _ -` (it is a path segment of the API).
pub fn check_source(source: &str) -> Result<(), FeedError> {
    if source.is_empty() || source.len() > MAX_SOURCE_LEN {
        return Err(FeedError::invalid("source", format!("must be 1 to {MAX_SOURCE_LEN} characters")));
    }
    if let Some(c) = source.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(FeedError::invalid(
            "source",
            format!("'{source}' holds {c:?}; use letters, digits, '.', '_', '-'"),
        ));
    }
    Ok(())
}

impl Topology {
    /// The delivery id: the SHA-256 of the source and the canonical document.
    pub fn delivery_id(&self, source: &str) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(source.as_bytes());
        h.update([0u8]);
        h.update(&canonical);
        format!("{source}:{}", hex::encode(h.finalize()))
    }

    /// `services` rows for the nodes `known` lacks (an existing row keeps its `created_at`).
    pub fn new_services(&self, known: &[Service], at: Timestamp) -> Vec<Service> {
        let known: BTreeSet<String> = known.iter().map(Service::service_key).collect();
        self.nodes
            .iter()
            .filter(|n| !known.contains(&n.key))
            .filter_map(|n| {
                let mut parts = n.key.splitn(3, '/');
                let (cluster, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
                Some(Service {
                    service_id: ServiceId::of_key(&n.key),
                    cluster_id: cluster.to_string(),
                    namespace: namespace.to_string(),
                    service_name: name.to_string(),
                    created_at: at,
                })
            })
            .collect()
    }
}

/// A validated upload of one source, ready to apply.
#[derive(Debug, Clone)]
pub struct Upload {
    pub source: String,
    pub topology: Topology,
    /// The `services` rows of new nodes, as a `topology` feed delivery.
    pub delivery: Delivery,
}

impl Upload {
    /// The upload of `topology` as `source`, given the services the records store knows.
    pub fn new(
        source: &str,
        topology: Topology,
        known: &[Service],
        received_at: Timestamp,
    ) -> Result<Upload, FeedError> {
        check_source(source)?;
        let batch = RecordBatch { services: topology.new_services(known, received_at), ..RecordBatch::default() };
        let delivery = Delivery::new(Feed::Topology, topology.delivery_id(source), received_at, batch);
        Ok(Upload { source: source.to_string(), topology, delivery })
    }

    /// The upload of `topology` as `source` in the project of `stores`.
    pub async fn prepare(
        stores: &Stores,
        source: &str,
        topology: Topology,
        received_at: Timestamp,
    ) -> Result<Upload, FeedError> {
        check_source(source)?;
        let known = stores.records.list_services().await?;
        Upload::new(source, topology, &known, received_at)
    }

    /// Make the source's graph this upload's (idempotent: run on every upload, a
    /// duplicate delivery included).
    pub async fn replace(&self, stores: &Stores) -> Result<SourceReplaced, FeedError> {
        Ok(stores.topology.replace_source(&self.source, &self.topology.nodes, &self.topology.edges).await?)
    }
}

/// What applying an upload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopologyApplied {
    pub source: String,
    pub delivery_id: String,
    /// Of the services rows: `duplicate` when this exact graph was uploaded before.
    pub outcome: DeliveryOutcome,
    /// Nodes upserted.
    pub nodes: usize,
    /// Edges the source declares now.
    pub edges: usize,
    /// Edges the source declared before and no longer does, gone from the graph.
    pub removed: usize,
    /// `services` rows written for nodes that had none.
    pub services_added: usize,
}

/// Apply an upload: the source's graph first (idempotent), then the delivery of its
/// new services rows (a redelivery is `Duplicate`).
pub async fn apply(stores: &Stores, upload: &Upload) -> Result<TopologyApplied, FeedError> {
    let replaced = upload.replace(stores).await?;
    let applied = crate::apply(stores, &upload.delivery).await?;
    Ok(TopologyApplied {
        source: upload.source.clone(),
        delivery_id: upload.delivery.records.delivery_id.clone(),
        outcome: applied.outcome,
        nodes: replaced.nodes,
        edges: replaced.edges,
        removed: replaced.removed,
        services_added: match applied.outcome {
            DeliveryOutcome::Stored => upload.delivery.records.batch.services.len(),
            DeliveryOutcome::Duplicate => 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Result<Topology, FeedError> {
        parse(s.as_bytes(), Format::Yaml)
    }

    fn field(r: Result<Topology, FeedError>) -> (String, String) {
        match r {
            Err(FeedError::Invalid { field, message }) => (field, message),
            other => panic!("expected an invalid document, got {other:?}"),
        }
    }

    fn edge(from: &str, to: &str) -> DependsOn {
        DependsOn { from: from.into(), to: to.into() }
    }

    const SHOP: &str = "
cluster: prod
namespace: shop
services:
  - name: frontend
    depends_on: [checkout]
  - name: checkout
    depends_on: [payments, orders-db]
  - name: payments
    namespace: pay
    depends_on: [stripe-api]
  - name: inventory
databases:
  - name: orders-db
    engine: postgres
    used_by: [inventory, checkout]
dependencies:
  - name: stripe-api
    kind: external_http
edges:
  - from: inventory
    to: prod/pay/payments
";

    #[test]
    fn a_document_resolves_names_defaults_and_mirrored_edges() {
        let t = yaml(SHOP).expect("valid");
        let keys: Vec<(&str, NodeKind, Option<&str>)> =
            t.nodes.iter().map(|n| (n.key.as_str(), n.kind, n.detail.as_deref())).collect();
        assert_eq!(
            keys,
            vec![
                ("prod/pay/payments", NodeKind::Service, None),
                ("prod/shop/checkout", NodeKind::Service, None),
                ("prod/shop/frontend", NodeKind::Service, None),
                ("prod/shop/inventory", NodeKind::Service, None),
                ("prod/shop/orders-db", NodeKind::Database, Some("postgres")),
                ("prod/shop/stripe-api", NodeKind::Dependency, Some("external_http")),
            ]
        );
        // checkout -> orders-db is declared twice (depends_on and used_by): one edge.
        assert_eq!(
            t.edges,
            vec![
                edge("prod/pay/payments", "prod/shop/stripe-api"),
                edge("prod/shop/checkout", "prod/pay/payments"),
                edge("prod/shop/checkout", "prod/shop/orders-db"),
                edge("prod/shop/frontend", "prod/shop/checkout"),
                edge("prod/shop/inventory", "prod/pay/payments"),
                edge("prod/shop/inventory", "prod/shop/orders-db"),
            ]
        );
    }

    #[test]
    fn json_and_yaml_of_one_graph_are_one_delivery() {
        let json = r#"{"cluster": "prod", "namespace": "shop",
            "edges": [{"from": "inventory", "to": "prod/pay/payments"}],
            "dependencies": [{"name": "stripe-api", "kind": "external_http"}],
            "databases": [{"name": "orders-db", "engine": "postgres", "used_by": ["checkout", "inventory"]}],
            "services": [{"name": "inventory"}, {"name": "payments", "namespace": "pay", "depends_on": ["stripe-api"]},
                         {"name": "checkout", "depends_on": ["payments"]}, {"name": "frontend", "depends_on": ["checkout"]}]}"#;
        let a = yaml(SHOP).expect("yaml");
        let b = parse(json.as_bytes(), Format::Json).expect("json");
        assert_eq!(a, b);
        assert_eq!(a.delivery_id("catalog"), b.delivery_id("catalog"));
        assert_ne!(a.delivery_id("catalog"), a.delivery_id("other"), "the source is part of the id");
        let mut fewer = a.clone();
        fewer.edges.pop();
        assert_ne!(a.delivery_id("catalog"), fewer.delivery_id("catalog"));
    }

    #[test]
    fn each_error_names_its_path() {
        let cases: &[(&str, &str, &str)] = &[
            ("services: [{name: a}, {name: b, depends_on: [a, c]}]", "services[1].depends_on[1]", "unknown node 'c'"),
            (
                "services: [{name: a, depends_on: [b]}, {name: b, depends_on: [b]}]",
                "services[1].depends_on[0]",
                "self edge",
            ),
            ("services: [{name: a, depends_on: [b, b]}, {name: b}]", "services[0].depends_on[1]", "duplicate"),
            ("services: [{name: a}, {name: a}]", "services[1].name", "duplicate node 'default/default/a'"),
            ("services: [{name: a}]\ndatabases: [{name: default/default/a}]", "databases[0].name", "services[0]"),
            (
                "services: [{name: a}]\ndatabases: [{name: db, used_by: [x]}]",
                "databases[0].used_by[0]",
                "unknown node 'x'",
            ),
            ("services: [{name: a}]\nedges: [{from: a, to: a}]", "edges[0]", "self edge"),
            ("services: [{name: a}, {name: b}]\nedges: [{from: a, to: b}, {from: a, to: b}]", "edges[1]", "edges[0]"),
            ("services: [{name: a}]\nedges: [{from: a, to: z}]", "edges[0].to", "unknown node 'z'"),
            (
                "services: [{name: a, namespace: x}, {name: a, namespace: y}, {name: b, depends_on: [a]}]",
                "services[2].depends_on[0]",
                "ambiguous",
            ),
            ("services: [{name: a, engine: postgres}]", "services[0].engine", "databases"),
            ("databases: [{name: d, depends_on: []}]", "databases[0].depends_on", "used_by"),
            ("services: [{name: 'a b'}]", "services[0].name", "' '"),
            ("services: [{name: ''}]", "services[0].name", "empty"),
            ("services: [{name: x/y}]", "services[0].name", "cluster/namespace/name"),
            ("services: [{name: a, dependson: [b]}]", "services[0].dependson", "unknown field `dependson`"),
            ("services: [{depends_on: [b]}]", "services[0]", "missing field `name`"),
            ("services: [{name: a, depends_on: b}]", "services[0].depends_on", "expected a sequence"),
            ("servics: []", "servics", "unknown field `servics`"),
            ("cluster: 'a/b'", "cluster", "'/'"),
            ("services: [", "body", "not YAML"),
            ("   ", "body", "empty"),
        ];
        for (doc, want_field, want_message) in cases {
            let (f, m) = field(yaml(doc));
            assert_eq!(&f, want_field, "{doc}: {m}");
            assert!(m.contains(want_message), "{doc}: {f}: {m} lacks {want_message}");
        }
        let (f, m) = field(parse(br#"{"services": [{"name": "a", "depends_on": [1]}]}"#, Format::Json));
        assert_eq!((f.as_str(), m.contains("expected a string")), ("services[0].depends_on[0]", true), "{m}");
        let (f, m) = field(parse(b"{\"services\": [", Format::Json));
        assert_eq!((f.as_str(), m.starts_with("not JSON")), ("body", true), "{m}");
    }

    #[test]
    fn an_empty_object_declares_nothing() {
        assert_eq!(yaml("{}").expect("valid"), Topology { nodes: vec![], edges: vec![] });
    }

    #[test]
    fn sources_are_path_segments() {
        check_source("backstage-catalog_v2.prod").expect("valid");
        for bad in ["", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(
                matches!(check_source(bad), Err(FeedError::Invalid { ref field, .. }) if field == "source"),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_by_extension_content_type_or_body() {
        assert_eq!(Format::from_path(Path::new("topo.YML")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("topo.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("topo.txt")), None);
        assert_eq!(Format::from_content_type("application/json; charset=utf-8"), Some(Format::Json));
        assert_eq!(Format::from_content_type("application/yaml"), Some(Format::Yaml));
        assert_eq!(Format::from_content_type("text/x-yaml"), Some(Format::Yaml));
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(Format::sniff(b"  \n{\"services\": []}"), Format::Json);
        assert_eq!(Format::sniff(b"services: []"), Format::Yaml);
    }

    #[test]
    fn new_services_skip_known_ones_and_split_the_key() {
        let t =
            yaml("services: [{name: a, depends_on: [prod/db/pg]}]\ndatabases: [{name: prod/db/pg}]").expect("valid");
        let at = chrono::Utc::now();
        let known = vec![Service {
            service_id: ServiceId::of_key("default/default/a"),
            cluster_id: "default".into(),
            namespace: "default".into(),
            service_name: "a".into(),
            created_at: at,
        }];
        let rows = t.new_services(&known, at);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].cluster_id.as_str(), rows[0].namespace.as_str(), rows[0].service_name.as_str()),
            ("prod", "db", "pg")
        );
        assert_eq!(rows[0].service_id, ServiceId::of_key("prod/db/pg"));
    }
}
