//! End-to-end tests of the `inquest` binary.

mod demo;
mod stores;
