//! Sign-in sessions of the web UI, valid on every node of the cluster.
//!
//! Signing in with an admin token gives the browser a sealed session cookie: the token, the
//! session's CSRF token and when it was issued, encrypted and authenticated
//! (XChaCha20-Poly1305) under a key derived from the cluster secret, which every node holds.
//! So any node (behind a load balancer, whichever answers) opens the cookie and acts with the
//! token, and nothing about sessions needs replicating; a cookie altered, forged, or sealed by
//! another cluster does not open. The cookie is `HttpOnly` (script cannot read it) and
//! `SameSite=Strict` (other sites cannot send it), and every form carries the session's CSRF
//! token, checked on each POST. The token goes with every API call the session makes, so the
//! API's own checks decide what it may do: a token deleted through the API ends its
//! sessions' rights at once. A session ends on sign-out (its cookie is cleared) or [`LIFETIME`]
//! after sign-in; a copy of the cookie kept elsewhere stays valid until then, like any bearer
//! session cookie.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::{new_token, random_bytes};

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The cookie that carries the sealed session.
pub const COOKIE: &str = "raftwire_session";
/// Separates this key from anything else derived from the cluster secret.
const KEY_CONTEXT: &[u8] = b"raftwire web UI session cookie v1\0";

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The admin token it signed in with (sent as the bearer of its API calls).
    pub token: String,
    /// What its forms must carry back.
    pub csrf: String,
    /// Unix seconds of the sign-in.
    issued: u64,
}

/// Seals and opens the session cookies of this cluster.
pub struct Sessions {
    cipher: XChaCha20Poly1305,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sessions {
    /// Sessions sealed with a key derived from `cluster_secret`.
    pub fn new(cluster_secret: &str) -> Sessions {
        let key: [u8; 32] = Sha256::new()
            .chain_update(KEY_CONTEXT)
            .chain_update(cluster_secret.as_bytes())
            .finalize()
            .into();
        Sessions {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// A new session for `token`: the cookie's value.
    pub fn create(&self, token: String) -> String {
        let session = Session {
            token,
            csrf: new_token(),
            issued: unix_now(),
        };
        self.seal(&session)
    }

    fn seal(&self, session: &Session) -> String {
        let nonce: [u8; 24] = random_bytes();
        let plain = serde_json::to_vec(session).unwrap_or_default();
        // Encrypting into memory cannot fail for inputs this small.
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The session in cookie value `cookie`, if it was sealed by this cluster and has not
    /// expired.
    pub fn get(&self, cookie: &str) -> Option<Session> {
        let bytes = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .ok()?;
        let session: Session = serde_json::from_slice(&plain).ok()?;
        let age = unix_now().saturating_sub(session.issued);
        (age < LIFETIME.as_secs()).then_some(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_cookie_opens_on_every_node_of_the_cluster_and_nowhere_else() {
        let node1 = Sessions::new("cluster-secret");
        let node2 = Sessions::new("cluster-secret");
        let cookie = node1.create("rw_token".into());
        let got = node2
            .get(&cookie)
            .expect("another node of the cluster opens it");
        assert_eq!(got.token, "rw_token");
        assert_ne!(got.csrf, cookie, "the CSRF token is not the cookie");
        assert_eq!(node1.get(&cookie), Some(got));
        assert!(Sessions::new("another cluster").get(&cookie).is_none());
        assert!(node1.get("garbage").is_none());
    }

    #[test]
    fn an_altered_or_expired_session_cookie_does_not_open() {
        let s = Sessions::new("k");
        let cookie = s.create("rw_token".into());
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(s.get(&URL_SAFE_NO_PAD.encode(&bytes)).is_none());
        let old = Session {
            token: "rw_token".into(),
            csrf: "c".into(),
            issued: unix_now() - LIFETIME.as_secs() - 1,
        };
        assert!(s.get(&s.seal(&old)).is_none());
    }
}
