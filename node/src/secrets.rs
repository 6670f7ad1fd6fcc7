//! Secrets: random tokens and their hashes, WireGuard key pairs, and the read-or-create
//! rule for token files (mode 0600). All randomness of the node comes from here.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS RNG failing is unrecoverable for a process that must mint secrets.
    getrandom::fill(&mut b).expect("the operating system's random number generator failed");
    b
}

/// A new bearer token: `rw_` + 43 URL-safe characters (256 random bits).
pub fn new_token() -> String {
    format!("rw_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// What the replicated state keeps of a token: its SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A WireGuard key pair `(public, private)`, both base64.
pub fn wireguard_keypair() -> (String, String) {
    let secret = x25519_dalek::StaticSecret::from(random_bytes::<32>());
    let public = x25519_dalek::PublicKey::from(&secret);
    (
        STANDARD.encode(public.as_bytes()),
        STANDARD.encode(secret.to_bytes()),
    )
}

/// Reads the secret in `path`, or generates one, writes it there with mode 0600 and returns
/// it with `true` ("created").
pub fn read_or_create(path: &Path) -> std::io::Result<(String, bool)> {
    match fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok((s.trim().to_string(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir)?;
        }
    }
    let token = new_token();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{token}\n").as_bytes())?;
    f.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok((token, true))
}

/// Compares two secrets in constant time.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 46);
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(hash_token("x").len(), 64);
    }

    #[test]
    fn generated_keypairs_are_valid_wireguard_keys() {
        let (public, private) = wireguard_keypair();
        assert!(raftwire_api::validate::is_wireguard_key(&public));
        assert!(raftwire_api::validate::is_wireguard_key(&private));
        assert_ne!(public, private);
    }

    #[test]
    fn token_file_is_created_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/admin-token");
        let (t1, created) = read_or_create(&path).unwrap();
        assert!(created);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (t2, created) = read_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(t1, t2);
    }
}
