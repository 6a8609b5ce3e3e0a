//! The semantic-port contract: every `SemanticStore` must pass it. It works in
//! fresh collections named `inquest_contract_<random>` and returns their names,
//! so a caller on a shared server can delete them; it panics on the first
//! broken promise, naming it.

use std::sync::Arc;

use inquest_domain::VectorPoint;
use inquest_ports::{ErrorKind, PayloadFilter, SemanticStore};
use serde_json::{Value, json};

const DIM: usize = 8;

fn unit(v: [f32; DIM]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn payload(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn id(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x1a2b_0000_0000_4000_8000_0000_0000_0000 | n)
}

pub async fn semantic_contract(store: Arc<dyn SemanticStore>) -> Vec<String> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let chunks = format!("inquest_contract_{run}_chunks");
    let other = format!("inquest_contract_{run}_other");

    store.check_connectivity().await.expect("check_connectivity on a working store");
    store.ensure_collection(&chunks, DIM).await.expect("ensure_collection");
    store.ensure_collection(&chunks, DIM).await.expect("ensure_collection again is a no-op");
    let e = store.ensure_collection(&chunks, DIM * 2).await.expect_err("a different dimension must be refused");
    assert_eq!(e.kind, ErrorKind::InvalidInput, "dimension change refused as invalid input: {e}");
    store.ensure_collection(&other, DIM).await.expect("ensure second collection");

    let points = vec![
        VectorPoint {
            id: id(1),
            vector: unit([1.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            payload: payload(json!({
                "service_key": "prod/payments/api", "sha": "a1", "change_type": "modified",
                "tags": ["db", "pool"], "lines": 12, "weight": 0.5, "flag": true,
                "meta": {"hunk": "@@ -1 +1 @@"}, "text": "raise pool size", "embedding_model": "inquest-hash-v1"
            })),
        },
        VectorPoint {
            id: id(2),
            vector: unit([0.9, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1]),
            payload: payload(
                json!({"service_key": "prod/payments/api", "sha": "b2", "change_type": "added", "lines": 3}),
            ),
        },
        VectorPoint {
            id: id(3),
            vector: unit([0.7, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0]),
            payload: payload(
                json!({"service_key": "prod/payments/ledger", "sha": "c3", "change_type": "modified", "lines": 40}),
            ),
        },
        VectorPoint {
            id: id(4),
            vector: unit([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            payload: payload(
                json!({"service_key": "prod/search/api", "sha": "d4", "change_type": "deleted", "lines": 7}),
            ),
        },
        VectorPoint {
            id: id(5),
            vector: unit([0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]),
            payload: payload(
                json!({"service_key": "prod/payments/ledger", "sha": "e5", "change_type": "added", "lines": 3}),
            ),
        },
    ];
    store.upsert(&chunks, &points).await.expect("upsert");
    store.upsert(&chunks, &[]).await.expect("upsert nothing");
    // The same vector in another collection must not show up in this one.
    store.upsert(&other, &points[..1]).await.expect("upsert into the other collection");

    let query = unit([1.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let hits = store.search(&chunks, &query, &PayloadFilter::default(), 10).await.expect("search");
    assert_eq!(hits.len(), 5, "unfiltered search with a large limit returns every point");
    let order: Vec<uuid::Uuid> = hits.iter().map(|h| h.id).collect();
    assert_eq!(order, vec![id(1), id(2), id(3), id(5), id(4)], "hits by descending cosine similarity");
    assert!((hits[0].score - 1.0).abs() < 1e-4, "identical vector scores 1, got {}", hits[0].score);
    assert!(hits[4].score.abs() < 1e-4, "orthogonal vector scores 0, got {}", hits[4].score);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "scores descend");
    assert_eq!(hits[0].collection, chunks);
    assert_eq!(hits[0].reference(), format!("{chunks}/{}", id(1)), "hit reference is <collection>/<point id>");
    assert_eq!(hits[0].payload, points[0].payload, "payload round-trips (strings, numbers, lists, maps, booleans)");

    let limited = store.search(&chunks, &query, &PayloadFilter::default(), 2).await.expect("search limit 2");
    assert_eq!(limited.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id(1), id(2)], "limit keeps the best hits");

    let f =
        PayloadFilter::default().any_of("service_key", vec![json!("prod/payments/ledger"), json!("prod/search/api")]);
    let hits = store.search(&chunks, &query, &f, 10).await.expect("filtered search");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id(3), id(5), id(4)], "match-any filter");

    let f = PayloadFilter::default()
        .any_of("service_key", vec![json!("prod/payments/api"), json!("prod/payments/ledger")])
        .any_of("change_type", vec![json!("added")]);
    let hits = store.search(&chunks, &query, &f, 10).await.expect("two-key filter");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id(2), id(5)], "every key must match");

    let f = PayloadFilter::default().any_of("lines", vec![json!(3), json!(40)]);
    let hits = store.search(&chunks, &query, &f, 10).await.expect("integer filter");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id(2), id(3), id(5)], "integer match-any filter");

    let f = PayloadFilter::default().any_of("service_key", vec![json!("prod/nothing/here")]);
    assert!(store.search(&chunks, &query, &f, 10).await.expect("empty search").is_empty(), "no point matches");
    let f = PayloadFilter::default().any_of("no_such_field", vec![json!("x")]);
    assert!(
        store.search(&chunks, &query, &f, 10).await.expect("missing field").is_empty(),
        "a missing field never matches"
    );

    // Upserting an existing id replaces the point.
    let mut moved = points[3].clone();
    moved.vector = query.clone();
    moved.payload =
        payload(json!({"service_key": "prod/search/api", "sha": "d4", "change_type": "modified", "lines": 8}));
    store.upsert(&chunks, &[moved.clone()]).await.expect("upsert replaces");
    let hits = store.search(&chunks, &query, &PayloadFilter::default(), 10).await.expect("search after replace");
    assert_eq!(hits.len(), 5, "replacing a point does not add one");
    let h4 = hits.iter().find(|h| h.id == id(4)).expect("point 4 still there");
    assert!((h4.score - 1.0).abs() < 1e-4, "replaced vector is used");
    assert_eq!(h4.payload, moved.payload, "replaced payload is used");

    // Wrong dimension and unknown collections.
    let mut short = points[0].clone();
    short.vector = vec![1.0; DIM - 1];
    let e = store.upsert(&chunks, &[short]).await.expect_err("a point of the wrong dimension must be refused");
    assert_eq!(e.kind, ErrorKind::InvalidInput, "wrong dimension refused as invalid input: {e}");
    let missing = format!("inquest_contract_{run}_missing");
    let e = store.upsert(&missing, &points[..1]).await.expect_err("upsert into a missing collection");
    assert_eq!(e.kind, ErrorKind::NotFound, "missing collection is not found: {e}");

    // Points without vectors, in id order, filtered and limited.
    let all = store.points(&chunks, &PayloadFilter::default(), 10).await.expect("points");
    assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id(1), id(2), id(3), id(4), id(5)], "id order");
    assert_eq!(all[0].payload, points[0].payload, "points carry their payload");
    assert_eq!(all[3].payload, moved.payload, "the replaced payload");
    let two = store.points(&chunks, &PayloadFilter::default(), 2).await.expect("points limit 2");
    assert_eq!(two.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id(1), id(2)], "limit keeps the first ids");
    let ledger = PayloadFilter::default().any_of("service_key", vec![json!("prod/payments/ledger")]);
    let got = store.points(&chunks, &ledger, 10).await.expect("filtered points");
    assert_eq!(got.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id(3), id(5)], "filtered points");
    assert!(store.points(&missing, &PayloadFilter::default(), 10).await.expect("absent").is_empty(), "absent: none");
    let in_other = store.points(&other, &PayloadFilter::default(), 10).await.expect("points of the other collection");
    assert_eq!(in_other.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id(1)], "per collection");

    // Deletes by filter, counted; other collections and points untouched.
    let added = PayloadFilter::default().any_of("change_type", vec![json!("added")]);
    assert_eq!(store.delete(&chunks, &added).await.expect("delete"), 2, "two points were added ones");
    let left = store.points(&chunks, &PayloadFilter::default(), 10).await.expect("points after delete");
    assert_eq!(left.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id(1), id(3), id(4)], "the others stay");
    let hits = store.search(&chunks, &query, &PayloadFilter::default(), 10).await.expect("search after delete");
    assert_eq!(hits.len(), 3, "deleted points are not found any more");
    assert_eq!(store.delete(&chunks, &added).await.expect("delete again"), 0, "nothing left to delete");
    let none = PayloadFilter::default().any_of("sha", vec![json!("zz")]);
    assert_eq!(store.delete(&other, &none).await.expect("delete nothing"), 0, "no point matches");
    assert_eq!(store.delete(&missing, &PayloadFilter::default()).await.expect("absent"), 0, "absent: none deleted");
    assert_eq!(store.points(&other, &PayloadFilter::default(), 10).await.expect("points").len(), 1, "other kept");
    let two_keys = PayloadFilter::default()
        .any_of("service_key", vec![json!("prod/payments/api"), json!("prod/search/api")])
        .any_of("change_type", vec![json!("modified")]);
    assert_eq!(store.delete(&chunks, &two_keys).await.expect("delete two keys"), 2, "every key must match");
    let left = store.points(&chunks, &PayloadFilter::default(), 10).await.expect("points");
    assert_eq!(left.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id(3)]);

    vec![chunks, other]
}
