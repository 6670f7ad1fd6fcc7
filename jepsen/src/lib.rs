//! Fault injection in the Jepsen style against a real Raftwire cluster.
//!
//! `raftwire-jepsen` runs N `raftwire-node` processes, each in a network namespace of its
//! own on a bridge ([`cluster`]), drives concurrent clients against random nodes
//! ([`workload`]), injects faults while they run ([`nemesis`]), records every operation
//! ([`history`]) and checks what was recorded ([`checker`]). `jepsen/README.md` explains how
//! to run it and how to read what it writes.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod workload;
