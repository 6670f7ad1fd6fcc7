//! The agent's flags. Every flag also reads `RAFTWIRE_AGENT_<FLAG>` from the environment, so
//! a systemd unit can keep them all in one `EnvironmentFile`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::converge::{Settings, WgBackend};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// One control-plane address the agent may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The agent WebSocket: `ws(s)://host:port[/prefix]/api/v1/agent/ws`.
    pub ws_url: String,
    /// `wss://`: the connection needs TLS.
    pub tls: bool,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ws_url)
    }
}

/// The path of the agent WebSocket under a node's base URL.
pub const AGENT_WS_PATH: &str = "/api/v1/agent/ws";

impl std::str::FromStr for Server {
    type Err = String;

    /// `http://`/`ws://` become `ws://`, `https://`/`wss://` become `wss://`; the agent
    /// WebSocket path is appended to whatever path the URL has (a reverse proxy's prefix).
    fn from_str(s: &str) -> Result<Server, String> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?}: expected http(s)://host:port"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            other => {
                return Err(format!(
                    "{s:?}: unsupported scheme {other:?} (use http, https, ws or wss)"
                ))
            }
        };
        let rest = rest.trim_end_matches('/');
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("{s:?}: no host"));
        }
        if rest.contains(['?', '#']) {
            return Err(format!("{s:?}: a query or fragment is not allowed"));
        }
        let base = rest.strip_suffix(AGENT_WS_PATH).unwrap_or(rest);
        let scheme = if tls { "wss" } else { "ws" };
        Ok(Server {
            ws_url: format!("{scheme}://{base}{AGENT_WS_PATH}"),
            tls,
        })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?,
    };
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// `raftwire-agent`: converges this host (WireGuard interface, addresses and routes,
/// forwarding, firewall, DNS) to the configuration its Raftwire node pushes, and keeps it
/// there.
#[derive(Debug, Clone, Parser)]
#[command(name = "raftwire-agent", version, about, long_about = None)]
pub struct Args {
    /// Control-plane nodes to connect to, comma-separated or repeated: http(s)://host:port
    /// (ws:// and wss:// work too). The agent uses <url>/api/v1/agent/ws and, when a
    /// connection fails, moves on to the next one. A load balancer is just one entry.
    #[arg(
        long,
        env = "RAFTWIRE_AGENT_SERVER",
        value_delimiter = ',',
        required = true,
        value_name = "URL[,URL…]"
    )]
    pub server: Vec<Server>,

    /// File holding this peer's agent token (shown once when the peer was created, or
    /// rotated with POST …/peers/{id}/token). Read again on every connection, so a rotated
    /// token needs no restart.
    #[arg(long, env = "RAFTWIRE_AGENT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: PathBuf,

    /// WireGuard interface name to use instead of the one the configuration names.
    #[arg(long, env = "RAFTWIRE_AGENT_INTERFACE", value_name = "NAME")]
    pub interface: Option<String>,

    /// How the WireGuard interface is provided: the kernel module (kernel), wireguard-go
    /// (userspace), or the kernel module where it exists, else userspace (auto).
    #[arg(
        long,
        env = "RAFTWIRE_AGENT_WG_BACKEND",
        value_enum,
        default_value_t = WgBackend::Auto
    )]
    pub wg_backend: WgBackend,

    /// Directory for the private key (private.key, mode 0600, generated on first start; it
    /// never leaves the host) and the last applied configuration (config.json), so a
    /// restarted host converges even while no node is reachable.
    #[arg(
        long,
        env = "RAFTWIRE_AGENT_STATE_DIR",
        value_name = "DIR",
        default_value = "/var/lib/raftwire-agent"
    )]
    pub state_dir: PathBuf,

    /// Port of the DNS server a jump peer runs on its overlay addresses.
    #[arg(
        long,
        env = "RAFTWIRE_AGENT_DNS_PORT",
        value_name = "PORT",
        default_value_t = 53
    )]
    pub dns_port: u16,

    /// PEM file with the CA certificate(s) to trust for wss:// / https:// servers, instead
    /// of the system's roots (for a cluster with its own CA or a self-signed certificate).
    #[arg(long, env = "RAFTWIRE_AGENT_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// How often the host is re-checked and drift repaired (a chain flushed by hand, a
    /// removed peer or address, a reset sysctl) without waiting for a push. Seconds or a
    /// duration such as 30s, 2m.
    #[arg(
        long,
        env = "RAFTWIRE_AGENT_RESYNC_INTERVAL",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub resync_interval: Duration,

    /// On SIGTERM/SIGINT, remove everything the agent made (interface, routes, chains,
    /// sysctls, DNS). Without it the tunnel stays up while the agent is stopped or upgraded.
    #[arg(long, env = "RAFTWIRE_AGENT_DOWN_ON_EXIT")]
    pub down_on_exit: bool,

    /// Log format: text or json. The level comes from RUST_LOG (default info).
    #[arg(
        long,
        env = "RAFTWIRE_AGENT_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// Host name reported to the node (default: /etc/hostname, else the kernel's `uname -n`).
    #[arg(long, env = "RAFTWIRE_AGENT_HOSTNAME", value_name = "NAME")]
    pub hostname: Option<String>,
}

impl Args {
    /// The host name to report: the flag, else `/etc/hostname`, else the kernel's.
    pub fn hostname(&self) -> String {
        if let Some(h) = self.hostname.as_deref().map(str::trim) {
            if !h.is_empty() {
                return h.to_string();
            }
        }
        ["/etc/hostname", "/proc/sys/kernel/hostname"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .or_else(|| {
                crate::host::run("uname", &["-n"])
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "unknown".into())
    }

    /// The agent token from `--token-file` (surrounding whitespace removed).
    pub fn read_token(&self) -> anyhow::Result<String> {
        read_token(&self.token_file)
    }

    /// What the converge modules need.
    pub fn settings(&self, private_key: String, runtime: tokio::runtime::Handle) -> Settings {
        Settings {
            interface: self.interface.clone(),
            wg_backend: self.wg_backend,
            private_key,
            state_dir: self.state_dir.clone(),
            dns_port: self.dns_port,
            runtime,
        }
    }
}

/// Reads an agent token file; an empty file is an error.
pub fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the agent token {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the agent token {} is empty",
        path.display()
    );
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Parses `args` with exactly the environment `env` (flags' variables only).
    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Args, clap::Error> {
        // clap reads the process environment, which all tests share: this lock keeps
        // them from seeing each other's variables.
        static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let ours: Vec<String> = std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("RAFTWIRE_AGENT_"))
            .collect();
        for k in ours {
            std::env::remove_var(k);
        }
        for (k, v) in env {
            std::env::set_var(k, v);
        }
        let result =
            Args::try_parse_from(std::iter::once("raftwire-agent").chain(args.iter().copied()));
        for (k, _) in env {
            std::env::remove_var(k);
        }
        result
    }

    #[test]
    fn defaults_apply_when_only_the_required_flags_are_given() {
        let a = parse(&["--server", "http://n1:7070", "--token-file", "/t"], &[]).unwrap();
        assert_eq!(a.server.len(), 1);
        assert_eq!(a.server[0].ws_url, "ws://n1:7070/api/v1/agent/ws");
        assert_eq!(a.token_file, PathBuf::from("/t"));
        assert_eq!(a.interface, None);
        assert_eq!(a.wg_backend, WgBackend::Auto);
        assert_eq!(a.state_dir, PathBuf::from("/var/lib/raftwire-agent"));
        assert_eq!(a.dns_port, 53);
        assert_eq!(a.ca_cert, None);
        assert_eq!(a.resync_interval, Duration::from_secs(30));
        assert!(!a.down_on_exit);
        assert_eq!(a.log_format, LogFormat::Text);
        assert_eq!(a.hostname, None);
    }

    #[test]
    fn a_comma_separated_server_list_keeps_its_order_and_schemes() {
        let a = parse(
            &[
                "--server",
                "http://n1:7070,https://n2:7443/,wss://lb.example.com/raftwire",
                "--server",
                "ws://[fd00::3]:7070/api/v1/agent/ws",
                "--token-file",
                "/t",
            ],
            &[],
        )
        .unwrap();
        let urls: Vec<(&str, bool)> = a
            .server
            .iter()
            .map(|s| (s.ws_url.as_str(), s.tls))
            .collect();
        assert_eq!(
            urls,
            [
                ("ws://n1:7070/api/v1/agent/ws", false),
                ("wss://n2:7443/api/v1/agent/ws", true),
                ("wss://lb.example.com/raftwire/api/v1/agent/ws", true),
                ("ws://[fd00::3]:7070/api/v1/agent/ws", false),
            ]
        );
    }

    #[test]
    fn a_server_without_a_known_scheme_or_host_is_rejected() {
        for bad in [
            "n1:7070",
            "ftp://n1",
            "http://",
            "http:///x",
            "http://n1/?a=b",
        ] {
            assert!(
                parse(&["--server", bad, "--token-file", "/t"], &[]).is_err(),
                "{bad} was accepted"
            );
        }
        assert!(
            parse(&["--token-file", "/t"], &[]).is_err(),
            "--server is required"
        );
    }

    #[test]
    fn every_flag_reads_its_environment_variable() {
        let a = parse(
            &[],
            &[
                ("RAFTWIRE_AGENT_SERVER", "http://a:1,http://b:2"),
                ("RAFTWIRE_AGENT_TOKEN_FILE", "/etc/raftwire/token"),
                ("RAFTWIRE_AGENT_INTERFACE", "wg-corp"),
                ("RAFTWIRE_AGENT_WG_BACKEND", "userspace"),
                ("RAFTWIRE_AGENT_STATE_DIR", "/tmp/state"),
                ("RAFTWIRE_AGENT_DNS_PORT", "5353"),
                ("RAFTWIRE_AGENT_CA_CERT", "/etc/raftwire/ca.pem"),
                ("RAFTWIRE_AGENT_RESYNC_INTERVAL", "2m"),
                ("RAFTWIRE_AGENT_DOWN_ON_EXIT", "true"),
                ("RAFTWIRE_AGENT_LOG_FORMAT", "json"),
                ("RAFTWIRE_AGENT_HOSTNAME", "jump-1"),
            ],
        )
        .unwrap();
        assert_eq!(a.server.len(), 2);
        assert_eq!(a.server[1].ws_url, "ws://b:2/api/v1/agent/ws");
        assert_eq!(a.token_file, PathBuf::from("/etc/raftwire/token"));
        assert_eq!(a.interface.as_deref(), Some("wg-corp"));
        assert_eq!(a.wg_backend, WgBackend::Userspace);
        assert_eq!(a.state_dir, PathBuf::from("/tmp/state"));
        assert_eq!(a.dns_port, 5353);
        assert_eq!(a.ca_cert, Some(PathBuf::from("/etc/raftwire/ca.pem")));
        assert_eq!(a.resync_interval, Duration::from_secs(120));
        assert!(a.down_on_exit);
        assert_eq!(a.log_format, LogFormat::Json);
        assert_eq!(a.hostname(), "jump-1");
    }

    #[test]
    fn a_false_down_on_exit_variable_keeps_the_tunnel_up() {
        let a = parse(
            &["--server", "http://a:1", "--token-file", "/t"],
            &[("RAFTWIRE_AGENT_DOWN_ON_EXIT", "false")],
        )
        .unwrap();
        assert!(!a.down_on_exit);
    }

    #[test]
    fn a_flag_wins_over_its_environment_variable() {
        let a = parse(
            &[
                "--server",
                "http://flag:1",
                "--token-file",
                "/t",
                "--dns-port",
                "54",
            ],
            &[
                ("RAFTWIRE_AGENT_SERVER", "http://env:1"),
                ("RAFTWIRE_AGENT_DNS_PORT", "55"),
            ],
        )
        .unwrap();
        assert_eq!(a.server[0].ws_url, "ws://flag:1/api/v1/agent/ws");
        assert_eq!(a.dns_port, 54);
    }

    #[test]
    fn the_resync_interval_takes_seconds_or_a_duration_but_not_zero() {
        let with = |v: &str| {
            parse(
                &[
                    "--server",
                    "http://a:1",
                    "--token-file",
                    "/t",
                    "--resync-interval",
                    v,
                ],
                &[],
            )
        };
        assert_eq!(with("45").unwrap().resync_interval, Duration::from_secs(45));
        assert_eq!(
            with("1m 30s").unwrap().resync_interval,
            Duration::from_secs(90)
        );
        assert_eq!(
            with("500ms").unwrap().resync_interval,
            Duration::from_millis(500)
        );
        assert!(with("0").is_err());
        assert!(with("soon").is_err());
    }

    #[test]
    fn help_explains_every_flag_and_names_its_variable() {
        let help = Args::command().render_long_help().to_string();
        for flag in [
            "server",
            "token-file",
            "interface",
            "wg-backend",
            "state-dir",
            "dns-port",
            "ca-cert",
            "resync-interval",
            "down-on-exit",
            "log-format",
            "hostname",
        ] {
            assert!(
                help.contains(&format!("--{flag}")),
                "--{flag} missing:\n{help}"
            );
            let var = format!("RAFTWIRE_AGENT_{}", flag.to_uppercase().replace('-', "_"));
            assert!(help.contains(&var), "{var} missing:\n{help}");
        }
        Args::command().debug_assert();
    }

    #[test]
    fn settings_carry_the_flags_the_modules_need() {
        let a = parse(
            &[
                "--server",
                "http://a:1",
                "--token-file",
                "/t",
                "--interface",
                "rw9",
                "--dns-port",
                "5300",
                "--state-dir",
                "/s",
            ],
            &[],
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let s = a.settings("KEY".into(), rt.handle().clone());
        assert_eq!(s.interface.as_deref(), Some("rw9"));
        assert_eq!(s.dns_port, 5300);
        assert_eq!(s.state_dir, PathBuf::from("/s"));
        assert_eq!(s.private_key, "KEY");
    }

    #[test]
    fn a_token_file_is_trimmed_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc123\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), "abc123");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token(&path).is_err());
        assert!(read_token(&dir.path().join("missing")).is_err());
    }
}
