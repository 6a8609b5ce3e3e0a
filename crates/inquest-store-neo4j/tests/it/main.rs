//! Integration tests of the Neo4j adapter: its Cypher statements on grafeo (a real
//! in-process Cypher engine), and the whole suite over Bolt when
//! `INQUEST_TEST_NEO4J_URL` names a real Neo4j.

mod bolt;
mod grafeo_exec;
mod on_grafeo;
