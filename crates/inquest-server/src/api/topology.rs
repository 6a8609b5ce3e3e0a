//! Declarative topology: a source's whole graph put from a service catalogue (`PUT
//! /api/topology/sources/{source}`, YAML or JSON) and the blast radius around a
//! service (`GET /api/topology`).

use std::sync::OnceLock;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::Utc;
use inquest_domain::{EdgeCalls, service_key_of};
use inquest_feeds::topology::{self, Format, Upload};
use inquest_feeds::{Feed, Parsed};
use inquest_ports::{Reach, SourceReplaced};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::changes::resolve_service;
use super::{ApiResult, service_keys};
use crate::AppState;
use crate::auth::{Authorized, Read, Webhook};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::feeds;

/// A topology document (YAML or JSON). Documentation only: bodies are parsed by
/// `inquest_feeds::topology`, so that an error names its path (`services[3].depends_on[1]`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct TopologyDocument {
    /// Default cluster of every node (else `default`).
    cluster: Option<String>,
    /// Default namespace of every node (else `default`).
    namespace: Option<String>,
    services: Option<Vec<TopologyService>>,
    databases: Option<Vec<TopologyDatabase>>,
    dependencies: Option<Vec<TopologyDependency>>,
    /// Any node to any node, `from` depending on `to`.
    edges: Option<Vec<TopologyEdge>>,
}

/// A service and what it calls or uses.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct TopologyService {
    /// A name, or a full `cluster/namespace/name` key.
    name: String,
    cluster: Option<String>,
    namespace: Option<String>,
    /// Nodes of the document, by name (declared once) or key.
    depends_on: Option<Vec<String>>,
}

/// A database and the nodes that use it.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct TopologyDatabase {
    name: String,
    cluster: Option<String>,
    namespace: Option<String>,
    /// `postgres`, `redis`, ...
    engine: Option<String>,
    used_by: Option<Vec<String>>,
}

/// An external or shared dependency and the nodes that use it.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct TopologyDependency {
    name: String,
    cluster: Option<String>,
    namespace: Option<String>,
    /// `external_http`, `queue`, ...
    kind: Option<String>,
    used_by: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct TopologyEdge {
    from: String,
    to: String,
}

/// What an upload changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopologyReceipt {
    pub feed: String,
    pub source: String,
    /// `stored`, or `duplicate` when this exact graph was uploaded before (the graph is
    /// made the document's either way).
    pub outcome: String,
    pub delivery_id: Option<String>,
    /// Nodes the document declares (upserted; nodes are never removed).
    pub nodes: usize,
    /// Edges the source declares now.
    pub edges: usize,
    /// Edges the source declared before and no longer does, removed from the graph.
    pub removed: usize,
    /// `services` rows written for nodes that had none.
    pub services_added: usize,
}

/// The `{source}` of a path.
pub struct SourcePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SourcePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(source) = axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        Ok(SourcePath(source))
    }
}

/// Make `source`'s declared graph exactly the document: its nodes upserted, its edges
/// recorded as the source's, the edges it declared before and not now removed (other
/// sources' and unsourced edges stay). Nodes without a `services` row get one.
#[utoipa::path(put, path = "/api/topology/sources/{source}", tag = "feeds",
    params(("source" = String, Path, description = "the source's name: letters, digits, `.`, `_`, `-`")),
    request_body(description = "the topology document; YAML or JSON by `Content-Type` (else by its first character)",
        content((TopologyDocument = "application/yaml"), (TopologyDocument = "application/json"))),
    responses((status = 202, body = TopologyReceipt), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_source(
    State(s): State<AppState>,
    SourcePath(source): SourcePath,
    hook: Webhook,
) -> Result<(StatusCode, Json<TopologyReceipt>), ApiError> {
    let replaced: OnceLock<SourceReplaced> = OnceLock::new();
    let (name, slot) = (source.as_str(), &replaced);
    let (status, Json(receipt)) = feeds::receive(&s, Feed::Topology, hook, |req| async move {
        topology::check_source(name)?;
        let content_type = req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let format = content_type.and_then(Format::from_content_type).unwrap_or_else(|| Format::sniff(&req.body));
        let graph = topology::parse(&req.body, format)?;
        let upload = Upload::prepare(&req.stores, name, graph, Utc::now()).await?;
        // The graph goes first and on every upload: re-uploading an older file restores it.
        let _ = slot.set(upload.replace(&req.stores).await?);
        Ok(Parsed::Delivery(Box::new(upload.delivery)))
    })
    .await?;
    let replaced = replaced.get().copied().unwrap_or_default();
    Ok((
        status,
        Json(TopologyReceipt {
            feed: receipt.feed,
            source,
            outcome: receipt.outcome,
            delivery_id: receipt.delivery_id,
            nodes: replaced.nodes,
            edges: replaced.edges,
            removed: replaced.removed,
            services_added: receipt.rows,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RadiusQuery {
    /// Service name (e.g. `checkout`) or full key.
    pub service: String,
    /// Hops along `DEPENDS_ON`, 1 to 6 (default: the investigation's depth).
    pub depth: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RadiusView {
    pub service_key: String,
    pub depth: u32,
    /// The query that found it.
    pub reference: String,
    /// Nodes within `depth` hops, both directions, the service itself included.
    #[schema(value_type = Vec<Object>)]
    pub nodes: Vec<Reach>,
    /// Calls counted from traces on the edges between those nodes: `edge` (`from`,
    /// `to`), `calls`, `errors`.
    #[schema(value_type = Vec<Object>)]
    pub calls: Vec<EdgeCalls>,
}

/// The blast radius around a service: what it depends on and what depends on it.
#[utoipa::path(get, path = "/api/topology", tag = "feeds", params(RadiusQuery),
    responses((status = 200, body = RadiusView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_radius(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Query(q): Query<RadiusQuery>,
) -> ApiResult<RadiusView> {
    let stores = s.stores.for_project(auth.project());
    let depth = match q.depth.as_deref() {
        None => s.cfg.topology_depth,
        Some(d) => match d.trim().parse::<u32>() {
            Ok(n @ 1..=6) => n,
            _ => return Err(ApiError::field("depth", format!("'{d}' is not a number of hops from 1 to 6"))),
        },
    };
    // A node with a services row by key or name; else the key the name stands for.
    let services = service_keys(&stores).await?;
    let key = match resolve_service(&services, &q.service) {
        Ok(found) => match found.as_slice() {
            [one] => one.service_key(),
            several => {
                let keys: Vec<String> = several.iter().map(|x| x.service_key()).collect();
                return Err(ApiError::field(
                    "service",
                    format!("'{}' names {}: give the key", q.service, keys.join(", ")),
                ));
            }
        },
        Err(ApiError::NotFound(_)) => service_key_of(&q.service),
        Err(e) => return Err(e),
    };
    let radius = stores.topology.blast_radius(&key, depth).await?;
    let keys: Vec<String> = radius.nodes.iter().map(|n| n.key.clone()).collect();
    let mut calls = stores.topology.edge_calls(&keys).await?;
    calls.retain(|c| keys.contains(&c.edge.from) && keys.contains(&c.edge.to));
    Ok(Json(RadiusView { service_key: key, depth, reference: radius.reference, nodes: radius.nodes, calls }))
}
