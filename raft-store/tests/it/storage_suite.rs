//! openraft's storage conformance suite against the RocksDB store.

use openraft::testing::{StoreBuilder, Suite};
use raftwire_raft_store::store::{self, LogStore, StateMachineStore};
use raftwire_raft_store::types::{StorageError, TypeConfig};
use tempfile::TempDir;

/// Builds a store in a fresh temporary directory; the directory lives as long as the guard.
struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (log, sm) = store::open(dir.path())?;
        Ok((dir, log, sm))
    }
}

// Not #[tokio::test]: the suite starts its own runtime for every case.
#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(RocksBuilder) {
        panic!("storage suite failed: {e}");
    }
}
