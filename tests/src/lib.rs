//! End-to-end tests across crates (network namespaces with real WireGuard, agents and nodes)
//! arrive with the agent issue. Cluster and API tests of the node live in `node/tests/`, next
//! to the library they drive.
