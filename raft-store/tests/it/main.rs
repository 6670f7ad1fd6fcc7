//! The replicated state's integration tests, one binary (each binary links RocksDB and
//! openraft): `apply` by example and by property, the consistency check a restore demands,
//! crash/restart of a real single-node Raft on disk, memory per peer, openraft's storage
//! conformance suite, and the rolling-upgrade fixtures.
//!
//! One area: `cargo test -p raftwire-raft-store --test it upgrade::`.

mod common;
mod variants;

mod apply_examples;
mod apply_properties;
mod consistency;
mod crash_restart;
mod dry_run;
mod memory;
mod storage_suite;
mod upgrade;
