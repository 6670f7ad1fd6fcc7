//! Converging the host, one module per concern.
//!
//! Every module follows the same four steps on each call of [`Module::converge`]:
//! **desired** (what the [`AgentConfig`] asks for, in the module's own terms), **observe**
//! (what the host has now — never what the module believes it set last time, so drift is
//! repaired), **diff**, and **apply** only the difference. A second call with the same
//! configuration changes nothing. A module touches only what it created (its own chains, its
//! interface, the sysctls it changed), and [`Module::remove`] takes all of that away again
//! (`--down-on-exit`).
//!
//! [`converge_all`] runs every module in order — WireGuard (the interface), addresses and
//! routes (on it), firewall, forwarding, DNS (which binds the overlay addresses) — and
//! collects each failure as a [`ModuleError`]: one module failing never stops the others.

pub mod addresses;
pub mod dns;
pub mod firewall;
pub mod forwarding;
pub mod wireguard;

use std::path::PathBuf;

use raftwire_api::agent::AgentConfig;
use raftwire_api::protocol::ModuleError;

/// How the WireGuard interface is provided (`--wg-backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WgBackend {
    /// The kernel module where it exists, otherwise userspace.
    #[default]
    Auto,
    /// The kernel module only.
    Kernel,
    /// `wireguard-go` (started for the interface, or an existing UAPI socket adopted).
    Userspace,
}

/// What the modules need to know about this agent (from its flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--interface`: the WireGuard interface name; `None` takes the configuration's.
    pub interface: Option<String>,
    pub wg_backend: WgBackend,
    /// The agent's WireGuard private key (base64); it never leaves the host.
    pub private_key: String,
    /// `--state-dir`: where modules may keep what they must remember across restarts
    /// (for example a sysctl's value before the agent changed it).
    pub state_dir: PathBuf,
    /// `--dns-port`: the port the DNS server listens on (53).
    pub dns_port: u16,
    /// The runtime for modules that run servers (DNS).
    pub runtime: tokio::runtime::Handle,
}

impl Settings {
    /// The interface name to use for `desired`.
    pub fn interface_for<'a>(&'a self, desired: &'a AgentConfig) -> &'a str {
        self.interface
            .as_deref()
            .unwrap_or(desired.interface.name.as_str())
    }
}

/// Every module, in the order they converge.
pub fn all(settings: &Settings) -> Vec<Box<dyn Module>> {
    vec![
        // WireGuard first (the interface), then its addresses and routes.
        Box::new(wireguard::WireGuard::new(settings)),
        Box::new(addresses::Addresses::new(settings)),
        // The firewall before forwarding: a new jump never forwards before its chains
        // exist (and on removal, forwarding is restored before the chains go).
        Box::new(firewall::Firewall::new(settings)),
        Box::new(forwarding::Forwarding::new(settings)),
        // DNS last: it binds the overlay addresses.
        Box::new(dns::Dns::new(settings)),
    ]
}

/// One concern of the host.
pub trait Module: Send {
    /// The module's name in status reports: `wireguard`, `addresses`, `forwarding`,
    /// `firewall`, `dns`.
    fn name(&self) -> &'static str;

    /// Brings the host to `desired`, applying only the difference to what it observes.
    fn converge(&mut self, desired: &AgentConfig) -> Result<(), String>;

    /// Removes everything this module made (the host as it was before the agent).
    fn remove(&mut self) -> Result<(), String>;
}

/// Converges every module; the errors of those that failed.
pub fn converge_all(modules: &mut [Box<dyn Module>], desired: &AgentConfig) -> Vec<ModuleError> {
    modules
        .iter_mut()
        .filter_map(|m| {
            m.converge(desired).err().map(|message| ModuleError {
                module: m.name().to_string(),
                message,
            })
        })
        .collect()
}

/// Removes what every module made, in reverse order; the errors of those that failed.
pub fn remove_all(modules: &mut [Box<dyn Module>]) -> Vec<ModuleError> {
    modules
        .iter_mut()
        .rev()
        .filter_map(|m| {
            m.remove().err().map(|message| ModuleError {
                module: m.name().to_string(),
                message,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        name: &'static str,
        fail: bool,
        calls: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
    }

    impl Module for Probe {
        fn name(&self) -> &'static str {
            self.name
        }
        fn converge(&mut self, _: &AgentConfig) -> Result<(), String> {
            self.calls.lock().unwrap().push(self.name);
            if self.fail {
                Err("broken".into())
            } else {
                Ok(())
            }
        }
        fn remove(&mut self) -> Result<(), String> {
            self.calls.lock().unwrap().push(self.name);
            Ok(())
        }
    }

    fn config() -> AgentConfig {
        crate::testkit::sample_config(None)
    }

    #[test]
    fn a_failing_module_is_reported_and_the_others_still_run() {
        let calls = std::sync::Arc::default();
        let probe = |name, fail| -> Box<dyn Module> {
            Box::new(Probe {
                name,
                fail,
                calls: std::sync::Arc::clone(&calls),
            })
        };
        let mut modules = vec![probe("a", false), probe("b", true), probe("c", false)];
        let errors = converge_all(&mut modules, &config());
        assert_eq!(
            errors,
            vec![ModuleError {
                module: "b".into(),
                message: "broken".into()
            }]
        );
        assert_eq!(*calls.lock().unwrap(), vec!["a", "b", "c"]);
        calls.lock().unwrap().clear();
        assert!(remove_all(&mut modules).is_empty());
        assert_eq!(
            *calls.lock().unwrap(),
            vec!["c", "b", "a"],
            "removal runs in reverse"
        );
    }
}
