//! Integration tests of the `inquest` binary.

mod e2e;
