//! The semantic port on Qdrant over gRPC (`qdrant-client`): cosine collections,
//! UUID point ids, JSON payloads, and payload filters turned into Qdrant `must`
//! conditions (`match any` per key). The data model's collections get keyword payload
//! indexes on the fields searches filter by.
//!
//! Projects share collections: every point's payload carries `project` (indexed in
//! every collection) and every search adds a `must` condition on it. A point's
//! Qdrant id is derived from `(project, id)` (`point_id`), so two projects never
//! overwrite each other; the caller's id travels in the payload (`POINT_ID_FIELD`)
//! and both fields are taken out of the payloads a search returns.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{ProjectId, SemanticHit, VectorPoint, collections};
use inquest_ports::{ErrorKind, PayloadFilter, SemanticStore, StoreError, StoreResult, StoredPoint};
use qdrant_client::qdrant::{
    Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType,
    Filter, PointId, PointStruct, RetrievedPoint, ScrollPointsBuilder, SearchPointsBuilder, UpsertPointsBuilder,
    VectorParamsBuilder, condition::ConditionOneOf, r#match::MatchValue, point_id::PointIdOptions, vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::Value;
use tokio::sync::RwLock;

/// Name reported as the backend and used as evidence `source`.
pub const BACKEND: &str = "qdrant";

/// Keyword payload fields of the data model's collections (`schemas/qdrant/collections.json`).
pub const KEYWORD_FIELDS: &[(&str, &[&str])] = &[
    (
        collections::GIT_DIFF_CHUNKS,
        &["repo", "sha", "path", "hunk_id", "deployment_event_id", "service_key", "change_type", "embedding_model"],
    ),
    (collections::RUNBOOKS, &["service_key", "tags", "source_url", "embedding_model"]),
    (collections::INCIDENT_SUMMARIES, &["incident_id", "service_key", "hypothesis_type", "embedding_model"]),
];

/// The payload field naming a point's project, indexed in every collection.
pub const PROJECT_FIELD: &str = "project";

/// The payload field keeping the id the caller gave a point.
pub const POINT_ID_FIELD: &str = "inquest_point_id";

/// Qdrant's id of point `id` of `project`: a UUID v5, so the same id in two
/// projects names two points.
pub fn point_id(project: &ProjectId, id: uuid::Uuid) -> uuid::Uuid {
    // A fixed namespace of Inquest's own ("inquest:qdrant" hashed once).
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1c_9f4e_5b2d_4f0a_9c3e_7d81_2b6f_0e54);
    uuid::Uuid::new_v5(&NAMESPACE, format!("{project}\u{1f}{id}").as_bytes())
}

/// Points per upsert or delete request.
const UPSERT_CHUNK: usize = 256;

/// Points per scroll page.
const SCROLL_PAGE: u32 = 256;

/// The semantic port of one project on one Qdrant server.
#[derive(Clone)]
pub struct QdrantStore {
    client: Arc<Qdrant>,
    url: String,
    /// Collection dimensions already read from the server.
    dims: Arc<RwLock<HashMap<String, u64>>>,
    project: ProjectId,
}

impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore").field("url", &self.url).field("project", &self.project).finish()
    }
}

fn err(kind: ErrorKind, operation: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::new(kind, BACKEND, operation, message)
}

fn q_err(operation: &str, e: QdrantError) -> StoreError {
    use tonic::Code;
    let kind = match &e {
        QdrantError::ResponseError { status } => match status.code() {
            Code::NotFound => ErrorKind::NotFound,
            Code::InvalidArgument => ErrorKind::InvalidInput,
            Code::DeadlineExceeded => ErrorKind::Timeout,
            Code::Unavailable => ErrorKind::Unavailable,
            Code::Unauthenticated | Code::PermissionDenied => {
                return err(ErrorKind::Unavailable, operation, format!("qdrant rejected the api key: {e}"));
            }
            _ => ErrorKind::Internal,
        },
        QdrantError::ResourceExhaustedError { .. } => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    err(kind, operation, e)
}

/// `scheme://host:port` of a URL, for messages.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{}", rest.split(['/', '?']).next().unwrap_or_default())
}

impl QdrantStore {
    /// A client for the gRPC endpoint at `url` (`http://host:6334`), with an
    /// optional API key. No request is made.
    pub fn new(url: &str, api_key: Option<String>) -> StoreResult<Self> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(std::time::Duration::from_secs(30))
            .connect_timeout(std::time::Duration::from_secs(10))
            // The check runs a request at build time and only warns; connectivity
            // is checked explicitly instead.
            .skip_compatibility_check()
            .build()
            .map_err(|e| err(ErrorKind::InvalidInput, "connect", format!("{}: {e}", redact(url))))?;
        Ok(Self {
            client: Arc::new(client),
            url: redact(url),
            dims: Arc::default(),
            project: ProjectId::default_project(),
        })
    }

    /// [`QdrantStore::new`], then a connectivity check.
    pub async fn connect(url: &str, api_key: Option<String>) -> StoreResult<Self> {
        let store = Self::new(url, api_key)?;
        store.check_connectivity().await?;
        Ok(store)
    }

    /// The server's version, as its health check reports it.
    pub async fn server_version(&self) -> StoreResult<String> {
        let reply = self.client.health_check().await.map_err(|e| {
            err(
                ErrorKind::Unavailable,
                "check_connectivity",
                format!("cannot reach qdrant (grpc) at {}: {e}", self.url),
            )
        })?;
        Ok(reply.version)
    }

    /// Delete a collection (tests remove their random collections with it).
    pub async fn delete_collection(&self, name: &str) -> StoreResult<()> {
        self.client.delete_collection(name).await.map_err(|e| q_err("delete_collection", e))?;
        self.dims.write().await.remove(name);
        Ok(())
    }

    /// Dimension of an existing collection, `None` when it does not exist.
    async fn dimension(&self, name: &str, op: &str) -> StoreResult<Option<u64>> {
        if let Some(d) = self.dims.read().await.get(name) {
            return Ok(Some(*d));
        }
        if !self.client.collection_exists(name).await.map_err(|e| q_err(op, e))? {
            return Ok(None);
        }
        let info = self.client.collection_info(name).await.map_err(|e| q_err(op, e))?;
        let dim = info
            .result
            .and_then(|i| i.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                vectors_config::Config::Params(p) => Some(p.size),
                vectors_config::Config::ParamsMap(_) => None,
            })
            .ok_or_else(|| {
                err(ErrorKind::InvalidInput, op, format!("collection {name} has named vectors, not one unnamed vector"))
            })?;
        self.dims.write().await.insert(name.to_string(), dim);
        Ok(Some(dim))
    }
}

/// The Qdrant filter of a search in `project`: the project, then every key of
/// the payload filter matching one of its values.
pub fn project_filter(project: &ProjectId, filter: &PayloadFilter) -> Filter {
    let mut conditions = vec![field_condition(PROJECT_FIELD, MatchValue::Keyword(project.to_string()))];
    conditions.extend(filter.must.iter().map(|(key, values)| key_condition(key, values)));
    Filter::must(conditions)
}

/// The Qdrant filter for a payload filter: every key must match one of its values.
pub fn to_filter(filter: &PayloadFilter) -> Option<Filter> {
    if filter.must.is_empty() {
        return None;
    }
    let conditions: Vec<Condition> = filter.must.iter().map(|(key, values)| key_condition(key, values)).collect();
    Some(Filter::must(conditions))
}

fn field_condition(key: &str, value: MatchValue) -> Condition {
    Condition::matches(key, value)
}

fn key_condition(key: &str, values: &[Value]) -> Condition {
    let strings: Option<Vec<String>> = values.iter().map(|v| v.as_str().map(str::to_string)).collect();
    let ints: Option<Vec<i64>> = values.iter().map(Value::as_i64).collect();
    match (strings, ints) {
        (Some(s), _) if !s.is_empty() => {
            field_condition(key, MatchValue::Keywords(qdrant_client::qdrant::RepeatedStrings { strings: s }))
        }
        (_, Some(i)) if !i.is_empty() => {
            field_condition(key, MatchValue::Integers(qdrant_client::qdrant::RepeatedIntegers { integers: i }))
        }
        _ => {
            // Mixed or other values: any one of them, each matched on its own.
            let alternatives: Vec<Condition> = values
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(field_condition(key, MatchValue::Keyword(s.clone()))),
                    Value::Bool(b) => Some(field_condition(key, MatchValue::Boolean(*b))),
                    Value::Number(n) => n.as_i64().map(|i| field_condition(key, MatchValue::Integer(i))),
                    _ => None,
                })
                .collect();
            // An empty `should` would match everything; nothing matches instead
            // (the key both empty and not empty), as in the embedded store.
            if alternatives.is_empty() {
                let never = Filter {
                    must: vec![Condition::is_empty(key)],
                    must_not: vec![Condition::is_empty(key)],
                    ..Default::default()
                };
                return Condition { condition_one_of: Some(ConditionOneOf::Filter(never)) };
            }
            Condition { condition_one_of: Some(ConditionOneOf::Filter(Filter::should(alternatives))) }
        }
    }
}

#[async_trait]
impl SemanticStore for QdrantStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        &self.project
    }

    fn scoped(&self, project: &ProjectId) -> Arc<dyn SemanticStore> {
        Arc::new(QdrantStore { project: project.clone(), ..self.clone() })
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let version = self.server_version().await?;
        tracing::debug!(url = %self.url, version = %version, "qdrant reachable");
        Ok(())
    }

    async fn ensure_collection(&self, name: &str, dim: usize) -> StoreResult<()> {
        let op = "ensure_collection";
        match self.dimension(name, op).await? {
            Some(d) if d != dim as u64 => Err(err(
                ErrorKind::InvalidInput,
                op,
                format!(
                    "collection {name} has dimension {d}, not {dim}: the embedding model changed; recreate the collection or re-embed"
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.client
                    .create_collection(
                        CreateCollectionBuilder::new(name)
                            .vectors_config(VectorParamsBuilder::new(dim as u64, Distance::Cosine)),
                    )
                    .await
                    .map_err(|e| q_err(op, e))?;
                let fields = KEYWORD_FIELDS.iter().find(|(c, _)| *c == name).map(|(_, f)| *f).unwrap_or_default();
                // Every search filters by project, in every collection.
                for field in std::iter::once(&PROJECT_FIELD).chain(fields) {
                    self.client
                        .create_field_index(
                            CreateFieldIndexCollectionBuilder::new(name, *field, FieldType::Keyword).wait(true),
                        )
                        .await
                        .map_err(|e| q_err(op, e))?;
                }
                self.dims.write().await.insert(name.to_string(), dim as u64);
                tracing::info!(collection = name, dim, "qdrant collection created");
                Ok(())
            }
        }
    }

    async fn upsert(&self, collection: &str, points: &[VectorPoint]) -> StoreResult<()> {
        let op = "upsert";
        let dim = self
            .dimension(collection, op)
            .await?
            .ok_or_else(|| err(ErrorKind::NotFound, op, format!("collection {collection} does not exist")))?;
        if let Some(p) = points.iter().find(|p| p.vector.len() as u64 != dim) {
            return Err(err(
                ErrorKind::InvalidInput,
                op,
                format!("point {} has {} dimensions, collection {collection} has {dim}", p.id, p.vector.len()),
            ));
        }
        for chunk in points.chunks(UPSERT_CHUNK) {
            let structs: Vec<PointStruct> = chunk
                .iter()
                .map(|p| {
                    let mut payload = p.payload.clone();
                    payload.insert(PROJECT_FIELD.into(), Value::from(self.project.as_str()));
                    payload.insert(POINT_ID_FIELD.into(), Value::from(p.id.to_string()));
                    let id = point_id(&self.project, p.id);
                    PointStruct::new(id.to_string(), p.vector.clone(), Payload::from(payload))
                })
                .collect();
            self.client
                .upsert_points(UpsertPointsBuilder::new(collection, structs).wait(true))
                .await
                .map_err(|e| q_err(op, e))?;
        }
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &PayloadFilter,
        limit: usize,
    ) -> StoreResult<Vec<SemanticHit>> {
        let op = "search";
        if self.dimension(collection, op).await?.is_none() {
            return Ok(Vec::new());
        }
        let request = SearchPointsBuilder::new(collection, vector.to_vec(), limit as u64)
            .with_payload(true)
            .filter(project_filter(&self.project, filter));
        let reply = self.client.search_points(request).await.map_err(|e| q_err(op, e))?;
        let mut hits = Vec::with_capacity(reply.result.len());
        for p in reply.result {
            let (id, payload) = caller_point(p.id, p.payload, collection, op)?;
            hits.push(SemanticHit { collection: collection.to_string(), id, score: p.score, payload });
        }
        // Qdrant orders by score; equal scores by id, as the embedded store does.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(hits)
    }

    async fn points(&self, collection: &str, filter: &PayloadFilter, limit: usize) -> StoreResult<Vec<StoredPoint>> {
        let op = "points";
        if limit == 0 || self.dimension(collection, op).await?.is_none() {
            return Ok(Vec::new());
        }
        // Qdrant's ids derive from (project, id), so its order is not the callers' ids'
        // order: every match is read, then sorted.
        let mut out = Vec::new();
        for p in self.scroll(collection, filter, true, op).await? {
            let (id, payload) = caller_point(p.id, p.payload, collection, op)?;
            out.push(StoredPoint { id, payload });
        }
        out.sort_by_key(|p| p.id);
        out.truncate(limit);
        Ok(out)
    }

    async fn delete(&self, collection: &str, filter: &PayloadFilter) -> StoreResult<u64> {
        let op = "delete";
        if self.dimension(collection, op).await?.is_none() {
            return Ok(0);
        }
        // The ids first, then exactly those: the count is what was removed, and the
        // project condition holds even if the filter were empty.
        let ids: Vec<PointId> =
            self.scroll(collection, filter, false, op).await?.into_iter().filter_map(|p| p.id).collect();
        for chunk in ids.chunks(UPSERT_CHUNK) {
            self.client
                .delete_points(DeletePointsBuilder::new(collection).points(chunk.to_vec()).wait(true))
                .await
                .map_err(|e| q_err(op, e))?;
        }
        Ok(ids.len() as u64)
    }
}

impl QdrantStore {
    /// Every point of this project in `collection` matching `filter`, without vectors,
    /// page by page.
    async fn scroll(
        &self,
        collection: &str,
        filter: &PayloadFilter,
        with_payload: bool,
        op: &str,
    ) -> StoreResult<Vec<RetrievedPoint>> {
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(collection)
                .filter(project_filter(&self.project, filter))
                .limit(SCROLL_PAGE)
                .with_payload(with_payload)
                .with_vectors(false);
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let reply = self.client.scroll(request).await.map_err(|e| q_err(op, e))?;
            out.extend(reply.result);
            match reply.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }
}

/// The caller's id and payload of a point read back: the project and the kept id
/// are taken out of the payload.
fn caller_point(
    qdrant_id: Option<PointId>,
    payload: HashMap<String, qdrant_client::qdrant::Value>,
    collection: &str,
    op: &str,
) -> StoreResult<(uuid::Uuid, serde_json::Map<String, Value>)> {
    let id = match qdrant_id.and_then(|i| i.point_id_options) {
        Some(PointIdOptions::Uuid(s)) => uuid::Uuid::parse_str(&s)
            .map_err(|e| err(ErrorKind::Internal, op, format!("point id {s} is not a uuid: {e}")))?,
        Some(PointIdOptions::Num(n)) => {
            return Err(err(
                ErrorKind::Internal,
                op,
                format!("point id {n} in {collection} is numeric; inquest writes uuids"),
            ));
        }
        None => return Err(err(ErrorKind::Internal, op, "point without an id")),
    };
    let mut payload: serde_json::Map<String, Value> =
        payload.into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect();
    payload.remove(PROJECT_FIELD);
    // The id the caller gave the point (every point inquest writes keeps it).
    let id = match payload.remove(POINT_ID_FIELD).as_ref().and_then(Value::as_str) {
        Some(s) => uuid::Uuid::parse_str(s)
            .map_err(|e| err(ErrorKind::Internal, op, format!("point id {s} is not a uuid: {e}")))?,
        None => id,
    };
    Ok((id, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_become_match_any_conditions() {
        assert!(to_filter(&PayloadFilter::default()).is_none());
        let f = PayloadFilter::default()
            .any_of("service_key", vec![json!("prod/pay/api"), json!("prod/pay/db")])
            .any_of("rank", vec![json!(1), json!(2)]);
        let filter = to_filter(&f).expect("filter");
        assert_eq!(filter.must.len(), 2);
        let text = format!("{filter:?}");
        assert!(text.contains("Keywords") && text.contains("prod/pay/api"), "{text}");
        assert!(text.contains("Integers"), "{text}");
        let mixed = to_filter(&PayloadFilter::default().any_of("k", vec![json!("a"), json!(true)])).expect("filter");
        assert!(format!("{mixed:?}").contains("should"), "{mixed:?}");
    }

    #[test]
    fn a_search_always_names_its_project_and_ids_differ_by_project() {
        let a = ProjectId::new("a").expect("id");
        let b = ProjectId::new("b").expect("id");
        let filter = project_filter(&a, &PayloadFilter::default());
        assert_eq!(filter.must.len(), 1);
        assert!(format!("{filter:?}").contains("project"), "{filter:?}");
        let with_key = project_filter(&a, &PayloadFilter::default().any_of("service_key", vec![json!("x")]));
        assert_eq!(with_key.must.len(), 2);
        let id = uuid::Uuid::new_v4();
        assert_ne!(point_id(&a, id), point_id(&b, id));
        assert_eq!(point_id(&a, id), point_id(&a, id));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact("http://key@qdrant.local:6334/x"), "http://qdrant.local:6334");
    }
}
