//! `raftwire-node`: the control-plane node binary.
//!
//! The HTTP API, Raft wiring and agent hub are the subject of the node issue and do not
//! exist yet. Until they do, this binary says so plainly instead of pretending to run.

fn main() {
    eprintln!(
        "raftwire-node: the node (HTTP API + Raft cluster) is not built yet.\n\
         What exists today is the pure domain core (crate raftwire-api) and the replicated\n\
         state (crate raftwire-raft-store); run `make test` to exercise them."
    );
    std::process::exit(2);
}
