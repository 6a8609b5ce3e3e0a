//! `inquest topology apply` on YAML and JSON files: what changed is printed, a source's
//! removed edge leaves the graph, the same file again is a duplicate, and a bad file is
//! refused naming its path and writes nothing.

use std::path::Path;
use std::process::{Command, Output};

use inquest_store_embedded::EmbeddedStore;

fn apply(data: &Path, file: &Path, source: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("--data-dir")
        .arg(data)
        .args(["topology", "apply"])
        .arg(file)
        .args(["--source", source])
        .env_remove("INQUEST_POSTGRES_URL")
        .env_remove("INQUEST_CONFIG")
        .env_remove("INQUEST_DATA_DIR")
        .output()
        .expect("inquest runs")
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The keys one hop from `key` in the embedded store of `data`, sorted.
async fn neighbours(data: &Path, key: &str) -> Vec<String> {
    let store = EmbeddedStore::open(&data.join("inquest.redb")).expect("the embedded store");
    let radius = store.stores().topology.blast_radius(key, 1).await.expect("blast radius");
    let mut keys: Vec<String> = radius.nodes.into_iter().map(|r| r.key).filter(|k| k != key).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_yaml_file_becomes_the_sources_graph() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let v1 = tmp.path().join("catalog.yaml");
    std::fs::write(
        &v1,
        "namespace: shop\nservices:\n  - name: frontend\n    depends_on: [checkout]\n  - name: checkout\n    depends_on: [orders-db]\n\
         databases:\n  - {name: orders-db, engine: postgres}\n",
    )
    .expect("write");
    let out = ok(apply(&data, &v1, "catalog"));
    assert!(
        out.contains("source catalog: 3 node(s), 2 edge(s) declared, 0 edge(s) removed, 3 new service(s)"),
        "{out}"
    );
    assert!(out.contains(": stored"), "{out}");
    assert_eq!(
        neighbours(&data, "default/shop/checkout").await,
        vec!["default/shop/frontend", "default/shop/orders-db"]
    );

    let again = ok(apply(&data, &v1, "catalog"));
    assert!(again.contains("0 new service(s)") && again.contains("duplicate"), "{again}");

    // Another source's edge, in JSON; then the catalogue without checkout -> orders-db.
    let platform = tmp.path().join("platform.json");
    std::fs::write(
        &platform,
        r#"{"services": [{"name": "default/shop/checkout", "depends_on": ["default/shop/cache"]}],
        "databases": [{"name": "default/shop/cache", "engine": "redis"}]}"#,
    )
    .expect("write");
    ok(apply(&data, &platform, "platform"));
    let v2 = tmp.path().join("catalog-v2.yml");
    std::fs::write(
        &v2,
        "namespace: shop\nservices:\n  - {name: frontend, depends_on: [checkout]}\n  - name: checkout\n",
    )
    .expect("write");
    let out = ok(apply(&data, &v2, "catalog"));
    assert!(out.contains("2 node(s), 1 edge(s) declared, 1 edge(s) removed"), "{out}");
    assert_eq!(neighbours(&data, "default/shop/checkout").await, vec!["default/shop/cache", "default/shop/frontend"]);

    // A bad file: refused with its path, nothing written.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "services:\n  - name: a\n  - name: b\n    depends_on: [a, nowhere]\n").expect("write");
    let out = apply(&data, &bad, "catalog");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml: services[1].depends_on[1]: unknown node 'nowhere'"), "{err}");
    assert_eq!(neighbours(&data, "default/shop/checkout").await, vec!["default/shop/cache", "default/shop/frontend"]);
    let out = apply(&data, &v1, "no/slash");
    assert!(String::from_utf8_lossy(&out.stderr).contains("source:"), "{}", String::from_utf8_lossy(&out.stderr));
}
