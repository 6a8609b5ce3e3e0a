//! The change feeds' routes (`/api/feeds/...`), one module per kind of sender; each
//! reads its body through `crate::feeds::receive`, so counting, refusals and receipts
//! are the same everywhere.

pub(super) mod deployments;
pub(super) mod git;
pub(super) mod github;
pub(super) mod kubernetes;
pub(super) mod schema_changes;
