//! Integration tests of the workspace itself: `tidy` checks the crates' manifests and
//! dependencies against the architecture invariants; `kubernetes` renders and validates
//! the manifests of `deploy/k8s`.

mod kubernetes;
mod tidy;
