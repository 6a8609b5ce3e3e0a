//! Integration tests of the embedded store: the port contract suites (the intake, access, ops, tickets, on-call and notify stores' too) and durability.

mod access;
mod contract;
mod durability;
mod intake;
mod isolation;
mod notify;
mod oncall;
mod ops;
mod tickets;
