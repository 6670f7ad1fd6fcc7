//! The firewall module: chains, jumps and NAT per family, observe-diff, drift, failed
//! restores, foreign rules and removal.

use raftwire_agent::converge::firewall::Firewall;
use raftwire_agent::converge::forwarding::Forwarding;
use raftwire_agent::converge::Module;

use crate::support::*;

/// Both modules, as the agent runs them on a jump.
struct Agent {
    forwarding: Forwarding,
    firewall: Firewall,
    iface: String,
    _state: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Agent {
    fn new() -> Agent {
        let iface = test_link();
        let state = tempfile::tempdir().expect("state dir");
        let rt = runtime();
        let s = settings(&iface, state.path(), &rt);
        Agent {
            forwarding: Forwarding::new(&s),
            firewall: Firewall::new(&s),
            iface,
            _state: state,
            _rt: rt,
        }
    }

    fn converge(&mut self, cfg: &raftwire_api::agent::AgentConfig) -> Result<(), String> {
        let fwd = self.forwarding.converge(cfg);
        let fw = self.firewall.converge(cfg);
        fwd.and(fw)
    }

    fn remove(&mut self) -> Result<(), String> {
        let fw = self.firewall.remove();
        let fwd = self.forwarding.remove();
        fw.and(fwd)
    }
}

fn count(lines: &[String], line: &str) -> usize {
    lines.iter().filter(|l| *l == line).count()
}

/// The rendered filter rules are in both chains, in order, and each jump exists once.
fn assert_family_applied(tool: &str, restore: &str, iface: &str) {
    for chain in ["RAFTWIRE_JUMP", "RAFTWIRE_INPUT"] {
        assert_eq!(
            chain_rules(tool, "filter", chain),
            rendered_rules(restore, chain),
            "{tool} {chain}"
        );
    }
    let forward = chain_rules(tool, "filter", "FORWARD");
    assert_eq!(
        count(&forward, &format!("-A FORWARD -i {iface} -j RAFTWIRE_JUMP")),
        1,
        "{tool}: {forward:?}"
    );
    assert_eq!(
        count(&forward, &format!("-A FORWARD -o {iface} -j RAFTWIRE_JUMP")),
        1,
        "{tool}: {forward:?}"
    );
    let input = chain_rules(tool, "filter", "INPUT");
    assert_eq!(
        input,
        vec![format!("-A INPUT -i {iface} -j RAFTWIRE_INPUT")],
        "{tool}"
    );
}

fn assert_nat_applied(tool: &str, restore: &str, iface: &str) {
    assert_eq!(
        chain_rules(tool, "nat", "RAFTWIRE_NAT"),
        rendered_rules(restore, "RAFTWIRE_NAT"),
        "{tool}"
    );
    assert_eq!(
        chain_rules(tool, "nat", "POSTROUTING"),
        vec![format!("-A POSTROUTING ! -o {iface} -j RAFTWIRE_NAT")],
        "{tool}"
    );
}

netns_test! {
    fn a_dual_stack_jump_gets_both_families_chains_jumps_nat_and_forwarding() {
        let mut agent = Agent::new();
        let cfg = jump_config(Stack::Dual);
        let fw = cfg.firewall.as_ref().expect("a jump's firewall");
        let (v4, v6) = (fw.ipv4.as_ref().expect("IPv4"), fw.ipv6.as_ref().expect("IPv6"));
        let nat = cfg.nat.as_ref().expect("NAT");
        let (n4, n6) = (nat.ipv4.as_ref().expect("IPv4 NAT"), nat.ipv6.as_ref().expect("IPv6 NAT"));
        // The policy's rules reached the rendering: a deny, the LANs, the peer target.
        assert!(v4.restore.contains("-d 192.168.1.0/24 -j ACCEPT"), "{}", v4.restore);
        assert!(v4.restore.contains("-d 0.0.0.0/0 -j DROP"), "{}", v4.restore);
        assert!(v6.restore.contains("-d 2001:db8:1::/48 -j ACCEPT"), "{}", v6.restore);
        assert!(v6.restore.contains("-s fd00::3/128 -d fd00::2/128 -j ACCEPT"), "{}", v6.restore);

        agent.converge(&cfg).expect("converge");
        assert_family_applied("iptables-save", &v4.restore, &agent.iface);
        assert_family_applied("ip6tables-save", &v6.restore, &agent.iface);
        assert_nat_applied("iptables-save", &n4.restore, &agent.iface);
        assert_nat_applied("ip6tables-save", &n6.restore, &agent.iface);
        assert_eq!(sysctl(IPV4_FORWARD), "1");
        assert_eq!(sysctl(IPV6_FORWARD), "1");

        // Jumps are inserted once, however often the agent converges.
        agent.converge(&cfg).expect("converge again");
        agent.converge(&cfg).expect("and again");
        assert_family_applied("iptables-save", &v4.restore, &agent.iface);
        assert_family_applied("ip6tables-save", &v6.restore, &agent.iface);
        assert_nat_applied("iptables-save", &n4.restore, &agent.iface);
        assert_nat_applied("ip6tables-save", &n6.restore, &agent.iface);
    }
}

netns_test! {
    fn converging_an_unchanged_config_runs_no_restore() {
        let mut agent = Agent::new();
        let cfg = jump_config(Stack::Dual);
        agent.converge(&cfg).expect("converge");
        // Filter and NAT of both families.
        assert_eq!(agent.firewall.restores(), 4);
        let (v4, v6) = (save("iptables-save"), save("ip6tables-save"));
        agent.converge(&cfg).expect("resync");
        assert_eq!(agent.firewall.restores(), 4, "a resync with nothing changed");
        assert_eq!(save("iptables-save"), v4);
        assert_eq!(save("ip6tables-save"), v6);

        // An agent restarted on a converged host finds nothing to restore either: the
        // observed rules compare equal to the rendering.
        let state = tempfile::tempdir().expect("state");
        let rt = runtime();
        let mut fresh = Firewall::new(&settings(&agent.iface, state.path(), &rt));
        fresh.converge(&cfg).expect("converge after a restart");
        assert_eq!(fresh.restores(), 0);
        assert_eq!(save("iptables-save"), v4);
    }
}

netns_test! {
    fn an_ipv4_only_jump_leaves_ip6tables_and_ipv6_forwarding_alone() {
        // A value the agent must not change: on before it starts.
        set_sysctl(IPV6_FORWARD, "1");
        let mut agent = Agent::new();
        let cfg = jump_config(Stack::Ipv4);
        assert!(cfg.firewall.as_ref().is_some_and(|f| f.ipv6.is_none()));
        agent.converge(&cfg).expect("converge");
        assert!(has_raftwire("iptables-save", "filter"));
        assert!(!has_raftwire("ip6tables-save", "filter"));
        assert!(!has_raftwire("ip6tables-save", "nat"));
        assert_eq!(sysctl(IPV4_FORWARD), "1");
        assert_eq!(sysctl(IPV6_FORWARD), "1", "left alone");
        agent.remove().expect("remove");
        assert_eq!(sysctl(IPV4_FORWARD), "0");
        assert_eq!(sysctl(IPV6_FORWARD), "1", "never changed, so never put back");

        // Off before, stays off.
        set_sysctl(IPV6_FORWARD, "0");
        agent.converge(&cfg).expect("converge");
        assert_eq!(sysctl(IPV6_FORWARD), "0");
    }
}

netns_test! {
    fn a_family_that_disappears_has_its_chains_jumps_nat_and_forwarding_removed() {
        let mut agent = Agent::new();
        assert_eq!(sysctl(IPV4_FORWARD), "0");
        agent.converge(&jump_config(Stack::Dual)).expect("dual stack");
        assert!(has_raftwire("iptables-save", "filter") && has_raftwire("iptables-save", "nat"));

        let v6_only = jump_config(Stack::Ipv6);
        agent.converge(&v6_only).expect("IPv6 only");
        assert!(!has_raftwire("iptables-save", "filter"), "{}", sh("iptables-save", &[]));
        assert!(!has_raftwire("iptables-save", "nat"), "{}", sh("iptables-save", &[]));
        assert_eq!(sysctl(IPV4_FORWARD), "0", "back to its value before the agent");
        assert_eq!(sysctl(IPV6_FORWARD), "1");
        let fw = v6_only.firewall.as_ref().and_then(|f| f.ipv6.as_ref()).expect("IPv6");
        assert_family_applied("ip6tables-save", &fw.restore, &agent.iface);

        // And a regular peer's config (no firewall at all) leaves nothing of ours.
        agent.converge(&regular_config()).expect("regular peer");
        for tool in ["iptables-save", "ip6tables-save"] {
            for table in ["filter", "nat"] {
                assert!(!has_raftwire(tool, table), "{tool} -t {table}");
            }
        }
        assert_eq!(sysctl(IPV6_FORWARD), "0");
    }
}

netns_test! {
    fn drift_is_repaired_by_the_next_converge() {
        let mut agent = Agent::new();
        let cfg = jump_config(Stack::Dual);
        agent.converge(&cfg).expect("converge");
        let (v4, v6) = (save("iptables-save"), save("ip6tables-save"));
        let restores = agent.firewall.restores();
        let iface = agent.iface.clone();

        // A chain deleted by hand, with its jumps.
        sh("iptables", &["-D", "FORWARD", "-i", &iface, "-j", "RAFTWIRE_JUMP"]);
        sh("iptables", &["-D", "FORWARD", "-o", &iface, "-j", "RAFTWIRE_JUMP"]);
        sh("iptables", &["-F", "RAFTWIRE_JUMP"]);
        sh("iptables", &["-X", "RAFTWIRE_JUMP"]);
        // A chain flushed by hand, a rule slipped into another, a jump deleted.
        sh("ip6tables", &["-F", "RAFTWIRE_INPUT"]);
        sh("ip6tables", &["-A", "RAFTWIRE_JUMP", "-s", "fd00::99", "-j", "ACCEPT"]);
        sh("ip6tables", &["-t", "nat", "-D", "POSTROUTING", "!", "-o", &iface, "-j", "RAFTWIRE_NAT"]);
        // Sysctls reset.
        set_sysctl(IPV4_FORWARD, "0");
        set_sysctl(IPV6_FORWARD, "0");
        assert_ne!(save("iptables-save"), v4);

        agent.converge(&cfg).expect("repair");
        assert_eq!(save("iptables-save"), v4);
        assert_eq!(save("ip6tables-save"), v6);
        assert_eq!(sysctl(IPV4_FORWARD), "1");
        assert_eq!(sysctl(IPV6_FORWARD), "1");
        // Two restores: IPv4 and IPv6 filter; the IPv6 NAT needed only its jump back.
        assert_eq!(agent.firewall.restores(), restores + 2);

        // The sysctls' values before the agent are still the ones put back.
        agent.remove().expect("remove");
        assert_eq!(sysctl(IPV4_FORWARD), "0");
        assert_eq!(sysctl(IPV6_FORWARD), "0");
    }
}

netns_test! {
    fn a_failed_restore_keeps_the_previous_rules_and_names_its_family() {
        let mut agent = Agent::new();
        let good = jump_config(Stack::Dual);
        agent.converge(&good).expect("converge");
        let (v4, v6) = (save("iptables-save"), save("ip6tables-save"));

        // A new IPv6 rule set the kernel rejects halfway: its first rules are valid.
        let mut bad = good.clone();
        let fw6 = bad.firewall.as_mut().and_then(|f| f.ipv6.as_mut()).expect("IPv6");
        fw6.restore = fw6.restore.replace(
            "COMMIT\n",
            "-A RAFTWIRE_JUMP -s fd00::7/128 -j ACCEPT\n-A RAFTWIRE_JUMP --no-such-option -j ACCEPT\nCOMMIT\n",
        );
        // And a changed IPv4 rule set that is valid: it must still be applied.
        let fw4 = bad.firewall.as_mut().and_then(|f| f.ipv4.as_mut()).expect("IPv4");
        fw4.restore = fw4.restore.replace("COMMIT\n", "-A RAFTWIRE_INPUT -s 10.0.0.9/32 -j ACCEPT\nCOMMIT\n");

        let err = agent.converge(&bad).expect_err("the IPv6 restore fails");
        assert!(err.contains("IPv6 firewall"), "{err}");
        assert!(err.contains("ip6tables-restore"), "{err}");
        assert!(!err.contains("IPv4"), "{err}");
        assert_eq!(save("ip6tables-save"), v6, "the previous IPv6 rules are in place");
        assert_ne!(save("iptables-save"), v4);
        assert!(chain_rules("iptables-save", "filter", "RAFTWIRE_INPUT")
            .contains(&"-A RAFTWIRE_INPUT -s 10.0.0.9/32 -j ACCEPT".to_string()));

        // An IPv6 NAT the kernel refuses does not stop the IPv4 NAT.
        let mut bad_nat = good.clone();
        let n6 = bad_nat.nat.as_mut().and_then(|n| n.ipv6.as_mut()).expect("IPv6 NAT");
        n6.restore = n6.restore.replace("MASQUERADE", "NO-SUCH-TARGET");
        let n4 = bad_nat.nat.as_mut().and_then(|n| n.ipv4.as_mut()).expect("IPv4 NAT");
        n4.restore = n4.restore.replace("COMMIT\n", "-A RAFTWIRE_NAT -s 10.0.0.0/24 -d 172.16.0.0/12 -j MASQUERADE\nCOMMIT\n");
        let err = agent.converge(&bad_nat).expect_err("the IPv6 NAT restore fails");
        assert!(err.contains("IPv6 NAT"), "{err}");
        assert!(!err.contains("IPv4"), "{err}");
        assert!(chain_rules("iptables-save", "nat", "RAFTWIRE_NAT")
            .contains(&"-A RAFTWIRE_NAT -s 10.0.0.0/24 -d 172.16.0.0/12 -j MASQUERADE".to_string()));

        // The good configuration converges again.
        agent.converge(&good).expect("converge");
        assert_eq!(save("iptables-save"), v4);
        assert_eq!(save("ip6tables-save"), v6);
    }
}

netns_test! {
    fn foreign_chains_and_rules_survive_and_remove_restores_the_host() {
        for tool in ["iptables", "ip6tables"] {
            sh(tool, &["-N", "FOREIGN"]);
            sh(tool, &["-A", "FOREIGN", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"]);
            sh(tool, &["-A", "FORWARD", "-j", "FOREIGN"]);
            sh(tool, &["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
            sh(tool, &["-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "RETURN"]);
        }
        sh("iptables", &["-A", "FORWARD", "-m", "comment", "--comment", "not ours", "-j", "ACCEPT"]);
        let before = (save("iptables-save"), save("ip6tables-save"));
        let sysctls_before = (sysctl(IPV4_FORWARD), sysctl(IPV6_FORWARD));

        let mut agent = Agent::new();
        for cfg in [
            jump_config(Stack::Dual),
            jump_config(Stack::Ipv4),
            jump_config(Stack::Ipv6),
            jump_config(Stack::Dual),
        ] {
            agent.converge(&cfg).expect("converge");
            for tool in ["iptables-save", "ip6tables-save"] {
                assert_eq!(
                    chain_rules(tool, "filter", "FOREIGN"),
                    vec!["-A FOREIGN -p tcp -m tcp --dport 22 -j ACCEPT"]
                );
                assert!(chain_rules(tool, "filter", "FORWARD").contains(&"-A FORWARD -j FOREIGN".to_string()));
                assert!(chain_rules(tool, "filter", "INPUT").contains(&"-A INPUT -i lo -j ACCEPT".to_string()));
                assert!(chain_rules(tool, "nat", "POSTROUTING").contains(&"-A POSTROUTING -o lo -j RETURN".to_string()));
            }
        }
        agent.remove().expect("remove");
        assert_eq!(save("iptables-save"), before.0);
        assert_eq!(save("ip6tables-save"), before.1);
        assert_eq!((sysctl(IPV4_FORWARD), sysctl(IPV6_FORWARD)), sysctls_before);
        // Removing twice is harmless.
        agent.remove().expect("remove again");
        assert_eq!(save("iptables-save"), before.0);
    }
}

netns_test! {
    fn a_renamed_interface_moves_the_jumps() {
        let mut agent = Agent::new();
        let cfg = jump_config(Stack::Ipv4);
        agent.converge(&cfg).expect("converge");
        let other = test_link();
        let state = tempfile::tempdir().expect("state");
        let rt = runtime();
        let mut renamed = Firewall::new(&settings(&other, state.path(), &rt));
        renamed.converge(&cfg).expect("converge with the new name");
        let fw = cfg.firewall.as_ref().and_then(|f| f.ipv4.as_ref()).expect("IPv4");
        assert_family_applied("iptables-save", &fw.restore, &other);
        let all = sh("iptables-save", &[]);
        assert!(!all.contains(&format!(" {} ", agent.iface)), "{all}");
    }
}
