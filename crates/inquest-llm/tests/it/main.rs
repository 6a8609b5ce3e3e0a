//! Integration tests of the LLM report writer: a fake endpoint, a failing one, the
//! redaction and prompt-injection guarantees, and a real local llama.cpp server.

mod common;
mod guarantees;
mod real_server;
