//! Integration tests of the Qdrant adapter against the server named by
//! `INQUEST_TEST_QDRANT_URL` (gRPC, e.g. `http://127.0.0.1:6334`). No Qdrant
//! server can be installed on the build machines (no registry ships one), so
//! these skip there, under CI too, and say so.

mod semantic;
