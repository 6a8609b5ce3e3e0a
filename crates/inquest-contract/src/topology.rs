//! The topology-port contract: every `TopologyStore` must pass it. Keys carry a
//! fresh prefix, so it can run on a shared graph; it panics on the first broken
//! promise, naming it.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use inquest_domain::{
    Commit, DependsOn, DeployType, DeploymentEvent, DeploymentId, EdgeCalls, NodeKind, ServiceId, TopologyNode,
};
use inquest_ports::{Direction, ErrorKind, Reach, SourceReplaced, TopologyStore};

fn node(key: &str, kind: NodeKind, detail: Option<&str>) -> TopologyNode {
    TopologyNode { key: key.to_string(), kind, detail: detail.map(str::to_string) }
}

fn edge(from: &str, to: &str) -> DependsOn {
    DependsOn { from: from.to_string(), to: to.to_string() }
}

fn commit(sha: &str) -> Commit {
    let at = Utc.with_ymd_and_hms(2026, 3, 14, 8, 0, 0).single().unwrap_or_default();
    Commit {
        commit_sha: sha.to_string(),
        repo: "github.com/acme/payments".to_string(),
        author: Some("dev@acme.test".to_string()),
        message: "tune pool".to_string(),
        summary: None,
        authored_at: at,
        created_at: at,
    }
}

fn deployment() -> DeploymentEvent {
    DeploymentEvent {
        deployment_event_id: DeploymentId(uuid::Uuid::new_v4()),
        service_id: ServiceId(uuid::Uuid::new_v4()),
        started_at: Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).single().unwrap_or_default(),
        finished_at: None,
        deploy_type: DeployType::K8s,
        image_ref: Some("registry/acme/api:1.2.3".to_string()),
        revision: Some("42".to_string()),
        metadata: serde_json::json!({}),
    }
}

fn sorted(mut nodes: Vec<Reach>) -> Vec<(String, NodeKind, u32, Direction)> {
    nodes.sort_by(|a, b| a.key.cmp(&b.key));
    nodes.into_iter().map(|r| (r.key, r.kind, r.distance, r.direction)).collect()
}

pub async fn topology_contract(store: Arc<dyn TopologyStore>) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let k = |name: &str| format!("c{run}/shop/{name}");
    let (gateway, web, api, ledger, cache, pg, stripe, loop_back, far) = (
        k("gateway"),
        k("web"),
        k("api"),
        k("ledger"),
        k("cache"),
        k("postgres"),
        k("stripe"),
        k("auditor"),
        k("archiver"),
    );

    store.check_connectivity().await.expect("check_connectivity on a working store");

    let nodes = vec![
        node(&gateway, NodeKind::Service, None),
        node(&web, NodeKind::Service, None),
        node(&api, NodeKind::Service, None),
        node(&ledger, NodeKind::Service, None),
        node(&cache, NodeKind::Service, None),
        node(&pg, NodeKind::Database, Some("postgres")),
        node(&stripe, NodeKind::Dependency, Some("http")),
        node(&loop_back, NodeKind::Service, None),
        node(&far, NodeKind::Service, None),
    ];
    store.upsert_nodes(&nodes).await.expect("upsert_nodes");
    // Upserting again (a reload) must not duplicate anything.
    store.upsert_nodes(&nodes).await.expect("upsert_nodes again");

    // gateway -> web -> api -> ledger -> pg ; api -> stripe ; api -> cache ;
    // api -> auditor -> web (auditor is downstream at 2 and upstream at 2 via web);
    // postgres -> archiver (replication; downstream of api at 3).
    let edges = vec![
        edge(&gateway, &web),
        edge(&web, &api),
        edge(&api, &ledger),
        edge(&ledger, &pg),
        edge(&api, &stripe),
        edge(&api, &cache),
        edge(&api, &loop_back),
        edge(&loop_back, &web),
        edge(&pg, &far),
    ];
    store.upsert_edges(&edges).await.expect("upsert_edges");
    store.upsert_edges(&edges).await.expect("upsert_edges again");
    store.upsert_edges(&[]).await.expect("upsert no edges");

    let r = store.blast_radius(&api, 2).await.expect("blast_radius depth 2");
    assert!(!r.reference.is_empty(), "blast radius reference must not be empty");
    assert_eq!(
        r.nodes.first().map(|n| (n.key.as_str(), n.direction, n.distance)),
        Some((api.as_str(), Direction::Origin, 0)),
        "origin first"
    );
    let want = vec![
        (api.clone(), NodeKind::Service, 0, Direction::Origin),
        (loop_back.clone(), NodeKind::Service, 1, Direction::Downstream),
        (cache.clone(), NodeKind::Service, 1, Direction::Downstream),
        (gateway.clone(), NodeKind::Service, 2, Direction::Upstream),
        (ledger.clone(), NodeKind::Service, 1, Direction::Downstream),
        (pg.clone(), NodeKind::Database, 2, Direction::Downstream),
        (stripe.clone(), NodeKind::Dependency, 1, Direction::Downstream),
        // web is upstream at 1 and downstream at 2 (api -> auditor -> web): downstream wins.
        (web.clone(), NodeKind::Service, 2, Direction::Downstream),
    ];
    let mut want_sorted = want.clone();
    want_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sorted(r.nodes.clone()), want_sorted, "blast radius of api at depth 2");
    // The edges between the nodes of the radius come with it, sorted; pg -> archiver
    // leaves the radius and is not among them.
    let mut want_edges: Vec<(String, String)> =
        edges.iter().filter(|e| e.to != far).map(|e| (e.from.clone(), e.to.clone())).collect();
    want_edges.sort();
    let got_edges: Vec<(String, String)> = r.edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect();
    assert_eq!(got_edges, want_edges, "edges among the radius at depth 2");
    let keys: Vec<&str> = r.nodes.iter().map(|n| n.key.as_str()).collect();
    let mut dedup = keys.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), keys.len(), "each node once: {keys:?}");

    // Depth bounds the walk: archiver is 3 hops down.
    let r3 = store.blast_radius(&api, 3).await.expect("blast_radius depth 3");
    assert!(
        r3.nodes.iter().any(|n| n.key == far && n.distance == 3 && n.direction == Direction::Downstream),
        "depth 3 reaches archiver"
    );
    let r1 = store.blast_radius(&api, 1).await.expect("blast_radius depth 1");
    let mut got1: Vec<String> = r1.nodes.iter().map(|n| n.key.clone()).collect();
    got1.sort();
    let mut want1 = vec![api.clone(), ledger.clone(), stripe.clone(), cache.clone(), loop_back.clone(), web.clone()];
    want1.sort();
    assert_eq!(got1, want1, "depth 1: direct neighbours both ways");
    assert!(
        r1.nodes.iter().any(|n| n.key == web && n.direction == Direction::Upstream && n.distance == 1),
        "web upstream at depth 1"
    );
    let r0 = store.blast_radius(&api, 0).await.expect("blast_radius depth 0");
    assert_eq!(
        sorted(r0.nodes),
        vec![(api.clone(), NodeKind::Service, 0, Direction::Origin)],
        "depth 0: the origin alone"
    );

    // From the database: its users upstream, what it replicates to downstream.
    let rdb = store.blast_radius(&pg, 2).await.expect("blast_radius of a database");
    assert_eq!(rdb.nodes[0].kind, NodeKind::Database, "origin keeps its kind");
    let mut want_db = vec![
        (pg.clone(), NodeKind::Database, 0, Direction::Origin),
        (ledger.clone(), NodeKind::Service, 1, Direction::Upstream),
        (api.clone(), NodeKind::Service, 2, Direction::Upstream),
        (far.clone(), NodeKind::Service, 1, Direction::Downstream),
    ];
    want_db.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sorted(rdb.nodes), want_db, "blast radius of the database at depth 2");

    // An unknown service: the origin alone.
    let unknown = k("unknown");
    let ru = store.blast_radius(&unknown, 3).await.expect("blast_radius of unknown");
    assert_eq!(sorted(ru.nodes), vec![(unknown.clone(), NodeKind::Service, 0, Direction::Origin)]);

    // Deployments and the commits that touched services.
    let (c1, c2, c3) = (format!("{run}a1"), format!("{run}b2"), format!("{run}c3"));
    let d1 = deployment();
    store.link_deployment(&api, &d1, &[commit(&c1), commit(&c2)]).await.expect("link_deployment api");
    store.link_deployment(&api, &d1, &[commit(&c1), commit(&c2)]).await.expect("link_deployment api again");
    store.link_deployment(&ledger, &deployment(), &[commit(&c3)]).await.expect("link_deployment ledger");
    store.link_deployment(&web, &deployment(), &[]).await.expect("link_deployment without commits");

    let mut got = store.commits_touching(std::slice::from_ref(&api)).await.expect("commits_touching api");
    got.sort();
    assert_eq!(got, vec![(c1.clone(), api.clone()), (c2.clone(), api.clone())], "commits touching api, once each");
    let mut got =
        store.commits_touching(&[api.clone(), ledger.clone(), web.clone()]).await.expect("commits_touching three");
    got.sort();
    let mut want = vec![(c1.clone(), api.clone()), (c2.clone(), api.clone()), (c3.clone(), ledger.clone())];
    want.sort();
    assert_eq!(got, want, "commits touching api, ledger, web");
    assert!(store.commits_touching(&[]).await.expect("commits_touching none").is_empty());
    assert!(store.commits_touching(std::slice::from_ref(&gateway)).await.expect("commits_touching gateway").is_empty());

    // Linking deployments leaves the dependency graph as it was.
    let again = store.blast_radius(&api, 2).await.expect("blast_radius after deployments");
    assert_eq!(sorted(again.nodes), want_sorted, "deployments and commits are not DEPENDS_ON nodes");

    sources(store.as_ref(), &run).await;
    // Sources never touch edges written without one.
    let after = store.blast_radius(&api, 2).await.expect("blast_radius after sources");
    assert_eq!(sorted(after.nodes), want_sorted, "replace_source left the unsourced graph as it was");

    calls(store.as_ref(), &run).await;
}

fn called(from: &str, to: &str, calls: u64, errors: u64) -> EdgeCalls {
    EdgeCalls { edge: edge(from, to), calls, errors }
}

/// `record_calls` adds traced calls to edges (making the edges and their endpoints
/// when new); `edge_calls` reads them back for the edges touching the keys asked for.
async fn calls(store: &dyn TopologyStore, run: &str) {
    let k = |name: &str| format!("t{run}/trace/{name}");
    let (front, cart, db, other) = (k("frontend"), k("cart"), k("redis"), k("other"));
    store.upsert_nodes(&[node(&db, NodeKind::Database, Some("redis"))]).await.expect("a database node");
    store.record_calls(&[]).await.expect("no calls");
    store.record_calls(&[called(&front, &cart, 10, 2), called(&cart, &db, 4, 0)]).await.expect("record_calls");
    store.record_calls(&[called(&front, &cart, 5, 1)]).await.expect("record_calls again");
    let got = store.edge_calls(std::slice::from_ref(&cart)).await.expect("edge_calls of cart");
    assert_eq!(got, vec![called(&cart, &db, 4, 0), called(&front, &cart, 15, 3)], "counts add up, both directions");
    let got = store.edge_calls(std::slice::from_ref(&front)).await.expect("edge_calls of frontend");
    assert_eq!(got, vec![called(&front, &cart, 15, 3)], "only the edges touching the key");
    assert!(store.edge_calls(std::slice::from_ref(&other)).await.expect("edge_calls of other").is_empty());
    assert!(store.edge_calls(&[]).await.expect("edge_calls of nothing").is_empty());
    // The calls made the edges: cart is downstream of frontend, redis kept its kind.
    let r = store.blast_radius(&front, 2).await.expect("blast_radius of frontend");
    let mut want = vec![
        (front.clone(), NodeKind::Service, 0, Direction::Origin),
        (cart.clone(), NodeKind::Service, 1, Direction::Downstream),
        (db.clone(), NodeKind::Database, 2, Direction::Downstream),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sorted(r.nodes), want, "recorded calls are DEPENDS_ON edges");
    // An edge declared by a source and then seen in traces stays when the source drops it.
    let source = format!("contract-{run}-calls");
    store.replace_source(&source, &[], &[edge(&cart, &other)]).await.expect("declare cart -> other");
    store.record_calls(&[called(&cart, &other, 1, 0)]).await.expect("a traced call on it");
    let got = store.replace_source(&source, &[], &[]).await.expect("drop the declaration");
    assert_eq!(got.removed, 0, "a traced edge is not the source's alone");
    let got = store.edge_calls(std::slice::from_ref(&other)).await.expect("edge_calls of other");
    assert_eq!(got, vec![called(&cart, &other, 1, 0)]);
}

/// Keys one hop from `origin` in `direction`.
async fn neighbours(store: &dyn TopologyStore, origin: String, direction: Direction) -> Vec<String> {
    let r = store.blast_radius(&origin, 1).await.expect("blast_radius");
    let mut keys: Vec<String> = r.nodes.into_iter().filter(|n| n.direction == direction).map(|n| n.key).collect();
    keys.sort();
    keys
}

/// `replace_source`: a source's edges are exactly its last declaration; an edge goes
/// when no source declares it any more, unless it was written without a source.
async fn sources(store: &dyn TopologyStore, run: &str) {
    let k = |name: &str| format!("s{run}/mesh/{name}");
    let (x1, x2, x3, x4, x5, x6) = (k("x1"), k("x2"), k("x3"), k("x4"), k("x5"), k("x6"));
    let (a, b) = (format!("contract-{run}-a"), format!("contract-{run}-b"));
    let down = |from: &String| neighbours(store, from.clone(), Direction::Downstream);

    // x1 -> x2 is written without a source first.
    store.upsert_edges(&[edge(&x1, &x2)]).await.expect("upsert_edges");
    let nodes = vec![
        node(&x1, NodeKind::Service, None),
        node(&x2, NodeKind::Service, None),
        node(&x3, NodeKind::Service, None),
        node(&x4, NodeKind::Service, None),
        node(&x5, NodeKind::Database, Some("postgres")),
    ];
    let a_edges = vec![edge(&x1, &x2), edge(&x2, &x3), edge(&x3, &x4), edge(&x2, &x5)];
    let got = store.replace_source(&a, &nodes, &a_edges).await.expect("replace_source a");
    assert_eq!(got, SourceReplaced { nodes: 5, edges: 4, removed: 0 }, "a declares four edges");
    let again = store.replace_source(&a, &nodes, &a_edges).await.expect("replace_source a again");
    assert_eq!(again, SourceReplaced { nodes: 5, edges: 4, removed: 0 }, "the same declaration changes nothing");
    let (b_nodes, b_edges) = (vec![node(&x6, NodeKind::Dependency, None)], vec![edge(&x3, &x4), edge(&x4, &x6)]);
    let got = store.replace_source(&b, &b_nodes, &b_edges).await.expect("replace_source b");
    assert_eq!(got, SourceReplaced { nodes: 1, edges: 2, removed: 0 }, "b declares two edges");
    assert_eq!(down(&x2).await, vec![x3.clone(), x5.clone()], "a's edges are in the graph");
    assert_eq!(down(&x4).await, vec![x6.clone()], "b's edge is in the graph");
    let r = store.blast_radius(&x5, 0).await.expect("blast_radius");
    assert_eq!(r.nodes[0].kind, NodeKind::Database, "replace_source upserts the nodes");

    // a drops x1 -> x2 (also written without a source), x3 -> x4 (b declares it too)
    // and x2 -> x5 (a's alone): only the last goes.
    let got = store.replace_source(&a, &[], &[edge(&x2, &x3)]).await.expect("replace_source a, smaller");
    assert_eq!(got, SourceReplaced { nodes: 0, edges: 1, removed: 1 }, "one edge no one declares any more");
    assert_eq!(down(&x2).await, vec![x3.clone()], "the edge only a declared is gone");
    assert_eq!(down(&x1).await, vec![x2.clone()], "an edge written without a source stays");
    assert_eq!(down(&x3).await, vec![x4.clone()], "an edge of two sources survives one dropping it");

    // b drops everything: x3 -> x4 has no source left now, x4 -> x6 neither.
    let got = store.replace_source(&b, &[], &[]).await.expect("replace_source b, empty");
    assert_eq!(got, SourceReplaced { nodes: 0, edges: 0, removed: 2 }, "b's two edges go");
    assert!(down(&x3).await.is_empty(), "the shared edge goes with its last source");
    assert!(down(&x4).await.is_empty(), "b's own edge is gone");
    // Declaring an edge again after it was removed brings it back.
    let got = store.replace_source(&b, &[], &[edge(&x4, &x6), edge(&x4, &x6)]).await.expect("b again");
    assert_eq!((got.edges, got.removed), (1, 0), "a repeated edge counts once");
    assert_eq!(down(&x4).await, vec![x6.clone()]);

    // A source that never declared anything removes nothing; an edge upserted
    // without a source after a source declared it stays when the source drops it.
    let stranger = format!("contract-{run}-stranger");
    assert_eq!(store.replace_source(&stranger, &[], &[]).await.expect("stranger"), SourceReplaced::default());
    store.upsert_edges(&[edge(&x2, &x3)]).await.expect("upsert an edge a declares");
    let got = store.replace_source(&a, &[], &[]).await.expect("replace_source a, empty");
    assert_eq!(got.removed, 0, "x2 -> x3 was also written without a source");
    assert_eq!(down(&x2).await, vec![x3.clone()], "it stays");
    assert_eq!(down(&x1).await, vec![x2.clone()], "x1 -> x2 stays too");
    let got = store.replace_source(&b, &[], &[]).await.expect("clear b");
    assert_eq!(got.removed, 1);

    let err = store.replace_source("", &[], &[]).await.expect_err("an empty source must be refused");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "an empty source is invalid input: {err}");
}
