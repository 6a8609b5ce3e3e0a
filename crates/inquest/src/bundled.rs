//! The bundled fixture cases (the repository's `fixtures/`), compiled into the binary
//! so `inquest demo` runs from any directory. They are written to a temporary
//! directory for the run, because fixture cases are read from a directory
//! (`inquest_fixtures::FixtureCase::read`); the directory is removed afterwards.

use anyhow::{Context, Result};
use include_dir::{Dir, include_dir};

static FIXTURES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../fixtures");

/// The bundled cases in a fresh temporary directory, removed when the value is dropped.
pub fn extract() -> Result<tempfile::TempDir> {
    let dir =
        tempfile::Builder::new().prefix("inquest-fixtures-").tempdir().context("creating a temporary directory")?;
    FIXTURES
        .extract(dir.path())
        .with_context(|| format!("writing the bundled fixtures to {}", dir.path().display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_of_the_fixtures_folder_is_bundled() {
        let dir = extract().expect("extract");
        let bundled = inquest_fixtures::discover_cases(dir.path()).expect("bundled cases");
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let on_disk = inquest_fixtures::discover_cases(&source).expect("fixtures folder");
        let names =
            |v: &[std::path::PathBuf]| v.iter().map(|p| p.file_name().map(|n| n.to_owned())).collect::<Vec<_>>();
        assert_eq!(names(&bundled), names(&on_disk));
    }
}
