//! The agent on a jump host, against a real node: what it makes of a dual-stack, an
//! IPv4-only and an IPv6-only configuration in the kernel (addresses, routes, iptables and
//! ip6tables chains, forwarding sysctls, DNS answers), how it repairs drift, and that a host
//! converges from its persisted configuration while no node is reachable.
//!
//! Topology: the test runs in a namespace of its own (the control namespace), where the node
//! runs; the jump host is another namespace joined to it by a veth pair.

use std::time::Duration;

use raftwire_tests::agent::{AgentArgs, AgentProc};
use raftwire_tests::api::{id_of, Api};
use raftwire_tests::in_netns;
use raftwire_tests::netns::{link_here, unique, Netns};
use raftwire_tests::node::NodeProc;
use raftwire_tests::probe::dig;
use serde_json::{json, Value};

const CONVERGE: Duration = Duration::from_secs(20);
const RESYNC: Duration = Duration::from_secs(2);

struct Jump {
    // Drop order: the agent before its namespace, the node before its data.
    agent: Option<AgentProc>,
    host: Netns,
    node: NodeProc,
    api: Api,
    nid: String,
    jump: Value,
    iface: String,
    server: String,
    dir: tempfile::TempDir,
}

impl Jump {
    /// A node in this namespace, a jump host joined to it, a network created with `network`
    /// (JSON body) and a jump peer in it; the agent is not started yet.
    fn new(network: Value) -> Jump {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = Netns::new("j");
        link_here(&["10.150.0.1/24"], &host, &["10.150.0.2/24"]);
        let node = NodeProc::start(dir.path(), 1, "10.150.0.1", None);
        let api = node.api.clone();
        let net = api.create("/networks", network);
        let nid = id_of(&net);
        let jump = api.create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "jump", "is_jump": true, "endpoint": "10.150.0.2:51820"}),
        );
        let server = api.base.clone();
        Jump {
            agent: None,
            host,
            node,
            api,
            nid,
            jump,
            iface: unique("wg"),
            server,
            dir,
        }
    }

    fn start_agent(&mut self, servers: Vec<String>) {
        self.start_agent_with(servers, false);
    }

    fn start_agent_with(&mut self, servers: Vec<String>, down_on_exit: bool) {
        let token = self.jump["agent_token"]
            .as_str()
            .expect("agent token")
            .to_string();
        self.agent = Some(AgentProc::start(
            &self.host,
            AgentArgs {
                servers,
                token: &token,
                dir: self.dir.path(),
                interface: &self.iface,
                dns_port: 53,
                resync: RESYNC,
                down_on_exit,
            },
        ));
    }

    fn agent(&self) -> &AgentProc {
        self.agent.as_ref().expect("agent started")
    }

    /// Waits until `check` holds on the host, printing everything useful if it never does.
    #[track_caller]
    fn eventually(&self, what: &str, check: impl Fn(&Jump) -> bool) {
        let deadline = std::time::Instant::now() + CONVERGE;
        while std::time::Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{what}: not within {CONVERGE:?}\n{}\n==== agent log\n{}\n==== node log\n{}",
            self.host.describe(),
            self.agent
                .as_ref()
                .map(|a| a.proc.output())
                .unwrap_or_default(),
            self.node.proc.output()
        );
    }

    fn addrs(&self) -> String {
        self.host
            .try_exec("ip", &["-br", "addr", "show", "dev", &self.iface])
            .1
    }

    fn routes(&self, family: &str) -> String {
        self.host
            .try_exec("ip", &[family, "route", "show", "dev", &self.iface])
            .1
    }

    fn save(&self, tool: &str) -> String {
        self.host.try_exec(tool, &[]).1
    }

    /// The `-A RAFTWIRE_…` lines of the restore text the node renders for this jump.
    fn rendered_rules(&self, family: &str) -> usize {
        let fw = self.api.get(&format!(
            "/networks/{}/peers/{}/firewall",
            self.nid,
            id_of(&self.jump)
        ));
        fw.body[family]["restore"]
            .as_str()
            .map(|t| {
                t.lines()
                    .filter(|l| l.starts_with("-A RAFTWIRE_JUMP"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn url(&self, path: &str) -> String {
        format!("/networks/{}{path}", self.nid)
    }
}

/// The rules and user-defined chains of an `iptables-save` text: what a change would alter.
fn rules_and_chains(save: &str) -> Vec<String> {
    save.lines()
        .filter(|l| l.starts_with("-A ") || (l.starts_with(':') && l.contains(" - ")))
        .map(str::to_string)
        .collect()
}

fn chain_rules(save: &str, chain: &str) -> usize {
    save.lines()
        .filter(|l| l.starts_with(&format!("-A {chain} ")))
        .count()
}

#[test]
fn a_dual_stack_jump_gets_both_families_in_the_kernel_and_repairs_drift() {
    let Some(_ctl) =
        in_netns!(a_dual_stack_jump_gets_both_families_in_the_kernel_and_repairs_drift)
    else {
        return;
    };
    let mut j = Jump::new(json!({
        "name": "corp", "ip_stack_mode": "dual",
        "ipv4_cidr": "10.10.0.0/24", "ipv6_cidr": "fd10::/64",
    }));
    let laptop = j.api.create(&j.url("/peers"), json!({"name": "laptop"}));
    assert_eq!(laptop["ipv4_address"], "10.10.0.2");
    j.api.create(
        &j.url("/routes"),
        json!({"name": "lan", "destination_cidr": "192.168.50.0/24", "jump_peer_id": id_of(&j.jump)}),
    );
    let route = j.api.get(&j.url("/routes")).body["items"][0].clone();
    j.api.create(
        &j.url(&format!("/routes/{}/dns", id_of(&route))),
        json!({"name": "db", "ip_address": "192.168.50.10"}),
    );
    let server = j.server.clone();
    j.start_agent(vec![server]);

    // Addresses and routes of both families.
    j.eventually("both overlay addresses on the interface", |j| {
        let a = j.addrs();
        a.contains("10.10.0.1/32") && a.contains("fd10::1/128")
    });
    j.eventually("a route per family for the laptop", |j| {
        j.routes("-4").contains("10.10.0.2") && j.routes("-6").contains("fd10::2")
    });
    // The chains the node rendered, in both families, with their jumps.
    let (r4, r6) = (j.rendered_rules("ipv4"), j.rendered_rules("ipv6"));
    assert!(r4 > 0 && r6 > 0, "the node renders rules for both families");
    j.eventually("RAFTWIRE chains in iptables and ip6tables", |j| {
        let (s4, s6) = (j.save("iptables-save"), j.save("ip6tables-save"));
        chain_rules(&s4, "RAFTWIRE_JUMP") == r4
            && chain_rules(&s6, "RAFTWIRE_JUMP") == r6
            && s4.contains("-j RAFTWIRE_JUMP")
            && s6.contains("-j RAFTWIRE_JUMP")
            && s4.contains("-j RAFTWIRE_INPUT")
    });
    // Forwarding is converged after the firewall: wait for it, then check both families.
    j.eventually("forwarding in both families", |j| {
        j.host.sysctl("net.ipv4.ip_forward") == "1"
            && j.host.sysctl("net.ipv6.conf.all.forwarding") == "1"
    });

    // DNS on the overlay addresses, UDP and TCP, with the zone's semantics.
    j.eventually("DNS answers on the overlay address", |j| {
        dig(&j.host, "10.10.0.1", 53, "laptop.corp.internal", "A", false).answers
            == vec!["10.10.0.2".to_string()]
    });
    for tcp in [false, true] {
        for server in ["10.10.0.1", "fd10::1"] {
            let aaaa = dig(&j.host, server, 53, "laptop.corp.internal", "AAAA", tcp);
            assert_eq!(
                (aaaa.rcode.as_str(), aaaa.answers.clone()),
                ("NOERROR", vec!["fd10::2".to_string()]),
                "{server} tcp={tcp}"
            );
            let unknown = dig(&j.host, server, 53, "nobody.corp.internal", "A", tcp);
            assert_eq!(unknown.rcode, "NXDOMAIN", "{server} tcp={tcp}");
            let nodata = dig(&j.host, server, 53, "db.corp.internal", "AAAA", tcp);
            assert_eq!(
                (nodata.rcode.as_str(), nodata.answers.len()),
                ("NOERROR", 0),
                "{server} tcp={tcp}"
            );
            let a = dig(&j.host, server, 53, "DB.corp.internal", "A", tcp);
            assert_eq!(
                a.answers,
                vec!["192.168.50.10".to_string()],
                "{server} tcp={tcp}"
            );
        }
    }

    // Drift: the IPv4 chain deleted by hand and forwarding reset come back within the
    // resync interval, with no push from the node.
    let iface = j.iface.clone();
    for args in [
        vec!["-D", "FORWARD", "-i", iface.as_str(), "-j", "RAFTWIRE_JUMP"],
        vec!["-F", "RAFTWIRE_JUMP"],
    ] {
        let _ = j.host.try_exec("iptables", &args);
    }
    j.host.exec("sysctl", &["-w", "net.ipv4.ip_forward=0"]);
    j.eventually("the chain and the sysctl repaired", |j| {
        let s4 = j.save("iptables-save");
        chain_rules(&s4, "RAFTWIRE_JUMP") == r4 && j.host.sysctl("net.ipv4.ip_forward") == "1"
    });
}

#[test]
fn an_ipv4_only_jump_leaves_ipv6_alone_and_an_ipv6_only_change_removes_ipv4() {
    let Some(_ctl) =
        in_netns!(an_ipv4_only_jump_leaves_ipv6_alone_and_an_ipv6_only_change_removes_ipv4)
    else {
        return;
    };
    let mut j = Jump::new(json!({"name": "v4net", "ipv4_cidr": "10.11.0.0/24"}));
    j.api.create(&j.url("/peers"), json!({"name": "laptop"}));
    let v6_forwarding_before = j.host.sysctl("net.ipv6.conf.all.forwarding");
    let v4_forwarding_before = j.host.sysctl("net.ipv4.ip_forward");
    let ip6_before = j.save("ip6tables-save");
    let server = j.server.clone();
    j.start_agent(vec![server]);
    // Forwarding is converged after the firewall (a jump never forwards before its chains
    // exist): wait for the whole round, not its first half.
    j.eventually("the IPv4 chain, address and forwarding", |j| {
        j.addrs().contains("10.11.0.1/32")
            && chain_rules(&j.save("iptables-save"), "RAFTWIRE_JUMP") > 0
            && j.host.sysctl("net.ipv4.ip_forward") == "1"
    });
    assert_eq!(
        j.host.sysctl("net.ipv6.conf.all.forwarding"),
        v6_forwarding_before
    );
    assert!(
        !j.save("ip6tables-save").contains("RAFTWIRE"),
        "ip6tables untouched"
    );
    // Rules and user chains as before (an empty table loaded meanwhile is no change).
    assert_eq!(
        rules_and_chains(&j.save("ip6tables-save")),
        rules_and_chains(&ip6_before),
        "ip6tables untouched"
    );
    assert!(
        // A link-local fe80:: address (the kernel's own) is no overlay address.
        !j.addrs()
            .split_whitespace()
            .any(|a| a.contains(':') && !a.starts_with("fe80:")),
        "no IPv6 overlay address: {}",
        j.addrs()
    );
    assert!(
        j.routes("-6").trim().is_empty() || !j.routes("-6").contains("fd11"),
        "{}",
        j.routes("-6")
    );

    // Through the API: IPv6-only (the static laptop is renumbered: forced).
    let a = j.api.call(
        "PATCH",
        &format!("/networks/{}", j.nid),
        Some(&json!({"ip_stack_mode": "ipv6", "ipv6_cidr": "fd11::/64"})),
    );
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (409, Some("static_peers_affected")),
        "{}",
        a.body
    );
    j.api.update(
        &format!("/networks/{}", j.nid),
        json!({"ip_stack_mode": "ipv6", "ipv6_cidr": "fd11::/64", "force": true}),
    );
    j.eventually(
        "IPv6 in place, every IPv4 chain, address and route gone",
        |j| {
            let a = j.addrs();
            a.contains("fd11::1/128")
                && !a.contains("10.11.")
                && !j.routes("-4").contains("10.11.")
                && !j.save("iptables-save").contains("RAFTWIRE")
                && chain_rules(&j.save("ip6tables-save"), "RAFTWIRE_JUMP") > 0
        },
    );
    assert_eq!(
        j.host.sysctl("net.ipv4.ip_forward"),
        v4_forwarding_before,
        "IPv4 forwarding restored"
    );
    assert_eq!(j.host.sysctl("net.ipv6.conf.all.forwarding"), "1");
}

#[test]
fn a_jump_restarted_while_no_node_is_reachable_converges_from_its_persisted_config() {
    let Some(_ctl) =
        in_netns!(a_jump_restarted_while_no_node_is_reachable_converges_from_its_persisted_config)
    else {
        return;
    };
    let mut j = Jump::new(json!({
        "name": "corp", "ip_stack_mode": "dual",
        "ipv4_cidr": "10.12.0.0/24", "ipv6_cidr": "fd12::/64",
    }));
    j.api.create(&j.url("/peers"), json!({"name": "laptop"}));
    let server = j.server.clone();
    j.start_agent(vec![server.clone()]);
    j.eventually("converged once", |j| {
        j.addrs().contains("10.12.0.1/32") && j.agent().persisted_version().is_some()
    });
    // The agent stops (the tunnel stays up by default), the control plane goes away, and the
    // host "reboots": nothing of the agent's is left in the kernel.
    if let Some(mut a) = j.agent.take() {
        a.proc.signal("TERM");
        assert!(
            a.proc.wait_exit(Duration::from_secs(10)).is_some(),
            "the agent exits on SIGTERM"
        );
        assert!(
            j.addrs().contains("10.12.0.1/32"),
            "the tunnel is left up on a normal exit"
        );
    }
    j.node.proc.kill();
    let iface = j.iface.clone();
    let _ = j.host.try_exec("ip", &["link", "del", &iface]);
    for tool in ["iptables", "ip6tables"] {
        let save = j.save(&format!("{tool}-save"));
        for line in save
            .lines()
            .filter(|l| l.starts_with("-A ") && l.contains("RAFTWIRE"))
        {
            let mut args: Vec<&str> = line.split_whitespace().collect();
            args[0] = "-D";
            let _ = j.host.try_exec(tool, &args);
        }
    }
    assert!(!j.addrs().contains("10.12.0.1"));
    j.start_agent(vec![server]);
    j.eventually(
        "converged from the persisted config, no node reachable",
        |j| {
            let a = j.addrs();
            a.contains("10.12.0.1/32")
                && a.contains("fd12::1/128")
                && chain_rules(&j.save("iptables-save"), "RAFTWIRE_JUMP") > 0
                && dig(&j.host, "10.12.0.1", 53, "laptop.corp.internal", "A", false).answers
                    == vec!["10.12.0.2".to_string()]
        },
    );
}

#[test]
fn an_agent_stopped_with_down_on_exit_leaves_the_host_as_it_was() {
    let Some(_ctl) = in_netns!(an_agent_stopped_with_down_on_exit_leaves_the_host_as_it_was) else {
        return;
    };
    let mut j = Jump::new(json!({
        "name": "corp", "ip_stack_mode": "dual",
        "ipv4_cidr": "10.13.0.0/24", "ipv6_cidr": "fd13::/64",
    }));
    j.api.create(&j.url("/peers"), json!({"name": "laptop"}));
    // Rules and user chains: an empty table that `iptables` loaded meanwhile is no change.
    let rules = |j: &Jump, tool: &str| rules_and_chains(&j.save(tool));
    let before = (
        rules(&j, "iptables-save"),
        rules(&j, "ip6tables-save"),
        j.host.sysctl("net.ipv4.ip_forward"),
        j.host.sysctl("net.ipv6.conf.all.forwarding"),
    );
    let server = j.server.clone();
    j.start_agent_with(vec![server], true);
    j.eventually("converged", |j| {
        j.addrs().contains("10.13.0.1/32")
            && chain_rules(&j.save("ip6tables-save"), "RAFTWIRE_JUMP") > 0
            && dig(&j.host, "10.13.0.1", 53, "laptop.corp.internal", "A", false).rcode == "NOERROR"
    });
    let mut agent = j.agent.take().expect("started");
    agent.proc.signal("TERM");
    assert!(
        agent.proc.wait_exit(Duration::from_secs(15)).is_some(),
        "the agent exits on SIGTERM:\n{}",
        agent.proc.output()
    );
    let after = (
        rules(&j, "iptables-save"),
        rules(&j, "ip6tables-save"),
        j.host.sysctl("net.ipv4.ip_forward"),
        j.host.sysctl("net.ipv6.conf.all.forwarding"),
    );
    assert_eq!(
        after,
        before,
        "the host is as it was:\n{}",
        agent.proc.output()
    );
    let (exists, _) = j.host.try_exec("ip", &["link", "show", &j.iface]);
    assert!(!exists, "the interface is gone");
}
