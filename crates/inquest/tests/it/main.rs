//! End-to-end tests of the `inquest` binary.

mod access;
mod alerting;
mod backends;
mod demo;
mod e2e;
mod feeds;
mod fuzz;
mod ingest;
mod live_loop;
mod notify;
mod oncall;
mod ops;
mod poll;
mod projects;
mod remote_write;
mod shared;
mod slos;
mod stores;
mod story;
mod support;
mod topology;
mod traces;
mod worker;
