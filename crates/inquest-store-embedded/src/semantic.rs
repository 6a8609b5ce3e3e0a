//! The semantic port on the embedded store: exact cosine search over a collection.

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{PayloadFilter, SemanticStore, StoreResult, StoredPoint, cosine};
use redb::ReadableTable;

use crate::*;

#[async_trait]
impl SemanticStore for EmbeddedStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        self.project_id()
    }

    fn scoped(&self, project: &ProjectId) -> std::sync::Arc<dyn SemanticStore> {
        std::sync::Arc::new(self.in_project(project))
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.check()
    }

    async fn ensure_collection(&self, name: &str, dim: usize) -> StoreResult<()> {
        let op = "ensure_collection";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(COLLECTIONS).map_err(|e| store_err(op, e))?;
            let existing = t.get(name).map_err(|e| store_err(op, e))?.map(|v| v.value());
            match existing {
                Some(d) if d != dim as u64 => {
                    return Err(StoreError::new(
                        ErrorKind::InvalidInput,
                        BACKEND,
                        op,
                        format!(
                            "collection {name} has dimension {d}, not {dim}: the embedding model changed; recreate the store or re-embed"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    t.insert(name, dim as u64).map_err(|e| store_err(op, e))?;
                }
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn upsert(&self, collection: &str, points: &[VectorPoint]) -> StoreResult<()> {
        let op = "upsert";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let dims = txn.open_table(COLLECTIONS).map_err(|e| store_err(op, e))?;
            let dim = dims.get(collection).map_err(|e| store_err(op, e))?.map(|v| v.value()).ok_or_else(|| {
                StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("collection {collection} does not exist"))
            })?;
            let mut t = txn.open_table(VECTORS).map_err(|e| store_err(op, e))?;
            // Collections (a dimension) are shared; their points belong to a project.
            let scoped = self.key(collection);
            for p in points {
                if p.vector.len() as u64 != dim {
                    return Err(StoreError::new(
                        ErrorKind::InvalidInput,
                        BACKEND,
                        op,
                        format!("point {} has {} dimensions, collection {collection} has {dim}", p.id, p.vector.len()),
                    ));
                }
                let bytes = to_json(op, p)?;
                t.insert((scoped.as_str(), p.id.to_string().as_str()), bytes.as_slice())
                    .map_err(|e| store_err(op, e))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &PayloadFilter,
        limit: usize,
    ) -> StoreResult<Vec<SemanticHit>> {
        let points: Vec<VectorPoint> = self.with_prefix(VECTORS, collection, "search")?;
        let mut hits: Vec<SemanticHit> = points
            .into_iter()
            .filter(|p| filter.matches(&p.payload))
            .map(|p| SemanticHit {
                collection: collection.to_string(),
                id: p.id,
                score: cosine(vector, &p.vector),
                payload: p.payload,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        Ok(hits)
    }

    async fn points(&self, collection: &str, filter: &PayloadFilter, limit: usize) -> StoreResult<Vec<StoredPoint>> {
        let points: Vec<VectorPoint> = self.with_prefix(VECTORS, collection, "points")?;
        let mut out: Vec<StoredPoint> = points
            .into_iter()
            .filter(|p| filter.matches(&p.payload))
            .map(|p| StoredPoint { id: p.id, payload: p.payload })
            .collect();
        out.sort_by_key(|p| p.id);
        out.truncate(limit);
        Ok(out)
    }

    async fn delete(&self, collection: &str, filter: &PayloadFilter) -> StoreResult<u64> {
        let op = "delete";
        let scoped = self.key(collection);
        let scoped = scoped.as_str();
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        let mut removed = 0u64;
        {
            let mut t = txn.open_table(VECTORS).map_err(|e| store_err(op, e))?;
            let mut doomed = Vec::new();
            for row in t.range((scoped, "")..=(scoped, MAX_STR)).map_err(|e| store_err(op, e))? {
                let (k, v) = row.map_err(|e| store_err(op, e))?;
                let point: VectorPoint = from_json(op, v.value())?;
                if filter.matches(&point.payload) {
                    doomed.push(k.value().1.to_string());
                }
            }
            for id in &doomed {
                t.remove((scoped, id.as_str())).map_err(|e| store_err(op, e))?;
                removed += 1;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(removed)
    }
}
