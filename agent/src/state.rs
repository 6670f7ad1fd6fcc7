//! The last configuration the agent applied, kept in `<state-dir>/config.json` (mode 0600).
//!
//! It is read at start, before any connection: a host restarted while the whole control
//! plane is down converges to the last known state and keeps serving. Writes go to a
//! temporary file that is synced and renamed into place, so a crash leaves either the old
//! or the new file, never a torn one. A file that cannot be read is reported and ignored
//! (the agent then waits for its node), never fatal.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use raftwire_api::agent::AgentConfig;
use raftwire_api::protocol::config_fingerprint;
use serde::{Deserialize, Serialize};

use crate::keys::{sync_dir, temp_path};

/// The file name inside the state directory.
pub const CONFIG_FILE: &str = "config.json";

/// A configuration the agent applied, with the version the node sent it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub version: u64,
    pub config: AgentConfig,
}

impl Applied {
    /// The fingerprint the node compares in the hello.
    pub fn fingerprint(&self) -> String {
        config_fingerprint(&self.config)
    }
}

/// A persisted configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid saved configuration: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The path of the persisted configuration in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(CONFIG_FILE)
}

/// The persisted configuration: `Ok(None)` when there is none yet.
pub fn load(state_dir: &Path) -> Result<Option<Applied>, StateError> {
    let path = path(state_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateError::Corrupt { path, source })
}

/// Replaces the persisted configuration atomically.
pub fn save(state_dir: &Path, applied: &Applied) -> std::io::Result<()> {
    let path = path(state_dir);
    let json = serde_json::to_vec_pretty(applied).map_err(std::io::Error::other)?;
    let tmp = temp_path(&path);
    let result = (|| {
        // A leftover from a crashed write would make `create_new` fail.
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(&path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    pub(crate) fn sample(listen_port: Option<u16>) -> AgentConfig {
        crate::testkit::sample_config(listen_port)
    }

    #[test]
    fn a_saved_configuration_loads_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None, "nothing saved yet");
        let applied = Applied {
            version: 42,
            config: sample(Some(51820)),
        };
        save(dir.path(), &applied).unwrap();
        let back = load(dir.path()).unwrap().unwrap();
        assert_eq!(back, applied);
        assert_eq!(back.fingerprint(), config_fingerprint(&applied.config));
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn saving_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = Applied {
            version: 1,
            config: sample(None),
        };
        save(dir.path(), &first).unwrap();
        // A reader holding the old file keeps seeing the old content: the new one is a new
        // inode renamed over it, not the old file rewritten in place.
        let held = std::fs::File::open(path(dir.path())).unwrap();
        let second = Applied {
            version: 2,
            config: sample(Some(1000)),
        };
        // A leftover temporary file from a crashed write does not block the next one.
        std::fs::write(temp_path(&path(dir.path())), b"{ torn").unwrap();
        save(dir.path(), &second).unwrap();
        let old: Applied = serde_json::from_reader(held).unwrap();
        assert_eq!(old, first);
        assert_eq!(load(dir.path()).unwrap().unwrap(), second);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CONFIG_FILE]);
    }

    #[test]
    fn a_corrupt_file_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{\"version\": 3, \"config\": {").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("config.json"), "{err}");
        // The next save replaces it.
        let applied = Applied {
            version: 4,
            config: sample(None),
        };
        save(dir.path(), &applied).unwrap();
        assert_eq!(load(dir.path()).unwrap().unwrap(), applied);
    }

    #[test]
    fn an_unreadable_path_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(path(dir.path())).unwrap();
        assert!(matches!(load(dir.path()), Err(StateError::Read { .. })));
    }
}
