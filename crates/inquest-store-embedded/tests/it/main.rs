//! Integration tests of the embedded store: the port contract suites (the intake store's too) and durability.

mod access;
mod contract;
mod durability;
mod intake;
mod isolation;
mod tickets;
