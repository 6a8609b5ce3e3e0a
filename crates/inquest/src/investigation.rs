//! The investigation settings of `[investigation]` as the ranking core takes them,
//! with the metric catalogue read once up front: a file that does not parse stops
//! the command with its error instead of becoming a gap in every investigation.

use anyhow::{Context as _, Result};
use inquest_config::Settings;
use inquest_core::InvestigationConfig;
use inquest_core::semantics::Catalogue;

/// `[investigation]` as an `InvestigationConfig`; a `metric_catalogue` is parsed here.
pub fn config(settings: &Settings) -> Result<InvestigationConfig> {
    let i = &settings.investigation;
    if let Some(path) = &i.metric_catalogue {
        Catalogue::with_overrides(path)
            .with_context(|| format!("investigation.metric_catalogue: reading {}", path.display()))?;
    }
    Ok(InvestigationConfig {
        baseline_minutes: i.baseline_minutes,
        baseline_horizon_days: i.baseline_horizon_days,
        change_lookback_minutes: i.change_lookback_minutes,
        topology_depth: i.topology_depth,
        metric_catalogue: i.metric_catalogue.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_cores_defaults() {
        assert_eq!(config(&Settings::default()).expect("defaults"), InvestigationConfig::default());
    }

    #[test]
    fn the_settings_reach_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metrics.toml");
        std::fs::write(&path, "[[metric]]\nname = \"svc_load\"\nkind = \"cpu\"\nbad = \"up\"\n").expect("write");
        let mut s = Settings::default();
        s.investigation.baseline_horizon_days = 30;
        s.investigation.topology_depth = 4;
        s.investigation.metric_catalogue = Some(path.clone());
        let cfg = config(&s).expect("valid");
        assert_eq!((cfg.baseline_horizon_days, cfg.topology_depth), (30, 4));
        assert_eq!(cfg.metric_catalogue, Some(path));
    }

    #[test]
    fn a_catalogue_that_does_not_parse_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[[metric]]\nname = 3\n").expect("write");
        let mut s = Settings::default();
        s.investigation.metric_catalogue = Some(path);
        let e = format!("{:#}", config(&s).expect_err("refused"));
        assert!(e.contains("investigation.metric_catalogue"), "{e}");
    }
}
