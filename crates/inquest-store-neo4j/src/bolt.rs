//! The production executor: statements sent to Neo4j over Bolt with `neo4rs`.

use async_trait::async_trait;
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use neo4rs::{BoltBoolean, BoltFloat, BoltInteger, BoltList, BoltMap, BoltNull, BoltString, BoltType, Graph};
use serde_json::Value;

use crate::cypher::Statement;
use crate::{CypherExecutor, CypherRow, err};

/// Neo4j over Bolt.
pub struct BoltExecutor {
    graph: Graph,
    uri: String,
}

fn bolt_err(operation: &str, e: neo4rs::Error) -> StoreError {
    use neo4rs::Error as E;
    match &e {
        E::IOError { .. } | E::ConnectionError | E::UnexpectedMessage(_) => {
            err(ErrorKind::Unavailable, operation, format!("cannot talk to neo4j: {e}"))
        }
        E::AuthenticationError(_) => err(
            ErrorKind::Unavailable,
            operation,
            format!("neo4j rejected the credentials (check user and password): {e}"),
        ),
        E::UnsupportedVersion(_) => err(
            ErrorKind::Unavailable,
            operation,
            format!("the server does not speak bolt 4.x (neo4rs needs a neo4j 4.4 or 5 server): {e}"),
        ),
        _ => err(ErrorKind::Internal, operation, e),
    }
}

impl BoltExecutor {
    pub async fn connect(uri: &str, user: &str, password: &str) -> StoreResult<Self> {
        // A plain TCP probe first: neo4rs retries a refused connection for about
        // 30 s before failing, and its error says less than the socket's.
        let addr = host_port(uri);
        match tokio::time::timeout(std::time::Duration::from_secs(5), tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(err(ErrorKind::Unavailable, "connect", format!("cannot connect to neo4j at {addr}: {e}")));
            }
            Err(_) => {
                return Err(err(ErrorKind::Timeout, "connect", format!("no answer from neo4j at {addr} within 5 s")));
            }
        }
        let graph = tokio::time::timeout(std::time::Duration::from_secs(15), Graph::new(uri, user, password))
            .await
            .map_err(|_| err(ErrorKind::Timeout, "connect", format!("no answer from neo4j at {addr} within 15 s")))?
            .map_err(|e| bolt_err("connect", e))?;
        Ok(Self { graph, uri: uri.to_string() })
    }
}

/// `host:port` of a Bolt URI (`bolt://user@host:7687/db`), port 7687 by default.
fn host_port(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host.to_string()
    } else {
        format!("{host}:7687")
    }
}

/// A JSON value as a Bolt parameter.
pub fn to_bolt(v: &Value) -> BoltType {
    match v {
        Value::Null => BoltType::Null(BoltNull),
        Value::Bool(b) => BoltType::Boolean(BoltBoolean::new(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => BoltType::Integer(BoltInteger::new(i)),
            None => BoltType::Float(BoltFloat::new(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => BoltType::String(BoltString::new(s)),
        Value::Array(a) => {
            let mut list = BoltList::with_capacity(a.len());
            a.iter().for_each(|x| list.push(to_bolt(x)));
            BoltType::List(list)
        }
        Value::Object(o) => {
            let mut map = BoltMap::with_capacity(o.len());
            o.iter().for_each(|(k, x)| map.put(BoltString::new(k), to_bolt(x)));
            BoltType::Map(map)
        }
    }
}

fn to_query(s: &Statement) -> neo4rs::Query {
    s.params.iter().fold(neo4rs::query(&s.text), |q, (k, v)| q.param(k, to_bolt(v)))
}

#[async_trait]
impl CypherExecutor for BoltExecutor {
    fn describe(&self) -> String {
        self.uri.rsplit_once('@').map_or(self.uri.clone(), |(scheme_user, host)| {
            let scheme = scheme_user.split("://").next().unwrap_or("bolt");
            format!("{scheme}://{host}")
        })
    }

    async fn query(&self, statement: &Statement) -> StoreResult<Vec<CypherRow>> {
        let op = "query";
        let mut stream = self.graph.execute(to_query(statement)).await.map_err(|e| bolt_err(op, e))?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await.map_err(|e| bolt_err(op, e))? {
            let mut out = CypherRow::new();
            for col in statement.columns {
                let v: Value = row.get(col).map_err(|e| err(ErrorKind::Internal, op, format!("column {col}: {e}")))?;
                out.insert(col.to_string(), v);
            }
            rows.push(out);
        }
        Ok(rows)
    }

    async fn write(&self, statements: &[Statement]) -> StoreResult<()> {
        let op = "write";
        if statements.is_empty() {
            return Ok(());
        }
        let mut txn = self.graph.start_txn().await.map_err(|e| bolt_err(op, e))?;
        for s in statements {
            if let Err(e) = txn.run(to_query(s)).await {
                let _ = txn.rollback().await;
                return Err(bolt_err(op, e));
            }
        }
        txn.commit().await.map_err(|e| bolt_err(op, e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bolt_uris_give_host_and_port() {
        assert_eq!(super::host_port("bolt://127.0.0.1:7687"), "127.0.0.1:7687");
        assert_eq!(super::host_port("neo4j://neo4j:secret@graph.local/db"), "graph.local:7687");
    }
}
