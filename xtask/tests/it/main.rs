//! Integration tests of the workspace itself: `tidy` checks the crates' manifests and
//! dependencies against the architecture invariants; `packaging` checks the image, the
//! compose stack and the CI workflow with their validators; `kubernetes` renders and
//! validates the manifests of `deploy/k8s`.

mod kubernetes;
mod packaging;
mod tidy;
