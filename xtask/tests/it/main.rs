//! Integration tests of the workspace itself: `tidy` checks the crates' manifests and
//! dependencies against the architecture invariants, `packaging` the image, the compose
//! stack and the CI workflow with their validators.

mod packaging;
mod tidy;
