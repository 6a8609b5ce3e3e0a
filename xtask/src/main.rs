//! Project automation for Inquest: `cargo xtask fixtures` regenerates the fixture cases,
//! `cargo xtask check-fixtures` validates every case directory against the file format.

mod check;
mod fixtures;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let root = workspace_root().join("fixtures");
    match std::env::args().nth(1).as_deref() {
        Some("fixtures") => {
            fixtures::generate(&root)?;
            check::check_all(&root)
        }
        Some("check-fixtures") => check::check_all(&root),
        _ => bail!("usage: cargo xtask <fixtures|check-fixtures>"),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
