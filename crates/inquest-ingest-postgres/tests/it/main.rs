//! Integration tests of the Postgres ingest store against a real server
//! (`INQUEST_TEST_POSTGRES_URL`, started by `scripts/ci.d/10-postgres.sh`): the
//! shared `IngestStore` contract, and several stores (= processes) sharing one database.

mod contract;
mod sharing;
mod support;
