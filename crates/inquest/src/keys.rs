//! The keyring integration secrets are sealed with: the configured key file and
//! inline keys, or, with neither configured, `<data_dir>/secret.keys`, made with one
//! random key (readable by its owner only) the first time it is needed.

use std::io::Write;

use anyhow::{Context, Result};
use inquest_access::seal::{Keyring, new_key_line};
use inquest_config::Settings;

/// The file used when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "secret.keys";

pub fn keyring(settings: &Settings) -> Result<Keyring> {
    let auth = &settings.auth;
    let inline = auth.secret_keys.as_ref().map(|s| s.expose());
    if auth.secret_key_file.is_some() || inline.is_some() {
        return Ok(Keyring::from_sources(auth.secret_key_file.as_deref(), inline)?);
    }
    let path = settings.data_dir.join(DEFAULT_KEY_FILE);
    if !path.exists() {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut f) => {
                writeln!(f, "{}", new_key_line("k1")).with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(file = %path.display(), "created the key file integration secrets are sealed with");
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    Ok(Keyring::from_sources(Some(&path), None)?)
}
