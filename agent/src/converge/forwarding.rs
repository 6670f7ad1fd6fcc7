//! IP forwarding on a jump peer: `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding`.
//!
//! A family's sysctl is switched on exactly when the configuration asks for that family
//! (the jump has filter rules of it) and left alone otherwise. Before the agent changes a
//! value it writes the value it found to `forwarding.json` in the state directory, so an
//! agent restarted in between still knows it; when the family goes away, or on removal, the
//! value is put back and forgotten. A sysctl the agent never changed (it was already on) is
//! never touched. A value reset by hand while the family is wanted is set again on the next
//! converge.

use std::path::{Path, PathBuf};

use raftwire_api::agent::AgentConfig;
use serde::{Deserialize, Serialize};

use super::{Module, Settings};

/// `net.ipv4.ip_forward`.
pub const IPV4_SYSCTL: &str = "/proc/sys/net/ipv4/ip_forward";
/// `net.ipv6.conf.all.forwarding`.
pub const IPV6_SYSCTL: &str = "/proc/sys/net/ipv6/conf/all/forwarding";
/// The file in the state directory holding the values found before the agent changed them.
pub const STATE_FILE: &str = "forwarding.json";

/// The values the sysctls had before the agent switched them on (`None`: not changed by us).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Previous {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipv6: Option<String>,
}

impl Previous {
    fn slot(&mut self, ipv6: bool) -> &mut Option<String> {
        if ipv6 {
            &mut self.ipv6
        } else {
            &mut self.ipv4
        }
    }
}

/// The forwarding module.
pub struct Forwarding {
    state_file: PathBuf,
}

impl Forwarding {
    pub fn new(settings: &Settings) -> Self {
        Forwarding {
            state_file: settings.state_dir.join(STATE_FILE),
        }
    }

    /// The remembered values; a missing file is "nothing remembered". An unreadable one is
    /// reported, and treated as empty so forwarding still follows the configuration.
    fn load(&self) -> (Previous, Option<String>) {
        match std::fs::read_to_string(&self.state_file) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(p) => (p, None),
                Err(e) => (
                    Previous::default(),
                    Some(format!("{}: {e}", self.state_file.display())),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Previous::default(), None),
            Err(e) => (
                Previous::default(),
                Some(format!("{}: {e}", self.state_file.display())),
            ),
        }
    }

    /// Writes the remembered values (temporary file and rename: never half a file).
    fn store(&self, previous: &Previous) -> Result<(), String> {
        let describe = |e: std::io::Error| format!("{}: {e}", self.state_file.display());
        if *previous == Previous::default() {
            return match std::fs::remove_file(&self.state_file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(describe(e)),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.state_file.parent() {
            std::fs::create_dir_all(dir).map_err(describe)?;
        }
        let json = serde_json::to_string(previous).map_err(|e| e.to_string())?;
        let tmp = self.state_file.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(describe)?;
        std::fs::rename(&tmp, &self.state_file).map_err(describe)
    }

    /// Applies `want` (per family: on, or "leave alone / put back") and returns the errors.
    fn apply(&self, want: [bool; 2]) -> Result<(), String> {
        let (mut previous, mut errors) = {
            let (p, e) = self.load();
            (p, e.into_iter().collect::<Vec<_>>())
        };
        for (ipv6, on) in [(false, want[0]), (true, want[1])] {
            let path = Path::new(if ipv6 { IPV6_SYSCTL } else { IPV4_SYSCTL });
            if let Err(e) = self.apply_family(&mut previous, ipv6, on, path) {
                errors.push(format!("{}: {e}", if ipv6 { "IPv6" } else { "IPv4" }));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn apply_family(
        &self,
        previous: &mut Previous,
        ipv6: bool,
        on: bool,
        path: &Path,
    ) -> Result<(), String> {
        if on {
            let current = read(path)?;
            if current != "1" {
                // Remember before changing: should the write succeed and the agent die, the
                // old value is still known. An earlier remembered value stays: it is the
                // host's, the current one may be a reset by hand.
                if previous.slot(ipv6).is_none() {
                    *previous.slot(ipv6) = Some(current);
                    self.store(previous)?;
                }
                write(path, "1")?;
            }
        } else if let Some(old) = previous.slot(ipv6).clone() {
            if read(path)? != old {
                write(path, &old)?;
            }
            *previous.slot(ipv6) = None;
            self.store(previous)?;
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, format!("{value}\n"))
        .map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}

impl Module for Forwarding {
    fn name(&self) -> &'static str {
        "forwarding"
    }

    fn converge(&mut self, desired: &AgentConfig) -> Result<(), String> {
        self.apply([desired.forwarding.ipv4, desired.forwarding.ipv6])
    }

    fn remove(&mut self) -> Result<(), String> {
        self.apply([false, false])
    }
}
