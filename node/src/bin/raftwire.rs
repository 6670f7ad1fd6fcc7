//! `raftwire` CLI (being written)
fn main() {}
