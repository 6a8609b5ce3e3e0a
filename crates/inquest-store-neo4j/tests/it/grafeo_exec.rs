//! The adapter's statements on grafeo, a real Cypher engine running in-process:
//! a `CypherExecutor` that runs them there instead of sending them over Bolt.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use inquest_store_neo4j::cypher::Statement;
use inquest_store_neo4j::{CypherExecutor, CypherRow};
use serde_json::Value as Json;

pub struct GrafeoExecutor {
    db: grafeo::GrafeoDB,
    /// One writer at a time, as a transaction.
    write_lock: Mutex<()>,
}

impl GrafeoExecutor {
    pub fn new() -> Self {
        Self { db: grafeo::GrafeoDB::new_in_memory(), write_lock: Mutex::new(()) }
    }
}

fn err(operation: &str, statement: &Statement, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, "grafeo", operation, format!("{e}\nstatement: {}", statement.text))
}

fn to_grafeo(v: &Json) -> grafeo::Value {
    match v {
        Json::Null => grafeo::Value::Null,
        Json::Bool(b) => grafeo::Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => grafeo::Value::Int64(i),
            None => grafeo::Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => grafeo::Value::from(s.as_str()),
        Json::Array(a) => grafeo::Value::List(a.iter().map(to_grafeo).collect::<Vec<_>>().into()),
        Json::Object(o) => {
            let mut m = BTreeMap::new();
            for (k, x) in o {
                m.insert(k.as_str().into(), to_grafeo(x));
            }
            grafeo::Value::Map(Arc::new(m))
        }
    }
}

fn to_json(v: &grafeo::Value) -> Json {
    match v {
        grafeo::Value::Null => Json::Null,
        grafeo::Value::Bool(b) => Json::Bool(*b),
        grafeo::Value::Int64(i) => Json::from(*i),
        grafeo::Value::Float64(f) => Json::from(*f),
        grafeo::Value::String(s) => Json::from(s.as_str()),
        grafeo::Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        grafeo::Value::Map(m) => Json::Object(m.iter().map(|(k, x)| (k.as_str().to_string(), to_json(x))).collect()),
        other => Json::from(format!("{other:?}")),
    }
}

fn params(s: &Statement) -> HashMap<String, grafeo::Value> {
    s.params.iter().map(|(k, v)| (k.clone(), to_grafeo(v))).collect()
}

#[async_trait]
impl CypherExecutor for GrafeoExecutor {
    fn describe(&self) -> String {
        "grafeo (in-process)".to_string()
    }

    async fn query(&self, statement: &Statement) -> StoreResult<Vec<CypherRow>> {
        let result = self
            .db
            .execute_cypher_with_params(&statement.text, params(statement))
            .map_err(|e| err("query", statement, e))?;
        let index: Vec<Option<usize>> =
            statement.columns.iter().map(|c| result.columns.iter().position(|rc| rc == c)).collect();
        let mut rows = Vec::new();
        for row in result.rows() {
            let mut out = CypherRow::new();
            for (col, i) in statement.columns.iter().zip(&index) {
                let i = i.ok_or_else(|| err("query", statement, format!("no column {col} in {:?}", result.columns)))?;
                out.insert(col.to_string(), row.get(i).map(to_json).unwrap_or(Json::Null));
            }
            rows.push(out);
        }
        Ok(rows)
    }

    async fn write(&self, statements: &[Statement]) -> StoreResult<()> {
        let _guard = self
            .write_lock
            .lock()
            .map_err(|_| StoreError::new(ErrorKind::Internal, "grafeo", "write", "lock poisoned"))?;
        let mut session = self.db.session();
        session.begin_transaction().map_err(|e| StoreError::new(ErrorKind::Internal, "grafeo", "write", e))?;
        for s in statements {
            if let Err(e) = session.execute_language(&s.text, "cypher", Some(params(s))) {
                let _ = session.rollback();
                return Err(err("write", s, e));
            }
        }
        session.commit().map_err(|e| StoreError::new(ErrorKind::Internal, "grafeo", "write", e))
    }
}
