//! The response policy: a small TOML file deciding what happens once an
//! investigation has ranked its hypotheses (acknowledge the incident, page, tell the
//! project's channels). Versioned like the triage policy, by the hash of the file;
//! every action it takes is an `incident_decisions` row carrying that version.

use inquest_domain::HypothesisType;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::Severity;
use crate::policy::PolicyError;

/// The response policy used when no file is given (`[intake] response_policy_file`
/// overrides it).
pub const DEFAULT_RESPONSE_POLICY: &str = r#"# Inquest response policy: what happens once an investigation has ranked its
# hypotheses. Every rule whose conditions all hold adds its actions; each action is
# taken once per investigation and recorded as a decision on the incident.
# Actions: "acknowledge" (open -> triaged, stopping escalation), "page" (a page to
# the person assigned, through every channel), "notify" (the diagnosis, to every
# channel).

# A confident diagnosis that people have confirmed before on the same service.
[[rule]]
name = "confident-with-precedent"
min_confidence = 0.85
min_confirmed_precedents = 1
actions = ["acknowledge", "page"]

# Every diagnosis is told to the project's channels.
[[rule]]
name = "tell-the-channels"
actions = ["notify"]
"#;

/// What a rule can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseAction {
    Acknowledge,
    Page,
    Notify,
}

impl ResponseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseAction::Acknowledge => "acknowledge",
            ResponseAction::Page => "page",
            ResponseAction::Notify => "notify",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRule {
    pub name: String,
    /// The leading hypothesis' confidence, at least (0 to 1).
    #[serde(default)]
    pub min_confidence: f64,
    /// Earlier incidents on the same service whose confirmed cause had the leading
    /// hypothesis' type, at least.
    #[serde(default)]
    pub min_confirmed_precedents: u32,
    /// Only these hypothesis types (all when empty).
    #[serde(default)]
    pub hypothesis_types: Vec<HypothesisType>,
    /// The incident's severity, at least.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    pub actions: Vec<ResponseAction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFile {
    #[serde(default)]
    rule: Vec<ResponseRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePolicy {
    pub rules: Vec<ResponseRule>,
    /// `response-sha256:<first 16 hex of the file's hash>`, recorded on every decision.
    pub version: String,
}

/// What an investigation concluded, as the response policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub severity: Severity,
    /// The leading hypothesis, if the investigation ranked any.
    pub top: Option<LeadingHypothesis>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadingHypothesis {
    pub title: String,
    pub hypothesis_type: HypothesisType,
    pub confidence: f64,
    /// Earlier incidents of the service whose confirmed cause was of this type.
    pub confirmed_precedents: u32,
}

/// An action to take, and the rules that asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub action: ResponseAction,
    pub rules: Vec<String>,
    /// Why, in one line ("confidence 0.91 >= 0.85; 2 confirmed precedents >= 1").
    pub rationale: String,
}

impl ResponsePolicy {
    pub fn parse(text: &str) -> Result<ResponsePolicy, PolicyError> {
        let f: ResponseFile = toml::from_str(text)?;
        let invalid = |field: String, message: &str| PolicyError::Invalid { field, message: message.into() };
        for (i, r) in f.rule.iter().enumerate() {
            if r.name.trim().is_empty() {
                return Err(invalid(format!("rule[{i}].name"), "must not be empty"));
            }
            if !(0.0..=1.0).contains(&r.min_confidence) {
                return Err(invalid(format!("rule[{i}].min_confidence"), "must be between 0 and 1"));
            }
            if r.actions.is_empty() {
                return Err(invalid(format!("rule[{i}].actions"), "must name at least one action"));
            }
            if f.rule[..i].iter().any(|o| o.name == r.name) {
                return Err(invalid(format!("rule[{i}].name"), "is used by an earlier rule"));
            }
        }
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(ResponsePolicy { rules: f.rule, version: format!("response-sha256:{}", &digest[..16]) })
    }

    pub fn load(path: &std::path::Path) -> Result<ResponsePolicy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PolicyError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    pub fn default_policy() -> ResponsePolicy {
        #[allow(clippy::expect_used)]
        Self::parse(DEFAULT_RESPONSE_POLICY).expect("the built-in response policy parses")
    }

    /// The actions the rules ask for on `d`, each once, in the order acknowledge, page,
    /// notify. A rule with a condition on the leading hypothesis does not hold when
    /// there is none.
    pub fn plan(&self, d: &Diagnosis) -> Vec<Planned> {
        let mut out: Vec<Planned> = Vec::new();
        for r in &self.rules {
            let Some(why) = holds(r, d) else { continue };
            for a in &r.actions {
                match out.iter_mut().find(|p| p.action == *a) {
                    Some(p) => {
                        p.rules.push(r.name.clone());
                        p.rationale = format!("{}; rule {}: {why}", p.rationale, r.name);
                    }
                    None => out.push(Planned {
                        action: *a,
                        rules: vec![r.name.clone()],
                        rationale: format!("rule {}: {why}", r.name),
                    }),
                }
            }
        }
        out.sort_by_key(|p| p.action);
        out
    }
}

/// Why the rule holds on `d`, or `None` when it does not.
fn holds(r: &ResponseRule, d: &Diagnosis) -> Option<String> {
    let mut why = Vec::new();
    if let Some(min) = r.min_severity {
        if !d.severity.at_least(min) {
            return None;
        }
        why.push(format!("severity {} >= {min}", d.severity));
    }
    let needs_top = r.min_confidence > 0.0 || r.min_confirmed_precedents > 0 || !r.hypothesis_types.is_empty();
    match &d.top {
        Some(t) => {
            if t.confidence < r.min_confidence || t.confirmed_precedents < r.min_confirmed_precedents {
                return None;
            }
            if !r.hypothesis_types.is_empty() && !r.hypothesis_types.contains(&t.hypothesis_type) {
                return None;
            }
            if r.min_confidence > 0.0 {
                why.push(format!("confidence {:.2} >= {:.2}", t.confidence, r.min_confidence));
            }
            if r.min_confirmed_precedents > 0 {
                why.push(format!("{} confirmed precedents >= {}", t.confirmed_precedents, r.min_confirmed_precedents));
            }
            if !r.hypothesis_types.is_empty() {
                why.push(format!("type {}", t.hypothesis_type));
            }
        }
        None if needs_top => return None,
        None => {}
    }
    if why.is_empty() {
        why.push("always".to_string());
    }
    Some(why.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnosis(confidence: f64, precedents: u32) -> Diagnosis {
        Diagnosis {
            severity: Severity::Critical,
            top: Some(LeadingHypothesis {
                title: "release r42 of checkout".into(),
                hypothesis_type: HypothesisType::Release,
                confidence,
                confirmed_precedents: precedents,
            }),
        }
    }

    fn actions(p: &ResponsePolicy, d: &Diagnosis) -> Vec<ResponseAction> {
        p.plan(d).into_iter().map(|a| a.action).collect()
    }

    #[test]
    fn the_default_acknowledges_and_pages_a_confident_diagnosis_with_a_confirmed_precedent() {
        let p = ResponsePolicy::default_policy();
        assert!(p.version.starts_with("response-sha256:"));
        use ResponseAction::*;
        assert_eq!(actions(&p, &diagnosis(0.91, 2)), vec![Acknowledge, Page, Notify]);
        assert_eq!(actions(&p, &diagnosis(0.91, 0)), vec![Notify], "no precedent");
        assert_eq!(actions(&p, &diagnosis(0.84, 3)), vec![Notify], "not confident enough");
        assert_eq!(actions(&p, &Diagnosis { severity: Severity::High, top: None }), vec![Notify]);
        let planned = p.plan(&diagnosis(0.91, 2));
        assert_eq!(
            planned[0].rationale,
            "rule confident-with-precedent: confidence 0.91 >= 0.85, 2 confirmed precedents >= 1"
        );
        assert_eq!(planned[2].rationale, "rule tell-the-channels: always");
    }

    #[test]
    fn rules_filter_on_type_and_severity_and_an_action_is_planned_once() {
        let p = ResponsePolicy::parse(
            r#"
[[rule]]
name = "releases"
hypothesis_types = ["release"]
min_severity = "critical"
actions = ["page", "notify"]
[[rule]]
name = "everything"
actions = ["notify"]
"#,
        )
        .expect("parses");
        let planned = p.plan(&diagnosis(0.3, 0));
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[1].rules, vec!["releases".to_string(), "everything".to_string()]);
        let mut high = diagnosis(0.3, 0);
        high.severity = Severity::High;
        assert_eq!(actions(&p, &high), vec![ResponseAction::Notify]);
        let mut config = diagnosis(0.3, 0);
        config.top.as_mut().map(|t| t.hypothesis_type = HypothesisType::Config);
        assert_eq!(actions(&p, &config), vec![ResponseAction::Notify]);
    }

    #[test]
    fn invalid_response_policies_are_refused_naming_the_field() {
        let err = |text: &str| ResponsePolicy::parse(text).expect_err("refused").to_string();
        assert!(
            err("[[rule]]\nname = \"a\"\nmin_confidence = 1.5\nactions = [\"page\"]\n")
                .contains("rule[0].min_confidence")
        );
        assert!(err("[[rule]]\nname = \"a\"\nactions = []\n").contains("rule[0].actions"));
        assert!(err("[[rule]]\nname = \" \"\nactions = [\"page\"]\n").contains("rule[0].name"));
        assert!(
            err("[[rule]]\nname = \"a\"\nactions = [\"page\"]\n[[rule]]\nname = \"a\"\nactions = [\"notify\"]\n")
                .contains("rule[1].name")
        );
        assert!(ResponsePolicy::parse("[[rule]]\nname = \"a\"\nactions = [\"reboot\"]\n").is_err());
        assert!(ResponsePolicy::parse("[[rule]]\nname = \"a\"\nactions = [\"page\"]\nsurprise = 1\n").is_err());
        assert!(ResponsePolicy::parse("").expect("no rules").rules.is_empty());
    }
}
