//! The agent's WireGuard key pair. The private key is generated on this host on first start
//! and kept in `<state-dir>/private.key` (mode 0600, directory 0700); later starts reuse
//! it, so the host keeps its identity. Only the public key is ever sent or logged.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The file name of the private key inside the state directory.
pub const PRIVATE_KEY_FILE: &str = "private.key";

/// A WireGuard (X25519) key pair, both halves base64 as `wg` prints them.
#[derive(Clone)]
pub struct KeyPair {
    private: String,
    public: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl KeyPair {
    /// The pair of a private key given in base64 (32 bytes).
    pub fn from_private(private_b64: &str) -> anyhow::Result<KeyPair> {
        let bytes = STANDARD
            .decode(private_b64.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .context("not a base64-encoded 32-byte WireGuard private key")?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> KeyPair {
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret);
        KeyPair {
            private: STANDARD.encode(secret.to_bytes()),
            public: STANDARD.encode(public.as_bytes()),
        }
    }

    /// A fresh key pair from the operating system's random number generator.
    pub fn generate() -> anyhow::Result<KeyPair> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("the system's random number generator failed: {e}"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The public key (base64), what the node learns in the hello.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The private key (base64), for the WireGuard interface only.
    pub fn private(&self) -> &str {
        &self.private
    }
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist.
pub fn ensure_state_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))
}

/// The key pair kept in `state_dir`, generated (and saved) on first start.
///
/// A key file that cannot be read as a key is an error, never silently replaced: a new key
/// would change the host's WireGuard identity behind the operator's back.
pub fn load_or_generate(state_dir: &Path) -> anyhow::Result<(KeyPair, bool)> {
    ensure_state_dir(state_dir)?;
    let path = state_dir.join(PRIVATE_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let pair = KeyPair::from_private(&text).with_context(|| {
                format!(
                    "{}: remove it to generate a new key (the peer's public key changes)",
                    path.display()
                )
            })?;
            tighten(&path)?;
            Ok((pair, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pair = KeyPair::generate()?;
            write_private(&path, pair.private())?;
            Ok((pair, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A key file others can read is made 0600 again (a copy or restore may have widened it).
fn tighten(path: &Path) -> anyhow::Result<()> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("inspecting {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "{} had mode {:o}; setting it to 0600",
            path.display(),
            mode & 0o777
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

/// Writes the key to a temporary file created 0600 and renames it into place, so a crash
/// never leaves a half-written key (which would be a changed identity on the next start).
fn write_private(path: &Path, private: &str) -> anyhow::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(private.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// `<file>.tmp-<pid>` next to `path`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Syncs the directory holding `path`, so a rename survives a crash.
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_first_start_generates_a_key_kept_0600_in_a_0700_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/agent");
        let (pair, generated) = load_or_generate(&dir).unwrap();
        assert!(generated);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join(PRIVATE_KEY_FILE);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().trim(),
            pair.private()
        );
        assert_eq!(STANDARD.decode(pair.public()).unwrap().len(), 32);
        assert_ne!(pair.public(), pair.private());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [PRIVATE_KEY_FILE], "no temporary file is left");
    }

    #[test]
    fn a_later_start_reuses_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = load_or_generate(dir.path()).unwrap();
        let (second, generated) = load_or_generate(dir.path()).unwrap();
        assert!(!generated);
        assert_eq!(first.private(), second.private());
        assert_eq!(first.public(), second.public());
    }

    #[test]
    fn the_public_key_is_the_one_wireguard_derives() {
        // RFC 7748 §6.1: Alice's private key and its public key.
        let private = hex_bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public = hex_bytes("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let pair = KeyPair::from_private(&STANDARD.encode(private)).unwrap();
        assert_eq!(pair.public(), STANDARD.encode(public));
        // And a generated pair is consistent with itself.
        let generated = KeyPair::generate().unwrap();
        assert_eq!(
            KeyPair::from_private(generated.private()).unwrap().public(),
            generated.public()
        );
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(PRIVATE_KEY_FILE);
        std::fs::write(&file, "not a key\n").unwrap();
        let err = load_or_generate(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("private.key"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a key\n");
    }

    #[test]
    fn a_key_file_readable_by_others_is_made_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, _) = load_or_generate(dir.path()).unwrap();
        let file = dir.path().join(PRIVATE_KEY_FILE);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (again, _) = load_or_generate(dir.path()).unwrap();
        assert_eq!(again.public(), pair.public());
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let pair = KeyPair::generate().unwrap();
        let shown = format!("{pair:?}");
        assert!(!shown.contains(pair.private()), "{shown}");
        assert!(shown.contains(pair.public()), "{shown}");
    }
}
