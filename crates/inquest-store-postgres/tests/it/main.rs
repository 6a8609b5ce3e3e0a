//! Integration tests of the Postgres adapter against a real server
//! (`INQUEST_TEST_POSTGRES_URL`, started by `scripts/ci.d/10-postgres.sh`): the
//! records and intake contracts, migrations, parity with the embedded store, and
//! several intake stores (= processes) sharing one database.

mod access;
mod contract;
mod intake;
mod intake_sharing;
mod migrate;
mod notify;
mod oncall;
mod ops;
mod parity;
mod projects;
mod support;
mod tickets;
