//! Writing imported cases as fixture case directories, all or nothing.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::{ImportError, ImportMeta, ImportedCase};

/// Provenance file written beside the fixture files of an imported case.
pub const IMPORT_META_FILE: &str = "import.json";

/// Read `import.json` of a case directory, when there is one.
pub fn read_meta(case_dir: &Path) -> Result<Option<ImportMeta>, ImportError> {
    let path = case_dir.join(IMPORT_META_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| ImportError::line(&path, e.line() as u64, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ImportError::io(&path, e)),
    }
}

/// Write every case under `out/<case-id>/`. Cases are first written into a temporary
/// directory inside `out`, then each is renamed into place (replacing an earlier
/// import of the same case), so an error leaves no partial case behind.
pub fn write_cases(cases: &[ImportedCase], out: &Path) -> Result<Vec<std::path::PathBuf>, ImportError> {
    std::fs::create_dir_all(out).map_err(|e| ImportError::io(out, e))?;
    let tmp = out.join(format!(".import-tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ImportError::io(&tmp, e))?;
    }
    let result = (|| {
        for c in cases {
            write_case(c, &tmp.join(&c.id))?;
        }
        let mut dirs = Vec::new();
        for c in cases {
            let dest = out.join(&c.id);
            if dest.exists() {
                std::fs::remove_dir_all(&dest).map_err(|e| ImportError::io(&dest, e))?;
            }
            std::fs::rename(tmp.join(&c.id), &dest).map_err(|e| ImportError::io(&dest, e))?;
            dirs.push(dest);
        }
        Ok(dirs)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ImportError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ImportError::invalid(path, e))?;
    std::fs::write(path, text + "\n").map_err(|e| ImportError::io(path, e))
}

fn write_case(c: &ImportedCase, dir: &Path) -> Result<(), ImportError> {
    std::fs::create_dir_all(dir).map_err(|e| ImportError::io(dir, e))?;
    write_json(
        &dir.join("case.json"),
        &json!({ "id": c.id, "description": c.description, "cluster": c.cluster, "namespace": c.namespace }),
    )?;
    let services: Vec<_> = c.services.iter().map(|(n, k)| json!({ "name": n, "kind": k })).collect();
    write_json(&dir.join("services.json"), &json!(services))?;
    if !c.edges.is_empty() {
        let edges: Vec<_> = c.edges.iter().map(|(f, t)| json!({ "from": f, "to": t })).collect();
        write_json(&dir.join("topology.json"), &json!(edges))?;
    }
    write_json(
        &dir.join("incident.json"),
        &json!({
            "service": c.incident_service,
            "trigger_type": "custom",
            "severity": 2,
            "window_start": c.window_start.to_rfc3339(),
            "window_end": c.window_end.to_rfc3339(),
        }),
    )?;
    write_json(
        &dir.join("truth.json"),
        &json!({ "service": c.truth_service, "hypothesis_type": c.truth_type, "culprit": null, "notes": c.notes }),
    )?;
    write_json(&dir.join(IMPORT_META_FILE), &serde_json::to_value(&c.meta).map_err(|e| ImportError::invalid(dir, e))?)?;
    let path = dir.join("metrics.csv");
    let file = std::fs::File::create(&path).map_err(|e| ImportError::io(&path, e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let io = |e: csv::Error| ImportError::invalid(&path, e);
    w.write_record(["ts", "service", "metric", "value"]).map_err(io)?;
    for (ts, s, m, v) in &c.metrics {
        w.write_record([ts.to_rfc3339().as_str(), s, m, &v.to_string()]).map_err(io)?;
    }
    let mut inner = w.into_inner().map_err(|e| ImportError::invalid(&path, e))?;
    inner.flush().map_err(|e| ImportError::io(&path, e))
}
