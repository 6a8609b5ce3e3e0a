//! End-to-end tests of the `inquest` binary.

mod stores;
