//! End-to-end tests across crates: real nodes (in process) and the real `raftwire-agent`
//! binary (a child process), in `tests/it/`. Cluster and API tests of the node alone live in
//! `node/tests/`, next to the library they drive.
