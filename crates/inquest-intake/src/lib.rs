//! The alert intake's logic and its storage port, with no IO of its own: the
//! generic alert and the Alertmanager webhook, correlation into incidents under an
//! explicit policy file, the incident lifecycle (MTTA/MTTR), the investigation job
//! and the `IngestStore` port, the group commit both intake stores use, and the
//! response policy applied to an investigation's outcome.

pub mod correlate;
pub mod group;
pub mod lifecycle;
pub mod model;
pub mod policy;
pub mod response;
pub mod store;

pub use correlate::{Outcome, StoredAlert, correlate};
pub use group::{GroupCommit, GroupError, Groupable, Groups, IngestRequest};
pub use lifecycle::{Action, IncidentState};
pub use model::{Alert, AlertStatus, Severity};
pub use policy::{DEFAULT_POLICY, Policy};
pub use response::{DEFAULT_RESPONSE_POLICY, ResponseAction, ResponsePolicy};
pub use store::{Applied, IngestStore, Job, JobRun, JobState, LifecycleError, Pending, Taken};
