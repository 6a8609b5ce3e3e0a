//! Integration tests of the Postgres adapter against a real server
//! (`INQUEST_TEST_POSTGRES_URL`, started by `scripts/ci.d/10-postgres.sh`).

mod contract;
mod migrate;
mod parity;
mod support;
