//! Integration tests of inquest-access: OIDC against a JWKS served on loopback, and the
//! first owner on the embedded access store.

mod bootstrap;
mod oidc;
