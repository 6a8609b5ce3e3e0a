//! Integration tests of the git sync: real repositories made with the `git` command,
//! synced into the embedded store and into Postgres.

mod postgres;
mod range;
mod support;
mod sync;
