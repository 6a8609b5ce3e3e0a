//! The change feeds' routes, one module per sender; every one reads its body through
//! `crate::feeds::receive`, so counting and answers are the same everywhere.

pub mod kubernetes;
pub mod schema_changes;
