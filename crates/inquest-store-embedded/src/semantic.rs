//! The semantic port on the embedded store: exact cosine search over a collection.

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{PayloadFilter, SemanticStore, StoreResult, cosine};
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
}
