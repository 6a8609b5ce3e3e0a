//! Integration tests of the embedded store: the shared port contracts.

mod contract;
