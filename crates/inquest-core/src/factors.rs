//! Named scoring factors. Each is a pure function giving a value in `[0, 1]` and a
//! sentence a person can check; a hypothesis' score is their weighted mean.

use inquest_domain::{ChangeKind, ConfigChangeEvent, ConfigSource, FileChangeType, HypothesisType};
use serde::{Deserialize, Serialize};

/// One factor of a hypothesis' score, as stored in `details.factors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    pub value: f64,
    pub weight: f64,
    /// The built-in weight, when feedback-learned weights (`learn`) changed `weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_weight: Option<f64>,
    pub explanation: String,
}

impl Factor {
    pub fn new(name: &str, value: f64, weight: f64, explanation: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            value: value.clamp(0.0, 1.0),
            weight,
            default_weight: None,
            explanation: explanation.into(),
        }
    }

    /// The built-in weight, whatever was learned.
    pub fn base_weight(&self) -> f64 {
        self.default_weight.unwrap_or(self.weight)
    }
}

/// The built-in weight of each factor of the ranked hypothesis types (a config
/// change's `change_risk` weighs 2 where a release's weighs 3).
pub const DEFAULT_WEIGHTS: &[(&str, f64)] = &[
    ("timing", 3.0),
    ("anomaly_strength", 3.0),
    ("change_risk", 3.0),
    ("onset_order", 2.0),
    ("edge_evidence", 2.0),
    ("own_saturation", 2.0),
    ("not_resource_bound", 2.0),
    ("isolation", 1.5),
    ("path_support", 1.5),
    ("topology_distance", 1.0),
    ("unexplained_by_change", 1.0),
    ("precedent", 0.5),
    ("diff_similarity", 0.5),
    ("evidence_quality", 0.5),
    ("feedback_prior", 0.5),
];

/// The built-in weight of the factor `name`, if it is one of the ranked factors.
pub fn default_weight(name: &str) -> Option<f64> {
    DEFAULT_WEIGHTS.iter().find(|(n, _)| *n == name).map(|(_, w)| *w)
}

/// Weighted mean of the factors (0 when there are none).
pub fn combine(factors: &[Factor]) -> f64 {
    let total: f64 = factors.iter().map(|f| f.weight).sum();
    if total <= 0.0 {
        return 0.0;
    }
    factors.iter().map(|f| f.value * f.weight).sum::<f64>() / total
}

/// Timing of a change against the anomaly onset: a change shortly before the onset
/// scores high, one long before decays (half-life about 30 minutes), one after the
/// onset cannot have caused it.
pub fn change_timing(minutes_before_onset: f64) -> Factor {
    let m = minutes_before_onset;
    let (value, why) = if m < -2.0 {
        (0.0, format!("happened {:.0} min after the onset, so it cannot have caused it", -m))
    } else if m <= 0.0 {
        (0.75, "happened within two minutes of the onset".to_string())
    } else {
        let v = (-m * std::f64::consts::LN_2 / 30.0).exp();
        (v.max(0.02), format!("happened {m:.0} min before the onset"))
    };
    Factor::new("timing", value, 3.0, why)
}

/// Strength of the anomaly on the suspect service (from `signals::strength`).
pub fn anomaly_strength(strength: f64, z: f64, what: &str) -> Factor {
    let why = if strength > 0.0 {
        format!("{what} moved {z:.1} robust sigmas from its baseline")
    } else {
        format!("{what} shows no anomaly beyond its baseline noise")
    };
    Factor::new("anomaly_strength", strength, 3.0, why)
}

/// Closeness in the topology: the incident service itself is 1, each hop lowers it.
pub fn topology_distance(distance: u32, service: &str) -> Factor {
    let value = 1.0 / (1.0 + 0.5 * f64::from(distance));
    let why = match distance {
        0 => format!("{service} is the incident's own service"),
        1 => format!("{service} is one hop from the incident's service"),
        d => format!("{service} is {d} hops from the incident's service"),
    };
    Factor::new("topology_distance", value, 1.0, why)
}

/// Risk of a file change by its `change_type`.
pub fn file_change_risk(t: FileChangeType) -> f64 {
    match t {
        FileChangeType::DbMigration => 0.9,
        FileChangeType::TimeoutRetry => 0.9,
        FileChangeType::HttpClient => 0.8,
        FileChangeType::Config => 0.75,
        FileChangeType::Dependency => 0.8,
        FileChangeType::Auth => 0.7,
        FileChangeType::SharedUtil => 0.7,
        FileChangeType::Other => 0.35,
        FileChangeType::Test => 0.05,
        FileChangeType::Docs => 0.02,
    }
}

/// Dependency manifests and lockfiles: a change there swaps code the service did not
/// write (a library bump), whatever the commit labelled it.
const DEPENDENCY_MANIFESTS: &[&str] = &[
    "cargo.lock",
    "cargo.toml",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "go.mod",
    "go.sum",
    "requirements.txt",
    "pipfile",
    "pipfile.lock",
    "poetry.lock",
    "pyproject.toml",
    "uv.lock",
    "setup.py",
    "setup.cfg",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "gradle.lockfile",
    "libs.versions.toml",
    "gemfile",
    "gemfile.lock",
    "composer.json",
    "composer.lock",
    "packages.config",
    "directory.packages.props",
    "mix.lock",
    "package.swift",
    "package.resolved",
];

/// Is this path a dependency manifest or lockfile (`Cargo.lock`, `go.mod`,
/// `requirements-prod.txt`, `*.csproj`, a vendored library)?
pub fn is_dependency_manifest(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    DEPENDENCY_MANIFESTS.contains(&file)
        || (file.starts_with("requirements") && file.ends_with(".txt"))
        || file.ends_with(".csproj")
        || lower.starts_with("vendor/")
        || lower.contains("/vendor/")
        || lower.starts_with("third_party/")
        || lower.contains("/third_party/")
}

/// Risk of one changed file: its `change_type`, raised for dependency manifests and
/// lockfiles (a library bump reaches every code path that uses the library).
pub fn file_risk(t: FileChangeType, path: &str) -> f64 {
    let r = file_change_risk(t);
    if is_dependency_manifest(path) { r.max(file_change_risk(FileChangeType::Dependency)) } else { r }
}

/// Risk of a release from its riskiest changed file; a second risky kind of change in
/// the same release (a library bump and an auth change) adds to it; a rollback is less risky.
pub fn release_risk(files: &[(FileChangeType, String)], is_rollback: bool) -> Factor {
    let riskiest = files.iter().max_by(|a, b| file_risk(a.0, &a.1).total_cmp(&file_risk(b.0, &b.1)));
    let (mut value, mut why) = match riskiest {
        Some((t, path)) => {
            let what = if is_dependency_manifest(path) && *t != FileChangeType::Dependency {
                format!("{t} (a dependency manifest)")
            } else {
                t.to_string()
            };
            (file_risk(*t, path), format!("riskiest change is {what} in {path}"))
        }
        None => (0.4, "no commit range known for this deployment".to_string()),
    };
    if let Some((t, path)) = riskiest {
        let kind_of =
            |t: FileChangeType, path: &str| if is_dependency_manifest(path) { FileChangeType::Dependency } else { t };
        let top = kind_of(*t, path);
        let second = files
            .iter()
            .filter(|(t2, p2)| kind_of(*t2, p2) != top)
            .map(|(t2, p2)| file_risk(*t2, p2))
            .fold(0.0, f64::max);
        if second >= 0.5 {
            value += 0.1;
            why.push_str("; it also changes another risky kind of file");
        }
    }
    if is_rollback {
        value *= 0.4;
        why.push_str("; it is a rollback");
    }
    Factor::new("change_risk", value, 3.0, why)
}

/// Risk of an out-of-band config change by its kind and what it changed.
pub fn config_risk(c: &ConfigChangeEvent) -> Factor {
    let base = match c.change_kind {
        ChangeKind::DbSchemaAlter => 0.9,
        ChangeKind::ResourceLimit => 0.8,
        ChangeKind::ConfigmapKey => 0.75,
        ChangeKind::EnvVar => 0.7,
        ChangeKind::SecretKey => 0.65,
        ChangeKind::ImageSwap => 0.6,
        ChangeKind::ReplicaCount => 0.45,
    };
    let field = c.diff_payload.get("field").and_then(|v| v.as_str()).unwrap_or("").to_ascii_lowercase();
    let risky_field = ["timeout", "pool", "limit", "max", "retry", "conn", "url", "host", "memory", "cpu"]
        .iter()
        .any(|k| field.contains(k));
    let old = number(c.diff_payload.get("old_value"));
    let new = number(c.diff_payload.get("new_value"));
    let shrink = matches!((old, new), (Some(o), Some(n)) if n < o);
    let mut value = base;
    let mut why = format!("{} on {}", c.change_kind, c.resource_name);
    if risky_field {
        value += 0.1;
        why.push_str(&format!(", field {field} governs capacity or timeouts"));
    }
    if shrink
        && matches!(
            c.change_kind,
            ChangeKind::ReplicaCount | ChangeKind::ResourceLimit | ChangeKind::ConfigmapKey | ChangeKind::EnvVar
        )
    {
        value += 0.1;
        why.push_str(", and it was lowered");
    }
    Factor::new("change_risk", value, 2.0, why)
}

fn number(v: Option<&serde_json::Value>) -> Option<f64> {
    let v = v?;
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim_end_matches(|c: char| c.is_alphabetic()).parse().ok()))
}

/// Which hypothesis type a config change stands for.
pub fn config_hypothesis_type(c: &ConfigChangeEvent) -> HypothesisType {
    if c.source == ConfigSource::DbSchema || c.change_kind == ChangeKind::DbSchemaAlter {
        HypothesisType::Db
    } else {
        HypothesisType::Config
    }
}

/// Did the suspect move before the other anomalous services? Causes lead symptoms.
pub fn onset_order(lead_minutes: Option<f64>, service: &str) -> Factor {
    let (value, why) = match lead_minutes {
        None => (0.3, format!("{service} has no clear onset")),
        Some(l) if l >= 0.0 => (
            0.5 + 0.5 * (l / 3.0).min(1.0),
            format!("{service} moved first, {l:.0} min before the other anomalous services"),
        ),
        Some(l) => (0.5 * (l / 4.0).exp(), format!("{service} moved {:.0} min after another service did", -l)),
    };
    Factor::new("onset_order", value, 2.0, why)
}

/// A service whose own dependencies are healthy is more likely the origin.
pub fn isolation(max_downstream_strength: f64, own_strength: f64, service: &str) -> Factor {
    let value = if own_strength <= 0.0 {
        0.0
    } else {
        (1.0 - max_downstream_strength / own_strength.max(1e-9)).clamp(0.0, 1.0)
    };
    let why = if max_downstream_strength <= 0.05 {
        format!("everything {service} depends on is healthy")
    } else {
        format!("something {service} depends on is also anomalous ({max_downstream_strength:.2})")
    };
    Factor::new("isolation", value, 1.5, why)
}

/// For a service deeper than one hop below the incident's service: whether the
/// services between them show the trouble too. A fault in a dependency reaches the
/// incident's service only through its callers, so a path whose weakest caller is
/// calm (`support` is that caller's strength along the best path) does not carry it.
pub fn path_support(support: f64, weakest: Option<&str>, service: &str) -> Factor {
    let value = (support / 0.3).clamp(0.0, 1.0);
    let why = match weakest {
        None => format!("the incident's service calls {service} directly"),
        Some(w) if value >= 1.0 => {
            format!("the services between the incident's service and {service} show it too (the least: {w})")
        }
        Some(w) => format!(
            "{w}, between the incident's service and {service}, shows little ({support:.2}): a fault in {service} reaches the incident's service through it"
        ),
    };
    Factor::new("path_support", value, 1.5, why)
}

/// How much a service's own resource saturation explains what it shows: its CPU,
/// memory or disk saturated (`saturation`, a strength) while its own request volume
/// did not surge (`traffic_rise`, a strength). High means `infra` on the service.
pub fn own_saturation_share(saturation: f64, traffic_rise: f64) -> f64 {
    (saturation * (1.0 - traffic_rise)).clamp(0.0, 1.0)
}

/// For `infra` on a service: its own resources saturated without a traffic surge.
pub fn own_saturation(share: f64, what: &str, service: &str) -> Factor {
    let why = if share >= 0.15 {
        format!("{service}'s own {what} saturated without a surge in its traffic")
    } else {
        format!("{service}'s own resources explain little of it")
    };
    Factor::new("own_saturation", share, 2.0, why)
}

/// For `dependency` on a service: its symptoms are not its own resource saturation
/// (a saturated host points to `infra`, not to a failing dependency).
pub fn not_resource_bound(share: f64, service: &str) -> Factor {
    let why = if share >= 0.15 {
        format!("{service}'s own resource saturation may explain its symptoms (infra)")
    } else {
        format!("{service}'s resources are not saturated")
    };
    Factor::new("not_resource_bound", 1.0 - share, 2.0, why)
}

/// How much the symptom is left unexplained by changes on the same service.
pub fn unexplained_by_change(best_change_timing: f64, service: &str) -> Factor {
    let why = if best_change_timing > 0.3 {
        format!("a change on {service} or on its callers shortly before the onset may explain this instead")
    } else {
        format!("no change on {service} lines up with the onset")
    };
    Factor::new("unexplained_by_change", 1.0 - best_change_timing, 1.0, why)
}

/// Precedent from past incidents on the same service.
pub fn precedent(same_type: usize, total: usize, service: &str, t: HypothesisType) -> Factor {
    let value = (same_type as f64 + 1.0) / (total as f64 + 2.0);
    let why = if total == 0 {
        format!("no past incidents on {service}")
    } else {
        format!("precedent: {same_type} of {total} past incidents on {service} were {t}")
    };
    Factor::new("precedent", value, 0.5, why)
}

/// Similarity of the change's diff with the symptom (semantic retrieval).
pub fn diff_similarity(score: Option<f32>) -> Factor {
    match score {
        Some(s) => Factor::new(
            "diff_similarity",
            f64::from(s).clamp(0.0, 1.0),
            0.5,
            format!("its diff matches the symptom text with similarity {s:.2}"),
        ),
        None => Factor::new("diff_similarity", 0.0, 0.5, "no diff chunk of it matched the symptom"),
    }
}

/// Localisation from the calls between services (`edges`): calls into the service that
/// degraded as its callers saw them raise it (in full from two callers on), its own
/// calls into a degraded service (what it waits on) lower it; neutral (0.5) when the
/// calls into and out of it held their level. Only for a service the edges touch.
pub fn edge_evidence(view: &crate::edges::EdgeView, service: &str) -> Factor {
    let callee = view.callee_evidence();
    let victim = view.victim_evidence();
    let fanout = view.fanout();
    let mut why = Vec::new();
    if !view.degraded_callers.is_empty() {
        let seen: Vec<String> =
            view.degraded_callers.iter().take(3).map(|(caller, e)| format!("{caller}: {}", e.describe())).collect();
        why.push(format!(
            "calls into {service} degraded as {} of its {} caller(s) saw them ({})",
            view.degraded_callers.len(),
            view.callers.len(),
            seen.join(", ")
        ));
    }
    let explained: Vec<&str> =
        view.explained_by_caller.iter().filter(|(_, f)| **f > 0.0).map(|(c, _)| c.as_str()).collect();
    if !explained.is_empty() {
        why.push(format!(
            "what {} saw is explained by their own calls degrading together",
            explained.iter().take(3).copied().collect::<Vec<_>>().join(", ")
        ));
    }
    if fanout > 0.0 {
        why.push(format!(
            "its calls into {} of the {} services it calls degraded together: the trouble is more likely in {service} itself",
            view.degraded_calls.len(),
            view.callees.len()
        ));
    } else if let Some(out) = view.outbound() {
        why.push(format!(
            "its own calls into {} degraded ({}): it waits on them",
            inquest_domain::service_name_of(&out.callee_key),
            out.describe()
        ));
    }
    if why.is_empty() {
        why.push(format!("the calls into and out of {service} held their level"));
    }
    Factor::new("edge_evidence", 0.5 + 0.5 * callee.max(fanout) - 0.5 * victim, 2.0, why.join("; "))
}

/// Completeness of the evidence: each store that could not answer lowers it.
pub fn evidence_quality(gaps: usize) -> Factor {
    let value = (1.0 - 0.25 * gaps as f64).max(0.0);
    let why = if gaps == 0 {
        "every store answered".to_string()
    } else {
        format!("{gaps} evidence gap(s): some stores did not answer")
    };
    Factor::new("evidence_quality", value, 0.5, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use inquest_domain::ConfigChangeId;
    use serde_json::json;

    #[test]
    fn default_weight_table_matches_the_factors() {
        let edge = crate::edges::EdgeView::default();
        let built = [
            change_timing(5.0),
            anomaly_strength(0.5, 3.0, "x"),
            topology_distance(1, "a"),
            release_risk(&[], false),
            onset_order(None, "a"),
            isolation(0.0, 1.0, "a"),
            path_support(1.0, None, "a"),
            own_saturation(0.5, "cpu", "a"),
            not_resource_bound(0.5, "a"),
            unexplained_by_change(0.0, "a"),
            precedent(0, 0, "a", HypothesisType::Release),
            diff_similarity(None),
            edge_evidence(&edge, "a"),
            evidence_quality(0),
        ];
        for f in &built {
            assert_eq!(default_weight(&f.name), Some(f.weight), "{}", f.name);
        }
        assert_eq!(built.len() + 1, DEFAULT_WEIGHTS.len(), "feedback_prior is the one built elsewhere");
        assert_eq!(default_weight("no_decisive_hypothesis"), None);
    }

    #[test]
    fn timing_prefers_recent_changes_and_rejects_later_ones() {
        let soon = change_timing(5.0).value;
        let late = change_timing(120.0).value;
        let after = change_timing(-10.0).value;
        assert!(soon > 0.85 && soon < 1.0, "{soon}");
        assert!(late < 0.1, "{late}");
        assert_eq!(after, 0.0);
        assert!((change_timing(30.0).value - 0.5).abs() < 0.01);
    }

    #[test]
    fn anomaly_strength_passes_value_through() {
        assert_eq!(anomaly_strength(0.7, 8.0, "x").value, 0.7);
        assert!(anomaly_strength(0.0, 1.0, "x").explanation.contains("no anomaly"));
    }

    #[test]
    fn topology_distance_decreases_with_hops() {
        assert_eq!(topology_distance(0, "a").value, 1.0);
        assert!(topology_distance(1, "a").value > topology_distance(3, "a").value);
    }

    #[test]
    fn risky_files_outrank_docs_and_rollbacks_lower_risk() {
        let risky = release_risk(&[(FileChangeType::TimeoutRetry, "client.rs".into())], false).value;
        let docs = release_risk(&[(FileChangeType::Docs, "README.md".into())], false).value;
        let rollback = release_risk(&[(FileChangeType::TimeoutRetry, "client.rs".into())], true).value;
        assert!(risky > 0.8 && docs < 0.1 && rollback < risky);
    }

    #[test]
    fn manifests_and_second_risky_changes_raise_release_risk() {
        assert!(is_dependency_manifest("Cargo.lock"));
        assert!(is_dependency_manifest("services/auth/go.mod"));
        assert!(is_dependency_manifest("requirements-prod.txt"));
        assert!(is_dependency_manifest("src/Api/Api.csproj"));
        assert!(is_dependency_manifest("vendor/github.com/lib/pq/conn.go"));
        assert!(!is_dependency_manifest("src/package_json_reader.rs"));
        let code = release_risk(&[(FileChangeType::Other, "src/token.rs".into())], false).value;
        let lock = release_risk(&[(FileChangeType::Other, "package-lock.json".into())], false);
        assert!(lock.value > code, "{} {code}", lock.value);
        assert!(lock.explanation.contains("dependency manifest"));
        let shared = release_risk(&[(FileChangeType::SharedUtil, "lib/tokens.rs".into())], false).value;
        let both = release_risk(
            &[(FileChangeType::SharedUtil, "lib/tokens.rs".into()), (FileChangeType::Auth, "src/auth/check.rs".into())],
            false,
        )
        .value;
        assert!(both > shared, "{both} {shared}");
        let docs_and_tests = release_risk(
            &[(FileChangeType::Docs, "README.md".into()), (FileChangeType::Test, "tests/a.rs".into())],
            false,
        )
        .value;
        assert!(docs_and_tests < 0.1);
    }

    #[test]
    fn own_saturation_points_to_infra_unless_traffic_surged() {
        let hog = own_saturation_share(0.8, 0.0);
        let load = own_saturation_share(0.8, 0.9);
        assert!(hog > 0.7 && load < 0.1, "{hog} {load}");
        assert_eq!(own_saturation(hog, "cpu", "a").value, hog);
        assert!((not_resource_bound(hog, "a").value - (1.0 - hog)).abs() < 1e-9);
        assert!(own_saturation(0.0, "cpu", "a").explanation.contains("explain little"));
    }

    #[test]
    fn config_risk_rises_for_capacity_fields_that_shrink() {
        let mk = |kind, field: &str, old: &str, new: &str| ConfigChangeEvent {
            config_change_id: ConfigChangeId::derived(&["t"]),
            service_id: None,
            detected_at: Utc::now(),
            source: ConfigSource::K8sConfigmap,
            change_kind: kind,
            resource_name: "cfg".into(),
            diff_payload: json!({"field": field, "old_value": old, "new_value": new}),
            actor: None,
            audit_log_ref: None,
        };
        let pool = config_risk(&mk(ChangeKind::ConfigmapKey, "DB_POOL_MAX", "50", "5")).value;
        let banner = config_risk(&mk(ChangeKind::ConfigmapKey, "BANNER_TEXT", "a", "b")).value;
        assert!(pool > banner, "{pool} {banner}");
        assert_eq!(config_hypothesis_type(&mk(ChangeKind::DbSchemaAlter, "t", "", "")), HypothesisType::Db);
    }

    #[test]
    fn onset_order_rewards_leading() {
        assert!(onset_order(Some(3.0), "a").value > onset_order(Some(0.0), "a").value);
        assert!(onset_order(Some(0.0), "a").value > onset_order(Some(-3.0), "a").value);
    }

    #[test]
    fn isolation_is_high_when_dependencies_are_healthy() {
        assert_eq!(isolation(0.0, 0.8, "a").value, 1.0);
        assert!(isolation(0.8, 0.8, "a").value < 0.01);
        assert_eq!(isolation(0.5, 0.0, "a").value, 0.0);
    }

    #[test]
    fn path_support_falls_with_the_calmest_caller_between() {
        assert_eq!(path_support(1.0, None, "db").value, 1.0);
        assert!(path_support(1.0, None, "db").explanation.contains("directly"));
        assert_eq!(path_support(0.6, Some("api"), "db").value, 1.0);
        assert_eq!(path_support(0.0, Some("api"), "db").value, 0.0);
        let weak = path_support(0.15, Some("api"), "db");
        assert!((weak.value - 0.5).abs() < 1e-9 && weak.explanation.contains("api"), "{weak:?}");
    }

    #[test]
    fn precedent_is_laplace_smoothed() {
        assert_eq!(precedent(0, 0, "a", HypothesisType::Release).value, 0.5);
        assert!(precedent(3, 4, "a", HypothesisType::Config).value > 0.6);
        assert!(precedent(3, 4, "a", HypothesisType::Config).explanation.contains("3 of 4"));
    }

    #[test]
    fn unexplained_and_quality_and_similarity() {
        assert_eq!(unexplained_by_change(0.0, "a").value, 1.0);
        assert!(evidence_quality(2).value < evidence_quality(0).value);
        assert_eq!(diff_similarity(None).value, 0.0);
        assert!((combine(&[Factor::new("a", 1.0, 1.0, ""), Factor::new("b", 0.0, 3.0, "")]) - 0.25).abs() < 1e-9);
    }
}
