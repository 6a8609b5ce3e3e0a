//! Integration tests of the workspace itself: `tidy` checks the crates' manifests and
//! dependencies against the architecture invariants.

mod tidy;
