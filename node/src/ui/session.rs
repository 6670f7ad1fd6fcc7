//! Sign-in sessions of the web UI, held in this node's memory.
//!
//! A session is made when an admin token signs in: the browser gets only a random session
//! id in an `HttpOnly`, `SameSite=Strict` cookie (script cannot read it, other sites cannot
//! send it), and every form carries the session's own CSRF token, checked on each POST. The
//! admin token stays on the server and goes with every API call the session makes, so the
//! API's own checks decide what it may do: a token deleted through the API ends its
//! sessions' rights at once. Sessions are per node (signing in on another node makes
//! another one); they end on sign-out, after [`IDLE`] unused, or with the process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secrets::new_token;

/// A session unused this long is gone.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions live at once; the least recently used goes first.
const MAX_SESSIONS: usize = 1024;
/// The cookie that carries the session id.
pub const COOKIE: &str = "raftwire_session";

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// The admin token it signed in with (sent as the bearer of its API calls).
    pub token: String,
    /// What its forms must carry back.
    pub csrf: String,
    last_used: Instant,
}

/// The sessions of this node.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the map leaves it whole (every change is one insert or
        // remove): go on with it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `token`: its id (the cookie's value).
    pub fn create(&self, token: String) -> String {
        let id = new_token();
        let session = Session {
            token,
            csrf: new_token(),
            last_used: Instant::now(),
        };
        let mut map = self.lock();
        map.retain(|_, s| s.last_used.elapsed() < IDLE);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session);
        id
    }

    /// The live session `id`, marked used.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if s.last_used.elapsed() >= IDLE {
            map.remove(id);
            return None;
        }
        s.last_used = Instant::now();
        Some(s.clone())
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_removed() {
        let s = Sessions::default();
        let id = s.create("rw_token".into());
        let got = s.get(&id).unwrap();
        assert_eq!(got.token, "rw_token");
        assert_ne!(got.csrf, id, "the CSRF token is not the session id");
        assert!(s.get("another").is_none());
        s.remove(&id);
        assert!(s.get(&id).is_none());
    }
}
