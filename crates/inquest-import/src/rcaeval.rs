//! The RCAEval wide-CSV layout (also used by RCD): per case a directory with a metrics
//! file (`data.csv`, `simple_metrics.csv` or `metrics.csv`) holding a `time` column
//! (unix seconds, or a UTC date-time) and one `<service>_<metric>` column per series,
//! and `inject_time.txt` (unix seconds) beside it. The root cause is in the path:
//! an ancestor directory named `<service>_<fault>` (`adservice_cpu/1/`).
//!
//! Conversion: the column name splits at its first `_` into service and metric;
//! the window runs from the injection to the last row; everything before is baseline.
//! No call graph is given: the incident's service is the user-facing one (a service
//! whose name holds `front`, else `ui`, else `gateway`, else the first service) and the
//! topology is a star from it to every service. Truth type: `cpu`, `mem`, `disk`,
//! `socket` faults are `infra`; `delay`, `loss` and code-level faults are `dependency`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::{ImportError, ImportMeta, ImportedCase, ServiceKind, case_id, cell_number, dir_name, metric_name};

const DATA_FILES: [&str; 3] = ["data.csv", "simple_metrics.csv", "metrics.csv"];

/// Import every case directory (holding `inject_time.txt`) under `path`.
pub fn import_rcaeval(path: &Path) -> Result<Vec<ImportedCase>, ImportError> {
    let mut dirs = Vec::new();
    find_cases(path, 0, &mut dirs)?;
    dirs.sort();
    if dirs.is_empty() {
        return Err(ImportError::invalid(path, "no case directories (with inject_time.txt) found"));
    }
    let dataset = dir_name(path);
    let base = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    dirs.into_iter().map(|d| import_case(&d, &base, &dataset)).collect()
}

fn find_cases(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    if dir.join("inject_time.txt").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth > 5 || !dir.is_dir() {
        return Ok(());
    }
    for e in std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?.filter_map(Result::ok) {
        if e.path().is_dir() {
            find_cases(&e.path(), depth + 1, out)?;
        }
    }
    Ok(())
}

fn parse_time(cell: &str) -> Option<DateTime<Utc>> {
    let t = cell.trim();
    if let Ok(secs) = t.parse::<f64>() {
        // Milliseconds when the number is too large for seconds.
        let secs = if secs > 1e11 { secs / 1000.0 } else { secs };
        return DateTime::<Utc>::from_timestamp(secs.floor() as i64, ((secs.fract()) * 1e9) as u32);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    t.get(..19).and_then(|h| NaiveDateTime::parse_from_str(h, "%Y-%m-%d %H:%M:%S").ok()).map(|n| n.and_utc())
}

fn import_case(dir: &Path, base: &Path, dataset: &str) -> Result<ImportedCase, ImportError> {
    let inject_path = dir.join("inject_time.txt");
    let text = std::fs::read_to_string(&inject_path).map_err(|e| ImportError::io(&inject_path, e))?;
    let inject = parse_time(text.lines().next().unwrap_or(""))
        .ok_or_else(|| ImportError::line(&inject_path, 1, format!("'{}' is not a unix time", text.trim())))?;
    let data = DATA_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file()).ok_or_else(|| {
        ImportError::invalid(dir, "no data.csv, simple_metrics.csv or metrics.csv beside inject_time.txt")
    })?;
    let file = std::fs::File::open(&data).map_err(|e| ImportError::io(&data, e))?;
    let mut r = csv::ReaderBuilder::new().from_reader(file);
    let headers = r.headers().map_err(|e| ImportError::line(&data, 1, e))?.clone();
    let time_col = headers
        .iter()
        .position(|h| h.trim() == "time")
        .ok_or_else(|| ImportError::line(&data, 1, "no 'time' column in the header"))?;
    let cols: Vec<(usize, String, String)> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != time_col)
        .filter_map(|(i, h)| {
            let (svc, metric) = h.trim().split_once('_')?;
            (!svc.is_empty() && !metric.is_empty()).then(|| (i, crate::service_name(svc), metric_name(metric)))
        })
        .collect();
    if cols.is_empty() {
        return Err(ImportError::line(&data, 1, "no '<service>_<metric>' columns"));
    }
    let services: BTreeSet<String> = cols.iter().map(|(_, s, _)| s.clone()).collect();
    let mut metrics = Vec::new();
    let mut last = None;
    for rec in r.records() {
        let rec = rec.map_err(|e| ImportError::line(&data, e.position().map(|p| p.line()).unwrap_or(0), e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let cell = rec.get(time_col).unwrap_or("");
        let ts =
            parse_time(cell).ok_or_else(|| ImportError::line(&data, line, format!("time '{cell}' is not a time")))?;
        last = last.max(Some(ts));
        for (i, s, m) in &cols {
            match cell_number(rec.get(*i).unwrap_or("")) {
                None => {}
                Some(Ok(v)) => metrics.push((ts, s.clone(), m.clone(), v)),
                Some(Err(e)) => return Err(ImportError::line(&data, line, format!("column {s}_{m}: {e}"))),
            }
        }
    }
    let Some(last) = last.filter(|l| *l > inject) else {
        return Err(ImportError::invalid(&data, "no rows after the injection time"));
    };
    // The root cause from the path: the nearest ancestor named `<service>_<fault>`.
    let (truth, fault) = dir
        .ancestors()
        .filter_map(|a| a.file_name().map(|n| n.to_string_lossy().into_owned()))
        .find_map(|n| {
            let (s, f) = n.rsplit_once('_')?;
            services.contains(s).then(|| (s.to_string(), f.to_string()))
        })
        .ok_or_else(|| ImportError::invalid(dir, "cannot tell the root cause: no ancestor directory is named <service>_<fault> for a service of the data"))?;
    let front = ["front", "ui", "gateway"]
        .iter()
        .find_map(|k| services.iter().find(|s| s.contains(k)))
        .or_else(|| services.iter().next())
        .cloned()
        .unwrap_or_default();
    let truth_type = match fault.to_ascii_lowercase().as_str() {
        "cpu" | "mem" | "memory" | "disk" | "socket" => "infra",
        _ => "dependency",
    };
    let rel = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.strip_prefix(base).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    let rel = rel.to_string_lossy().into_owned();
    let id = case_id(&["rcaeval", dataset, &rel]);
    Ok(ImportedCase {
        description: format!(
            "{fault} injected into {truth} at {} ({dataset}/{rel})",
            inject.format("%Y-%m-%d %H:%M:%S")
        ),
        cluster: "rcaeval".into(),
        namespace: id.clone(),
        id,
        services: services.iter().map(|s| (s.clone(), ServiceKind::Service)).collect(),
        edges: services.iter().filter(|s| **s != front).map(|s| (front.clone(), s.clone())).collect(),
        metrics,
        incident_service: front,
        window_start: inject,
        window_end: last + chrono::Duration::seconds(1),
        truth_service: truth,
        truth_type: truth_type.into(),
        notes: format!("{fault} fault (label from the directory name, {rel})"),
        meta: ImportMeta {
            format: crate::Format::Rcaeval,
            dataset: dataset.to_string(),
            fault_type: fault,
            source: rel,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_unix_seconds_or_dates() {
        assert_eq!(parse_time("1700000000").map(|t| t.timestamp()), Some(1_700_000_000));
        assert_eq!(parse_time("1700000000000").map(|t| t.timestamp()), Some(1_700_000_000));
        assert!(parse_time("2023-01-29 08:41:09").is_some());
        assert!(parse_time("soon").is_none());
    }
}
