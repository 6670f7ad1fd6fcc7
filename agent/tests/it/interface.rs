//! The WireGuard and addresses modules against the real kernel and `wireguard-go`, each
//! test inside a namespace of its own.

use std::time::Duration;

use raftwire_agent::converge::addresses::Addresses;
use raftwire_agent::converge::wireguard::WireGuard;
use raftwire_agent::converge::{converge_all, remove_all, Module, Settings, WgBackend};
use raftwire_api::agent::AgentConfig;

use crate::support::*;

fn modules(settings: &Settings) -> Vec<Box<dyn Module>> {
    vec![
        Box::new(WireGuard::new(settings)),
        Box::new(Addresses::new(settings)),
    ]
}

fn converge(modules: &mut [Box<dyn Module>], cfg: &AgentConfig) {
    let errors = converge_all(modules, cfg);
    assert!(errors.is_empty(), "{errors:?}");
}

/// Three peers' keys and a dual-stack configuration with them.
struct Fixture {
    private: String,
    public: String,
    peers: Vec<String>,
}

impl Fixture {
    fn new() -> Self {
        let (private, public) = keypair();
        let peers = (0..3).map(|_| keypair().1).collect();
        Fixture {
            private,
            public,
            peers,
        }
    }

    fn dual_stack(&self, iface: &str) -> AgentConfig {
        config(
            iface,
            &["10.77.0.1/32", "fd77::1/128"],
            Some(51820),
            &[
                PeerSpec {
                    public_key: &self.peers[0],
                    allowed_ips: &["10.77.0.2/32", "fd77::2/128", "10.78.0.0/16"],
                    endpoint: Some("10.99.0.2:51820"),
                    keepalive: Some(25),
                },
                PeerSpec {
                    public_key: &self.peers[1],
                    allowed_ips: &["10.77.0.3/32", "fd77::3/128", "fd78::/64"],
                    endpoint: None,
                    keepalive: None,
                },
            ],
        )
    }
}

netns_test! {
    fn a_dual_stack_config_puts_both_addresses_routes_and_peers_on_the_interface(ctx) {
        let f = Fixture::new();
        let settings = ctx.settings(WgBackend::Auto, &f.private);
        let mut ms = modules(&settings);
        converge(&mut ms, &f.dual_stack(ctx.iface()));
        let iface = ctx.iface();
        assert!(link_up(iface));
        assert_eq!(addresses(iface), ["10.77.0.1/32", "fd77::1/128"]);
        assert_eq!(
            routes(iface),
            ["10.77.0.2", "10.77.0.3", "10.78.0.0/16", "fd77::2", "fd77::3", "fd78::/64"]
        );
        let (head, peers) = wg_dump(iface);
        let head: Vec<&str> = head.split('\t').collect();
        assert_eq!(head[..3], [f.private.as_str(), f.public.as_str(), "51820"]);
        assert_eq!(peers.len(), 2);
        let p0 = &peers[&f.peers[0]];
        assert_eq!(dump_allowed_ips(p0), ["10.77.0.2/32", "10.78.0.0/16", "fd77::2/128"]);
        assert_eq!(p0.split('\t').nth(2), Some("10.99.0.2:51820"));
        assert_eq!(p0.split('\t').nth(7), Some("25"));
        assert_eq!(
            dump_allowed_ips(&peers[&f.peers[1]]),
            ["10.77.0.3/32", "fd77::3/128", "fd78::/64"]
        );
        assert!(remove_all(&mut ms).is_empty());
    }
}

netns_test! {
    fn an_ipv4_only_config_puts_no_ipv6_address_or_route_on_the_interface(ctx) {
        let f = Fixture::new();
        let mut ms = modules(&ctx.settings(WgBackend::Auto, &f.private));
        // An IPv6 prefix slipped into AllowedIPs still gets no route without an IPv6 address.
        let cfg = config(
            ctx.iface(),
            &["10.77.0.1/32"],
            None,
            &[PeerSpec {
                public_key: &f.peers[0],
                allowed_ips: &["10.77.0.0/24", "fd77::/64"],
                endpoint: None,
                keepalive: None,
            }],
        );
        converge(&mut ms, &cfg);
        assert_eq!(addresses(ctx.iface()), ["10.77.0.1/32"]);
        assert_eq!(routes(ctx.iface()), ["10.77.0.0/24"]);
        let v6 = sh("ip", &["-j", "-6", "route", "show", "dev", ctx.iface()]);
        assert!(!v6.contains("fd77"), "{v6}");
        assert!(remove_all(&mut ms).is_empty());
    }
}

netns_test! {
    fn a_family_that_disappears_has_its_addresses_and_routes_removed(ctx) {
        let f = Fixture::new();
        let mut ms = modules(&ctx.settings(WgBackend::Auto, &f.private));
        converge(&mut ms, &f.dual_stack(ctx.iface()));
        let v6_only = config(
            ctx.iface(),
            &["fd77::1/128"],
            Some(51820),
            &[
                PeerSpec {
                    public_key: &f.peers[0],
                    allowed_ips: &["fd77::2/128"],
                    endpoint: Some("[fd99::2]:51820"),
                    keepalive: Some(25),
                },
                PeerSpec {
                    public_key: &f.peers[1],
                    allowed_ips: &["fd77::3/128", "fd78::/64"],
                    endpoint: None,
                    keepalive: None,
                },
            ],
        );
        converge(&mut ms, &v6_only);
        let iface = ctx.iface();
        assert_eq!(addresses(iface), ["fd77::1/128"]);
        assert_eq!(routes(iface), ["fd77::2", "fd77::3", "fd78::/64"]);
        let v4 = sh("ip", &["-j", "-4", "route", "show", "dev", iface]);
        assert_eq!(v4.trim(), "[]", "{v4}");
        let (_, peers) = wg_dump(iface);
        assert_eq!(dump_allowed_ips(&peers[&f.peers[0]]), ["fd77::2/128"]);
        assert_eq!(peers[&f.peers[0]].split('\t').nth(2), Some("[fd99::2]:51820"));
        assert!(remove_all(&mut ms).is_empty());
    }
}

type Snapshot = (
    String,
    String,
    String,
    (String, std::collections::BTreeMap<String, String>),
);

/// Everything the modules manage, as the host tools print it (WireGuard peers by key:
/// wireguard-go lists them in no fixed order).
fn snapshot(iface: &str) -> Snapshot {
    (
        sh("ip", &["-j", "addr", "show", "dev", iface]),
        sh("ip", &["-j", "route", "show", "dev", iface]),
        sh("ip", &["-j", "-6", "route", "show", "dev", iface]),
        wg_dump(iface),
    )
}

netns_test! {
    fn converging_twice_changes_nothing(ctx) {
        let f = Fixture::new();
        let mut ms = modules(&ctx.settings(WgBackend::Auto, &f.private));
        let cfg = f.dual_stack(ctx.iface());
        converge(&mut ms, &cfg);
        let before = snapshot(ctx.iface());
        converge(&mut ms, &cfg);
        assert_eq!(snapshot(ctx.iface()), before);
        // Fresh modules (an agent restart) find nothing to change either.
        let mut fresh = modules(&ctx.settings(WgBackend::Auto, &f.private));
        converge(&mut fresh, &cfg);
        assert_eq!(snapshot(ctx.iface()), before);
        assert!(remove_all(&mut ms).is_empty());
    }
}

netns_test! {
    fn changing_one_peer_updates_it_and_leaves_the_other_peer_as_it_was(ctx) {
        let f = Fixture::new();
        let mut ms = modules(&ctx.settings(WgBackend::Auto, &f.private));
        converge(&mut ms, &f.dual_stack(ctx.iface()));
        let (_, before) = wg_dump(ctx.iface());
        let changed = config(
            ctx.iface(),
            &["10.77.0.1/32", "fd77::1/128"],
            Some(51820),
            &[
                PeerSpec {
                    public_key: &f.peers[0],
                    allowed_ips: &["10.77.0.2/32", "fd77::2/128", "10.78.0.0/16"],
                    endpoint: Some("10.99.0.2:51820"),
                    keepalive: Some(25),
                },
                // peers[1] is gone, peers[2] is new.
                PeerSpec {
                    public_key: &f.peers[2],
                    allowed_ips: &["10.77.0.4/32", "fd77::4/128"],
                    endpoint: None,
                    keepalive: None,
                },
            ],
        );
        converge(&mut ms, &changed);
        let (_, after) = wg_dump(ctx.iface());
        assert_eq!(after[&f.peers[0]], before[&f.peers[0]]);
        assert!(!after.contains_key(&f.peers[1]));
        assert_eq!(dump_allowed_ips(&after[&f.peers[2]]), ["10.77.0.4/32", "fd77::4/128"]);
        assert_eq!(
            routes(ctx.iface()),
            ["10.77.0.2", "10.77.0.4", "10.78.0.0/16", "fd77::2", "fd77::4"]
        );
        assert!(remove_all(&mut ms).is_empty());
    }
}

netns_test! {
    fn drift_made_by_hand_is_repaired(ctx) {
        let f = Fixture::new();
        let mut ms = modules(&ctx.settings(WgBackend::Auto, &f.private));
        let cfg = f.dual_stack(ctx.iface());
        converge(&mut ms, &cfg);
        let iface = ctx.iface();
        let (head, peers) = wg_dump(iface);
        let (addrs, rts) = (addresses(iface), routes(iface));
        sh("ip", &["addr", "del", "10.77.0.1/32", "dev", iface]);
        sh("ip", &["-6", "route", "del", "fd78::/64", "dev", iface]);
        sh("wg", &["set", iface, "peer", &f.peers[1], "remove"]);
        sh("wg", &["set", iface, "listen-port", "4321"]);
        sh("wg", &["set", iface, "peer", &f.peers[0], "allowed-ips", "10.77.0.2/32"]);
        // A stranger's peer on the agent's interface goes too.
        sh("wg", &["set", iface, "peer", &f.peers[2], "allowed-ips", "10.77.0.9/32"]);
        sh("ip", &["route", "add", "10.79.0.0/16", "dev", iface, "proto", "static"]);
        assert_ne!(wg_dump(iface), (head.clone(), peers.clone()));
        converge(&mut ms, &cfg);
        assert_eq!(wg_dump(iface), (head, peers));
        assert_eq!(addresses(iface), addrs);
        assert_eq!(routes(iface), rts);
        // A link set down by hand (which takes its routes along) comes back up with them.
        sh("ip", &["link", "set", "dev", iface, "down"]);
        converge(&mut ms, &cfg);
        assert!(link_up(iface));
        assert_eq!(routes(iface), rts);
        assert!(remove_all(&mut ms).is_empty());
    }
}

netns_test! {
    fn remove_leaves_no_interface_no_wireguard_go_and_no_socket(ctx) {
        let f = Fixture::new();
        let iface = ctx.iface();
        let mut ms = modules(&ctx.settings(WgBackend::Auto, &f.private));
        converge(&mut ms, &f.dual_stack(iface));
        assert_eq!(wireguard_go_pids(iface).len(), 1, "auto falls back to one wireguard-go");
        assert!(remove_all(&mut ms).is_empty());
        assert!(!link_exists(iface));
        assert!(!std::path::Path::new(&format!("/run/wireguard/{iface}.sock")).exists());
        assert!(
            eventually(Duration::from_secs(3), || wireguard_go_pids(iface).is_empty()),
            "wireguard-go still runs: {:?}",
            wireguard_go_pids(iface)
        );
        // Removing again (or after a restart, with fresh modules) is no error.
        assert!(remove_all(&mut ms).is_empty());
        assert!(remove_all(&mut modules(&ctx.settings(WgBackend::Auto, &f.private))).is_empty());
    }
}

netns_test! {
    fn removing_addresses_alone_clears_them_and_keeps_the_interface(ctx) {
        let f = Fixture::new();
        let settings = ctx.settings(WgBackend::Auto, &f.private);
        let mut wg = WireGuard::new(&settings);
        let mut addrs = Addresses::new(&settings);
        let cfg = f.dual_stack(ctx.iface());
        wg.converge(&cfg).unwrap();
        addrs.converge(&cfg).unwrap();
        addrs.remove().unwrap();
        assert!(link_exists(ctx.iface()));
        assert!(addresses(ctx.iface()).is_empty());
        assert!(routes(ctx.iface()).is_empty(), "{:?}", routes(ctx.iface()));
        wg.remove().unwrap();
    }
}

netns_test! {
    fn the_userspace_backend_adopts_a_running_wireguard_go(ctx) {
        let f = Fixture::new();
        let iface = ctx.iface();
        sh("wireguard-go", &[iface]);
        // wireguard-go daemonises: its child may show in /proc a moment after the parent
        // returned.
        assert!(eventually(Duration::from_secs(3), || wireguard_go_pids(iface).len() == 1));
        let pids = wireguard_go_pids(iface);
        let mut ms = modules(&ctx.settings(WgBackend::Userspace, &f.private));
        converge(&mut ms, &f.dual_stack(iface));
        assert_eq!(wireguard_go_pids(iface), pids, "the running wireguard-go is used");
        assert_eq!(wg_dump(iface).1.len(), 2);
        assert!(remove_all(&mut ms).is_empty());
        assert!(eventually(Duration::from_secs(3), || wireguard_go_pids(iface).is_empty()));
    }
}

netns_test! {
    fn the_kernel_backend_never_falls_back_to_wireguard_go(ctx) {
        let f = Fixture::new();
        let iface = ctx.iface();
        let mut wg = WireGuard::new(&ctx.settings(WgBackend::Kernel, &f.private));
        match wg.converge(&f.dual_stack(iface)) {
            // A kernel with WireGuard: a real kernel link.
            Ok(()) => {
                let kind = sh("ip", &["-d", "link", "show", "dev", iface]);
                assert!(kind.contains("wireguard"), "{kind}");
            }
            Err(e) => {
                println!("kernel backend: {e}");
                assert!(e.contains("kernel"), "{e}");
                assert!(!link_exists(iface));
            }
        }
        assert!(wireguard_go_pids(iface).is_empty());
        assert!(!std::path::Path::new(&format!("/run/wireguard/{iface}.sock")).exists());
        wg.remove().unwrap();
    }
}

netns_test! {
    fn a_bad_peer_is_reported_and_the_others_are_configured(ctx) {
        let f = Fixture::new();
        let mut wg = WireGuard::new(&ctx.settings(WgBackend::Auto, &f.private));
        let cfg = config(
            ctx.iface(),
            &["10.77.0.1/32"],
            None,
            &[
                PeerSpec {
                    public_key: "not-a-key",
                    allowed_ips: &["10.77.0.5/32"],
                    endpoint: None,
                    keepalive: None,
                },
                PeerSpec {
                    public_key: &f.peers[0],
                    allowed_ips: &["10.77.0.2/32"],
                    endpoint: None,
                    keepalive: None,
                },
            ],
        );
        let err = wg.converge(&cfg).unwrap_err();
        assert!(err.contains("peer0") && err.contains("not a WireGuard key"), "{err}");
        assert_eq!(wg_dump(ctx.iface()).1.len(), 1);
        wg.remove().unwrap();
    }
}

netns_test! {
    fn a_configuration_moved_to_another_interface_takes_the_old_one_away(ctx) {
        let f = Fixture::new();
        // No --interface: the configuration names it.
        let settings = Settings {
            interface: None,
            ..ctx.settings(WgBackend::Auto, &f.private)
        };
        let mut ms = modules(&settings);
        let (first, second) = (&ctx.ifaces[0], &ctx.ifaces[1]);
        converge(&mut ms, &f.dual_stack(first));
        assert!(link_exists(first));
        converge(&mut ms, &f.dual_stack(second));
        assert!(!link_exists(first));
        assert_eq!(addresses(second), ["10.77.0.1/32", "fd77::1/128"]);
        assert!(eventually(Duration::from_secs(3), || wireguard_go_pids(first).is_empty()));
        assert!(remove_all(&mut ms).is_empty());
        assert!(!link_exists(second));
    }
}
