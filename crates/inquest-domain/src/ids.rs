//! Stable identifiers. Ids derived from names are UUIDv5 so that loading the same
//! data twice yields the same rows instead of duplicates.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace for every id Inquest derives from names.
pub const INQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_0c2e_93b4_4e8a_b1d7_5c0e_2f49_a713);

/// A UUIDv5 under Inquest's namespace, from any number of name parts.
pub fn derived_uuid(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&INQUEST_NAMESPACE, parts.join("\u{1f}").as_bytes())
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            pub fn derived(parts: &[&str]) -> Self {
                Self(derived_uuid(parts))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// `services.service_id`
    ServiceId
);
impl ServiceId {
    /// The id of the service with key `cluster/namespace/name`: every loader (fixtures,
    /// importers, the intake) derives it this way, so they agree on the row.
    pub fn of_key(key: &str) -> ServiceId {
        ServiceId::derived(&["service", key])
    }
}

uuid_id!(
    /// `incidents.incident_id`
    IncidentId
);
uuid_id!(
    /// `deployment_events.deployment_event_id`
    DeploymentId
);
uuid_id!(
    /// `config_change_events.config_change_id`
    ConfigChangeId
);
uuid_id!(
    /// `evidence_artifacts.evidence_id`
    EvidenceId
);
uuid_id!(
    /// `incident_hypotheses.hypothesis_id`
    HypothesisId
);
uuid_id!(
    /// `incident_reports.report_id`
    ReportId
);
uuid_id!(
    /// `incident_decisions.decision_id`
    DecisionId
);
uuid_id!(
    /// `feedback_events.feedback_event_id`
    FeedbackEventId
);
uuid_id!(
    /// `commit_files.id`
    CommitFileId
);

uuid_id!(
    /// `users.user_id`
    UserId
);
uuid_id!(
    /// `api_tokens.token_id`
    TokenId
);
uuid_id!(
    /// `integrations.integration_id`
    IntegrationId
);
