//! SLOs and invariants: what they are (`model`), which definitions can be evaluated
//! (`validate`, errors naming the field), the burn-rate arithmetic of the SRE
//! workbook's multiwindow, multi-burn-rate alerts (`burn`), invariant checks
//! (`check`), the signals both raise into the alert intake (`signal`), and the
//! storage port (`store`); what people are told about an incident and the port
//! that queues it (`notify`); notification channels, their durable delivery queue,
//! its port and the notifier over it (`channels`); follow-up tickets with their
//! history, dependencies and readiness, and their own port (`tickets`); on-call
//! schedules, who is on call, the escalation steps and an incident's assignment, with
//! their port (`oncall`). No IO but through the ports.

pub mod burn;
pub mod channels;
pub mod check;
pub mod model;
pub mod notify;
pub mod oncall;
pub mod signal;
pub mod store;
pub mod tickets;
pub mod validate;

pub use model::*;
pub use store::{OpsStore, Unconfigured};
pub use validate::FieldError;
