//! The adapter, unchanged, with its statements executed by grafeo.

use std::sync::Arc;

use inquest_contract::topology::topology_contract;
use inquest_domain::{NodeKind, TopologyNode};
use inquest_ports::TopologyStore;
use inquest_store_neo4j::Neo4jStore;
use inquest_store_neo4j::cypher::{self, Statement};

use crate::grafeo_exec::GrafeoExecutor;

fn store() -> (Neo4jStore, Arc<GrafeoExecutor>) {
    let exec = Arc::new(GrafeoExecutor::new());
    (Neo4jStore::with_executor(exec.clone()), exec)
}

#[tokio::test]
async fn topology_contract_on_grafeo() {
    let (store, _) = store();
    store.migrate().await.expect("migrate");
    topology_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn two_projects_share_the_graph_without_seeing_each_other() {
    let (store, _) = store();
    store.migrate().await.expect("migrate");
    let (a, b) = inquest_contract::isolation::two_projects();
    inquest_contract::isolation::topology_isolation(Arc::new(store), &a, &b).await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_constraints_hold() {
    let (store, exec) = store();
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate again");
    let create = |project: &str, key: &str| {
        Statement::new("CREATE (:Service {project: $p, service_key: $k})", &[]).param("p", project).param("k", key)
    };
    use inquest_store_neo4j::CypherExecutor;
    exec.write(&[create("default", "a/b/c")]).await.expect("first service");
    let dup = exec.write(&[create("default", "a/b/c")]).await;
    assert!(dup.is_err(), "the (project, service_key) constraint rejects a duplicate Service");
    exec.write(&[create("other", "a/b/c")]).await.expect("the same key in another project");
    let commit = |project: &str| {
        Statement::new("CREATE (:Commit {project: $p, sha: $s})", &[]).param("p", project).param("s", "abc")
    };
    let dup_commit = exec.write(&[commit("default"), commit("default")]).await;
    assert!(dup_commit.is_err(), "the (project, sha) constraint rejects a duplicate Commit");
    // The failed transaction left nothing behind.
    let rows =
        exec.query(&Statement::new("MATCH (c:Commit) RETURN count(c) AS n", &["n"])).await.expect("count commits");
    assert_eq!(rows[0]["n"], serde_json::json!(0), "a failed write is rolled back");
}

#[tokio::test]
async fn nodes_carry_the_seed_properties() {
    use inquest_store_neo4j::CypherExecutor;
    let (store, exec) = store();
    store.migrate().await.expect("migrate");
    store
        .upsert_nodes(&[
            TopologyNode { key: "prod/pay/api".into(), kind: NodeKind::Service, detail: None },
            TopologyNode { key: "prod/pay/pg".into(), kind: NodeKind::Database, detail: Some("postgres".into()) },
            TopologyNode { key: "prod/pay/stripe".into(), kind: NodeKind::Dependency, detail: Some("http".into()) },
        ])
        .await
        .expect("upsert");
    let rows = exec
        .query(
            &Statement::new(
                "MATCH (s:Service {service_key: $k}) RETURN s.cluster_id AS c, s.namespace AS ns, s.name AS n",
                &["c", "ns", "n"],
            )
            .param("k", "prod/pay/api"),
        )
        .await
        .expect("service");
    assert_eq!(
        (rows[0]["c"].as_str(), rows[0]["ns"].as_str(), rows[0]["n"].as_str()),
        (Some("prod"), Some("pay"), Some("api"))
    );
    let rows = exec
        .query(&Statement::new(
            "MATCH (d:Database) RETURN d.name AS n, d.engine AS e, d.service_key AS k",
            &["n", "e", "k"],
        ))
        .await
        .expect("database");
    assert_eq!(
        (rows[0]["n"].as_str(), rows[0]["e"].as_str(), rows[0]["k"].as_str()),
        (Some("pg"), Some("postgres"), Some("prod/pay/pg"))
    );
    let rows =
        exec.query(&Statement::new("MATCH (d:Dependency) RETURN d.kind AS k", &["k"])).await.expect("dependency");
    assert_eq!(rows[0]["k"].as_str(), Some("http"));
}

#[tokio::test]
async fn an_edge_of_a_graph_written_before_sources_is_never_removed() {
    use inquest_store_neo4j::CypherExecutor;
    let (store, exec) = store();
    store.migrate().await.expect("migrate");
    // As the previous build wrote it: a DEPENDS_ON with only its project.
    exec.write(&[Statement::new(
        "CREATE (:Service {project: 'default', service_key: 'p/s/a'})-[:DEPENDS_ON {project: 'default'}]->\
         (:Service {project: 'default', service_key: 'p/s/b'})",
        &[],
    )])
    .await
    .expect("old edge");
    let edge = inquest_domain::DependsOn { from: "p/s/a".into(), to: "p/s/b".into() };
    let got = store.replace_source("k8s", &[], std::slice::from_ref(&edge)).await.expect("declare");
    assert_eq!((got.edges, got.removed), (1, 0));
    let rows = exec
        .query(&Statement::new(
            "MATCH ()-[r:DEPENDS_ON]->() RETURN r.sources AS sources, r.unsourced AS unsourced, count(r) AS n",
            &["sources", "unsourced", "n"],
        ))
        .await
        .expect("edge");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["n"], serde_json::json!(1), "declaring an edge does not duplicate it");
    assert_eq!(rows[0]["sources"], serde_json::json!(["k8s"]));
    assert_eq!(rows[0]["unsourced"], serde_json::json!(true), "the old edge counts as written without a source");
    let got = store.replace_source("k8s", &[], &[]).await.expect("drop");
    assert_eq!(got.removed, 0);
    let radius = store.blast_radius("p/s/a", 1).await.expect("radius");
    assert!(radius.nodes.iter().any(|n| n.key == "p/s/b"), "the old edge stays: {radius:?}");
}

#[test]
fn statements_carry_values_only_as_parameters() {
    for text in [
        cypher::MERGE_SERVICE,
        cypher::MERGE_DEPENDS_ON,
        cypher::MERGE_COMMIT,
        cypher::COMMITS_TOUCHING,
        cypher::ORIGIN,
        cypher::MARK_UNSOURCED,
        cypher::DECLARE_DEPENDS_ON,
        cypher::SOURCE_EDGES,
        cypher::UNDECLARE_DEPENDS_ON,
        cypher::DROP_UNDECLARED,
    ] {
        assert!(!text.contains('\''), "no string literal in {text}");
        assert!(text.contains('$'), "parameters in {text}");
    }
    assert!(cypher::reach(3, true).contains("*1..3]->"), "{}", cypher::reach(3, true));
    assert!(cypher::reach(2, false).contains("<-[:DEPENDS_ON*1..2]-"));
    let r = Neo4jStore::blast_radius_reference("prod/pay/api", 2);
    assert!(r.starts_with("neo4j:cypher {origin: \"prod/pay/api\"}") && r.contains("DEPENDS_ON*1..2"), "{r}");
    let schema: Vec<Statement> = cypher::SCHEMA_FILES.iter().flat_map(|(_, t)| cypher::schema_statements(t)).collect();
    assert_eq!(schema.len(), 12, "{schema:?}");
    let again =
        |s: &Statement| s.text.contains("IF NOT EXISTS") || s.text.contains("IF EXISTS") || s.text.contains("IS NULL");
    assert!(schema.iter().all(again), "every schema statement can run again: {schema:?}");
}
