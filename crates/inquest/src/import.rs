//! `inquest import` (datasets to fixture cases) and the per-dataset part of `inquest eval`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use inquest_eval::CaseResult;
use inquest_eval::datasets::by_dataset;
use inquest_fixtures::FixtureCase;
use inquest_import::{Format, PetshopOptions, import, import_petshop, read_meta, write_cases};

/// Import `path` in `format` and write the cases under `out`.
pub fn run(format: Format, path: &Path, out: &Path, normal: Option<PathBuf>) -> Result<()> {
    let cases = match (format, normal) {
        (Format::Petshop, Some(n)) => import_petshop(path, &PetshopOptions { normal: Some(n) })?,
        (_, _) => import(format, path)?,
    };
    let dirs = write_cases(&cases, out).with_context(|| format!("writing cases under {}", out.display()))?;
    let points: usize = cases.iter().map(|c| c.metrics.len()).sum();
    println!("imported {} {format} case(s), {points} metric points, into {}", dirs.len(), out.display());
    println!("next:    inquest eval {}", out.display());
    Ok(())
}

/// Per-dataset and per-fault-type service accuracy, when the cases were imported.
pub fn print_by_dataset(cases: &[FixtureCase], results: &[CaseResult]) -> Result<()> {
    let mut rows = Vec::new();
    for (c, r) in cases.iter().zip(results) {
        rows.push((r.clone(), read_meta(&c.dir)?));
    }
    if rows.iter().all(|(_, m)| m.is_none()) {
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["dataset", "fault type", "cases", "AC@1", "AC@3", "Avg@5", "MRR", "s/case p50", "s/case p95"]);
    for (name, s) in by_dataset(&rows) {
        let row = |fault: &str, a: &inquest_eval::Accuracy, p50: String, p95: String| {
            vec![
                name.clone(),
                fault.to_string(),
                a.cases.to_string(),
                format!("{:.3}", a.ac1),
                format!("{:.3}", a.ac3),
                format!("{:.3}", a.avg5),
                format!("{:.3}", a.mrr),
                p50,
                p95,
            ]
        };
        t.add_row(row("all", &s.services, format!("{:.4}", s.seconds_p50), format!("{:.4}", s.seconds_p95)));
        for (f, a) in &s.per_fault {
            t.add_row(row(f, a, String::new(), String::new()));
        }
    }
    println!("service level (AC@k over distinct services ranked):\n{t}");
    Ok(())
}
