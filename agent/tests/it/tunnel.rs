//! Two namespaces joined by a veth pair, each with an agent whose configuration names the
//! other as its peer: real packets through two `wireguard-go`s. Each agent step runs in a
//! child process inside its namespace (a fresh agent each time, as after a restart).

use std::time::Duration;

use raftwire_agent::converge::addresses::Addresses;
use raftwire_agent::converge::wireguard::WireGuard;
use raftwire_agent::converge::{converge_all, remove_all, Module, WgBackend};
use raftwire_api::agent::AgentConfig;

use crate::support::*;

const PHASE: &str = "RAFTWIRE_TEST_PHASE";
const CONFIG: &str = "RAFTWIRE_TEST_CONFIG";
const KEY: &str = "RAFTWIRE_TEST_KEY";

/// The test's function name (a child re-runs it by its full path, computed from this module's).
const TEST: &str =
    "two_agents_ping_through_the_tunnel_and_a_change_of_another_peer_keeps_the_session";

fn test_name() -> String {
    test_path(module_path!(), TEST)
}

/// One agent step inside a namespace.
fn child() {
    let ctx = Ctx::from_env();
    let settings = ctx.settings(WgBackend::Auto, &std::env::var(KEY).unwrap());
    let mut modules: Vec<Box<dyn Module>> = vec![
        Box::new(WireGuard::new(&settings)),
        Box::new(Addresses::new(&settings)),
    ];
    let errors = match std::env::var(PHASE).unwrap().as_str() {
        "converge" => {
            let cfg: AgentConfig = serde_json::from_str(&std::env::var(CONFIG).unwrap()).unwrap();
            converge_all(&mut modules, &cfg)
        }
        "remove" => remove_all(&mut modules),
        other => panic!("unknown phase {other}"),
    };
    assert!(errors.is_empty(), "{errors:?}");
}

struct Side {
    ns: Netns,
    iface: String,
    private: String,
}

impl Side {
    fn step(&self, phase: &str, cfg: Option<&AgentConfig>) {
        let cfg = cfg.map(|c| serde_json::to_string(c).unwrap());
        let mut env = vec![
            (IFACES, self.iface.as_str()),
            (PHASE, phase),
            (KEY, self.private.as_str()),
        ];
        if let Some(cfg) = &cfg {
            env.push((CONFIG, cfg));
        }
        run_inside(&self.ns.name, &test_name(), &env);
    }

    fn ok(&self, program: &str, args: &[&str]) -> String {
        self.ns.exec(program, args)
    }

    /// This side's `wg show dump` line of the peer with `public`.
    fn peer_line(&self, public: &str) -> String {
        self.ok("wg", &["show", &self.iface, "dump"])
            .lines()
            .find(|l| l.starts_with(public))
            .unwrap_or_else(|| panic!("no peer {public} on {}", self.iface))
            .to_string()
    }
}

#[test]
fn two_agents_ping_through_the_tunnel_and_a_change_of_another_peer_keeps_the_session() {
    if current().is_some() {
        return child();
    }
    if !netns_available(&test_name()) {
        return;
    }
    let (key_a, pub_a) = keypair();
    let (key_b, pub_b) = keypair();
    // Each namespace takes its `wireguard-go` and its UAPI socket along when it goes.
    let a = Side {
        ns: Netns::new("a"),
        iface: unique("i"),
        private: key_a,
    };
    let b = Side {
        ns: Netns::new("b"),
        iface: unique("i"),
        private: key_b,
    };
    let (va, vb) = (unique("v"), unique("v"));
    sh(
        "ip",
        &[
            "link", "add", &va, "netns", &a.ns.name, "type", "veth", "peer", "name", &vb, "netns",
            &b.ns.name,
        ],
    );
    for (side, veth, addr) in [(&a, &va, "10.201.0.1/24"), (&b, &vb, "10.201.0.2/24")] {
        side.ok("ip", &["addr", "add", addr, "dev", veth]);
        side.ok("ip", &["link", "set", "dev", veth, "up"]);
    }

    let cfg_a = |extra: &[PeerSpec]| {
        let mut peers = vec![PeerSpec {
            public_key: &pub_b,
            allowed_ips: &["10.202.0.2/32", "fd20:2::2/128"],
            endpoint: Some("10.201.0.2:51820"),
            keepalive: None,
        }];
        peers.extend(extra.iter().map(|p| PeerSpec { ..*p }));
        config(
            &a.iface,
            &["10.202.0.1/32", "fd20:2::1/128"],
            Some(51820),
            &peers,
        )
    };
    let cfg_b = config(
        &b.iface,
        &["10.202.0.2/32", "fd20:2::2/128"],
        Some(51820),
        &[PeerSpec {
            public_key: &pub_a,
            allowed_ips: &["10.202.0.1/32", "fd20:2::1/128"],
            endpoint: Some("10.201.0.1:51820"),
            keepalive: None,
        }],
    );
    a.step("converge", Some(&cfg_a(&[])));
    b.step("converge", Some(&cfg_b));

    a.ok("ping", &["-c", "3", "-i", "0.2", "-W", "2", "10.202.0.2"]);
    a.ok(
        "ping",
        &["-6", "-c", "3", "-i", "0.2", "-W", "2", "fd20:2::2"],
    );
    let session = a.peer_line(&pub_b);
    let handshake = session.split('\t').nth(4).unwrap().to_string();
    assert_ne!(handshake, "0", "a handshake happened: {session}");

    // The same configuration again (a fresh agent, as after a restart) changes nothing.
    a.step("converge", Some(&cfg_a(&[])));
    assert_eq!(a.peer_line(&pub_b), session);

    // Another peer appears, then changes: the session with B is untouched (a re-created
    // peer would show no handshake and zero transfer counters).
    let (_, pub_c) = keypair();
    let c = |ips: &'static [&'static str]| PeerSpec {
        public_key: &pub_c,
        allowed_ips: ips,
        endpoint: None,
        keepalive: None,
    };
    a.step("converge", Some(&cfg_a(&[c(&["10.202.0.3/32"])])));
    assert_eq!(a.peer_line(&pub_b), session);
    a.step(
        "converge",
        Some(&cfg_a(&[c(&["10.202.0.4/32", "fd20:2::4/128"])])),
    );
    assert_eq!(a.peer_line(&pub_b), session);
    assert!(a.peer_line(&pub_c).contains("10.202.0.4/32"));
    a.ok("ping", &["-c", "1", "-W", "2", "10.202.0.2"]);
    assert_eq!(
        a.peer_line(&pub_b).split('\t').nth(4),
        Some(handshake.as_str())
    );

    for side in [&a, &b] {
        side.step("remove", None);
        assert!(
            !side
                .ns
                .try_exec("ip", &["link", "show", "dev", &side.iface])
                .0
        );
        assert!(!std::path::Path::new(&format!("/run/wireguard/{}.sock", side.iface)).exists());
        assert!(
            eventually(Duration::from_secs(3), || wireguard_go_pids(&side.iface)
                .is_empty()),
            "wireguard-go for {} still runs",
            side.iface
        );
    }
}
