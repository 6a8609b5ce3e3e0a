//! The process's log subscriber: human-readable lines on stderr, or one JSON object a
//! line (`INQUEST_LOG_FORMAT=json`: timestamp, level, target, fields, current span and
//! span list) for a log collector. `INQUEST_LOG` filters (default `warn`).

use std::sync::OnceLock;

use anyhow::{Result, bail};
use tracing_subscriber::EnvFilter;

/// The format chosen at start, so that notices keep stderr all JSON in JSON mode.
static FORMAT: OnceLock<Format> = OnceLock::new();

/// The variable choosing the format; read before the settings, so logging covers their loading.
pub const FORMAT_VAR: &str = "INQUEST_LOG_FORMAT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// Unset or empty is text; anything else but `text` or `json` is an error naming the variable.
    pub fn parse(value: Option<&str>) -> Result<Self> {
        match value.map(str::trim).unwrap_or_default().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => bail!("{FORMAT_VAR}: '{other}' is neither text nor json"),
        }
    }
}

pub fn init() -> Result<()> {
    let format = Format::parse(std::env::var(FORMAT_VAR).ok().as_deref())?;
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_env("INQUEST_LOG").unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        Format::Text => builder.init(),
        Format::Json => builder.json().with_current_span(true).with_span_list(true).init(),
    }
    Ok(())
}

/// A line for the person at the terminal (which report writer, which embedder): on
/// stderr as text, or as an info event when the logs are JSON.
pub fn notice(message: &str) {
    match FORMAT.get() {
        Some(Format::Json) => tracing::info!("{message}"),
        _ => eprintln!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_text_unless_json_is_asked_for() {
        assert_eq!(Format::parse(None).expect("unset"), Format::Text);
        assert_eq!(Format::parse(Some("")).expect("empty"), Format::Text);
        assert_eq!(Format::parse(Some("JSON")).expect("json"), Format::Json);
        let err = Format::parse(Some("yaml")).expect_err("not a format").to_string();
        assert!(err.contains(FORMAT_VAR), "{err}");
    }
}
