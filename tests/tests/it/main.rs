//! End-to-end tests across crates, one binary (each binary links RocksDB and openraft).
//! `common` is the harness: in-process nodes and the `raftwire-agent` child process.
//!
//! The agent tests run the real binary: build it first with `cargo build -p raftwire-agent`.

mod common;

mod agent_runtime;
