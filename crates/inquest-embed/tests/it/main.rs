//! Integration tests of the embedders: MiniLM against golden similarities, file
//! verification, and the bundled fixtures evaluated with real embeddings.

mod minilm;
