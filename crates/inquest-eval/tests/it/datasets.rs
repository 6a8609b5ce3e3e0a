//! Imports the dev datasets (`../shared/datasets` beside the repository), replays
//! every case and fails when service-level accuracy drops below the stored baseline
//! `evals/datasets-baseline.json` (`INQUEST_BLESS=1` rewrites it). Skips with a
//! message when the datasets are absent locally; under `CI=true` that is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use inquest_core::InvestigationConfig;
use inquest_eval::datasets::{by_dataset, eval_dirs};
use inquest_import::{PetshopOptions, import_nezha, import_petshop, write_cases};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_datasets_stay_at_or_above_the_baseline() -> anyhow::Result<()> {
    let root = repo_root();
    let data = root.join("../shared/datasets");
    if !data.join("nezha-train-ticket").is_dir() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("dev datasets missing at {} under CI=true", data.display());
        }
        eprintln!("skipping: dev datasets not found at {}", data.display());
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let mut cases = import_nezha(&data.join("nezha-train-ticket"))?;
    cases.extend(import_petshop(&data.join("petshop-train"), &PetshopOptions::default())?);
    cases.extend(import_petshop(&data.join("petshop-low-traffic-test"), &PetshopOptions::default())?);
    assert_eq!(cases.len(), 45 + 20 + 18, "every labelled case is imported");
    let dirs = write_cases(&cases, tmp.path())?;
    let results = eval_dirs(&dirs, &InvestigationConfig::default()).await?;
    let scores = by_dataset(&results);
    let mut current: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (name, s) in &scores {
        eprintln!(
            "{name}: {} cases AC@1 {:.3} AC@3 {:.3} Avg@5 {:.3} MRR {:.3} s/case p50 {:.3} p95 {:.3}",
            s.services.cases,
            s.services.ac1,
            s.services.ac3,
            s.services.avg5,
            s.services.mrr,
            s.seconds_p50,
            s.seconds_p95
        );
        let m = current.entry(name.clone()).or_default();
        m.insert("ac1".into(), s.services.ac1);
        m.insert("ac3".into(), s.services.ac3);
        m.insert("avg5".into(), s.services.avg5);
        m.insert("mrr".into(), s.services.mrr);
    }
    let path = root.join("evals/datasets-baseline.json");
    if std::env::var("INQUEST_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, serde_json::to_string_pretty(&current)? + "\n")?;
        eprintln!("baseline written to {}", path.display());
        return Ok(());
    }
    let baseline: BTreeMap<String, BTreeMap<String, f64>> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    for (name, metrics) in &baseline {
        let got = current.get(name).unwrap_or_else(|| panic!("dataset {name} of the baseline was not evaluated"));
        for (metric, floor) in metrics {
            let v = got.get(metric).copied().unwrap_or(0.0);
            assert!(v + 1e-9 >= *floor, "{name} {metric} dropped to {v:.3}, below the baseline {floor:.3}");
        }
    }
    Ok(())
}
