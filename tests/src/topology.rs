//! A whole overlay network on real packets: a node (or a cluster of them), a jump host and
//! regular peers, each host in a network namespace of its own, all joined by an underlay
//! bridge.
//!
//! The test runs in its own control namespace (see [`in_netns!`](crate::in_netns)). There,
//! a bridge carries the underlay (`10.99.0.1/24`, `fd99::1/64`) and the nodes listen on
//! `10.99.0.1` (one port each); every host namespace hangs off the bridge by a veth pair (`10.99.0.N`,
//! `fd99::N`). The jump host's WireGuard endpoint is its underlay address: IPv6
//! (`[fd99::2]:51820`) in an IPv6-only network, so that nothing of IPv4 is needed there, IPv4
//! otherwise. Agent peers run `raftwire-agent` (userspace WireGuard) against the nodes; a
//! static peer's host gets its downloaded configuration the way wg-quick would apply it
//! ([`WgQuick`]).
//!
//! Everything is taken down on drop, also when the test panics: agents and every process
//! left in a host namespace (the agent's `wireguard-go` included, asked to exit first so that
//! it removes its UAPI socket), then the namespaces, the node and the scratch directory.
//! A failing check prints every host's state and every log ([`Topology::report`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::agent::{AgentArgs, AgentProc};
use crate::api::{id_of, Api};
use crate::netns::{link_here, sh, unique, Netns};
use crate::node::NodeProc;
use crate::probe::{dig, ping_within, Dig};
use crate::procs::Proc;

/// How long the network may take to reach a state (the machine is shared and slow). An agent
/// whose first connection attempts time out (10 s each, seen under a loaded parallel run)
/// reaches its third node after 30 s: the limit leaves room for that.
pub const CONVERGE: Duration = Duration::from_secs(60);
/// The agents' resync interval: drift and missed pushes are repaired within it.
const RESYNC: Duration = Duration::from_secs(2);
/// Where `wireguard-go` keeps its UAPI sockets, shared by every namespace.
const UAPI_DIR: &str = "/run/wireguard";
/// The jump's WireGuard port.
const JUMP_PORT: u16 = 51820;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The `ip` flag: `-4` or `-6`.
    pub fn flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    /// `iptables` or `ip6tables`.
    pub fn iptables(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    /// The forwarding sysctl of the family.
    pub fn forwarding_sysctl(self) -> &'static str {
        match self {
            Family::V4 => "net.ipv4.ip_forward",
            Family::V6 => "net.ipv6.conf.all.forwarding",
        }
    }

    /// The DNS record type of an address of the family.
    pub fn record(self) -> &'static str {
        match self {
            Family::V4 => "A",
            Family::V6 => "AAAA",
        }
    }

    /// The host prefix length.
    pub fn host_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The peer field holding the address of this family.
    fn peer_field(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_address",
            Family::V6 => "ipv6_address",
        }
    }
}

/// A network's IP stack mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Ipv4,
    Ipv6,
    Dual,
}

impl Stack {
    /// The families the network carries.
    pub fn families(self) -> Vec<Family> {
        match self {
            Stack::Ipv4 => vec![Family::V4],
            Stack::Ipv6 => vec![Family::V6],
            Stack::Dual => vec![Family::V4, Family::V6],
        }
    }

    /// The family the network lacks, if any.
    pub fn absent(self) -> Option<Family> {
        match self {
            Stack::Ipv4 => Some(Family::V6),
            Stack::Ipv6 => Some(Family::V4),
            Stack::Dual => None,
        }
    }

    /// The body creating network `name` with overlay prefixes 10.20.0.0/24 and fd20::/64
    /// (those of its families).
    fn network(self, name: &str) -> Value {
        match self {
            Stack::Ipv4 => {
                json!({"name": name, "ip_stack_mode": "ipv4", "ipv4_cidr": "10.20.0.0/24"})
            }
            Stack::Ipv6 => {
                json!({"name": name, "ip_stack_mode": "ipv6", "ipv6_cidr": "fd20::/64"})
            }
            Stack::Dual => json!({
                "name": name, "ip_stack_mode": "dual",
                "ipv4_cidr": "10.20.0.0/24", "ipv6_cidr": "fd20::/64",
            }),
        }
    }
}

/// A directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One host of the network: its namespace, its peer in the API and what runs there.
pub struct Host {
    /// The name of its peer (`jump`, `a`, …).
    pub name: String,
    /// The peer as the API created it (agent peers: with their `agent_token`).
    pub peer: Value,
    /// Its WireGuard interface, unique machine-wide.
    pub iface: String,
    /// Its underlay addresses (`10.99.0.N`, `fd99::N`).
    pub underlay4: String,
    pub underlay6: String,
    // Drop order: what runs in the namespace, then the namespace.
    agent: Option<AgentProc>,
    wg_quick: Option<WgQuick>,
    pub ns: Netns,
    /// The forwarding sysctls (IPv4, IPv6) before anything of Raftwire ran here.
    forwarding_before: [String; 2],
    dir: PathBuf,
}

impl Host {
    /// The peer's id.
    pub fn id(&self) -> String {
        id_of(&self.peer)
    }

    /// Its overlay address of `family`, if the peer has one.
    pub fn addr(&self, family: Family) -> Option<String> {
        self.peer[family.peer_field()].as_str().map(str::to_string)
    }

    /// Its overlay address of `family`; panics when it has none.
    #[track_caller]
    pub fn overlay(&self, family: Family) -> String {
        self.addr(family)
            .unwrap_or_else(|| panic!("{} has no {family:?} address: {}", self.name, self.peer))
    }

    /// Its overlay address of `family` as a host prefix (`10.20.0.2/32`).
    pub fn host_prefix(&self, family: Family) -> String {
        format!("{}/{}", self.overlay(family), family.host_len())
    }

    pub fn agent(&self) -> Option<&AgentProc> {
        self.agent.as_ref()
    }

    /// The `-A RAFTWIRE_JUMP …` lines in the host's `iptables`/`ip6tables`.
    pub fn jump_chain(&self, family: Family) -> Vec<String> {
        self.save(family)
            .lines()
            .filter(|l| l.starts_with("-A RAFTWIRE_JUMP "))
            .map(str::to_string)
            .collect()
    }

    /// Whether the host's chain drops traffic from `from` to `to` (host prefixes).
    pub fn drops(&self, family: Family, from: &str, to: &str) -> bool {
        let start = format!("-A RAFTWIRE_JUMP -s {from} -d {to} ");
        self.jump_chain(family)
            .iter()
            .any(|l| l.starts_with(&start) && l.ends_with("-j DROP"))
    }

    /// `iptables-save` or `ip6tables-save`.
    pub fn save(&self, family: Family) -> String {
        self.ns
            .try_exec(&format!("{}-save", family.iptables()), &[])
            .1
    }

    /// The addresses of `family` on the WireGuard interface (`ip -o addr`), any scope; none
    /// when the host has no such interface (a static peer not brought up).
    pub fn wg_addresses(&self, family: Family) -> String {
        let (ok, out) = self.ns.try_exec(
            "ip",
            &[family.flag(), "-o", "addr", "show", "dev", &self.iface],
        );
        if ok {
            out
        } else {
            String::new()
        }
    }

    /// The main table's routes of `family` through the WireGuard interface, without the
    /// kernel's own link-local and multicast ones; none when the host has no such interface.
    pub fn wg_routes(&self, family: Family) -> Vec<String> {
        let (ok, out) = self
            .ns
            .try_exec("ip", &[family.flag(), "route", "show", "dev", &self.iface]);
        if !ok {
            return Vec::new();
        }
        out.lines()
            .filter(|l| !l.starts_with("fe80:") && !l.starts_with("ff00:"))
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// What a failing test shows of this host: its kernel state and its agent's log.
    pub fn report(&self) -> String {
        let mut out = format!("######## host {} ({})\n", self.name, self.iface);
        out.push_str(&self.ns.describe());
        if let Some(a) = &self.agent {
            out.push_str(&format!(
                "==== agent log {}\n{}",
                a.proc.log.display(),
                a.proc.output()
            ));
        }
        if let Some(w) = &self.wg_quick {
            out.push_str(&format!("==== wireguard-go log\n{}", w.proc.output()));
        }
        out
    }

    /// Whether the agent persisted (after converging to it) exactly the configuration the
    /// node now renders for it.
    fn applied(&self, api: &Api) -> bool {
        let Some(agent) = &self.agent else {
            return true;
        };
        let Some(token) = self.peer["agent_token"].as_str() else {
            return false;
        };
        let as_agent = Api {
            base: api.base.clone(),
            token: token.to_string(),
        };
        let desired = as_agent.get("/agent/config");
        let Ok(text) = std::fs::read_to_string(agent.state_dir.join("config.json")) else {
            return false;
        };
        let Ok(persisted) = serde_json::from_str::<Value>(&text) else {
            return false;
        };
        desired.status == 200 && desired.body["config"] == persisted["config"]
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        drop(self.agent.take());
        drop(self.wg_quick.take());
        // The agent's wireguard-go (and anything else left here): asked to exit, so that it
        // removes its UAPI socket, before the namespace's drop kills what remains.
        let pids = || {
            Command::new("ip")
                .args(["netns", "pids", &self.ns.name])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        for pid in pids().split_whitespace() {
            let _ = Command::new("kill").args(["-TERM", pid]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while !pids().trim().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(Path::new(UAPI_DIR).join(format!("{}.sock", self.iface)));
    }
}

/// A node (or a cluster), a network, its jump host and the peers added to it.
pub struct Topology {
    /// The jump first, then the peers in the order they were added.
    pub hosts: Vec<Host>,
    /// Node 1 (which bootstrapped) first; a killed node stays here, its log for the report.
    pub nodes: Vec<NodeProc>,
    /// A live node's API with node 1's admin token (valid on every node).
    pub api: Api,
    pub nid: String,
    /// The network as created.
    pub network: Value,
    pub stack: Stack,
    bridge: String,
    // Last: removed after the node that writes into it has stopped.
    scratch: Scratch,
}

impl Topology {
    /// The underlay, a 3-node cluster on it, a network of `stack` and its jump host with its agent
    /// running (not yet converged: see [`Topology::converged`]).
    pub fn new(stack: Stack) -> Topology {
        // The control plane as it is deployed: a 3-node cluster of real processes.
        Topology::with_nodes(stack, 3)
    }

    /// [`Topology::new`] with a cluster of `count` voters: node 1 bootstraps, the others
    /// join it; agents are given every node's URL.
    pub fn with_nodes(stack: Stack, count: u64) -> Topology {
        let scratch = Scratch(std::env::temp_dir().join(unique("topo")));
        std::fs::create_dir_all(&scratch.0).expect("scratch dir");
        let bridge = unique("br");
        sh("ip", &["link", "add", &bridge, "type", "bridge"]);
        // A fixed address: a bridge otherwise takes the lowest address of its ports, which
        // changes as hosts join, under the neighbour entries the hosts already hold for it.
        sh(
            "ip",
            &["link", "set", &bridge, "address", "02:52:57:00:99:01"],
        );
        sh("ip", &["addr", "add", "10.99.0.1/24", "dev", &bridge]);
        sh(
            "ip",
            &["addr", "add", "fd99::1/64", "dev", &bridge, "nodad"],
        );
        sh("ip", &["link", "set", &bridge, "up"]);
        let node = NodeProc::start(&scratch.0, 1, "10.99.0.1", None);
        let api = node.api.clone();
        let mut t = Topology {
            hosts: Vec::new(),
            nodes: vec![node],
            api,
            nid: String::new(),
            network: Value::Null,
            stack,
            bridge,
            scratch,
        };
        for id in 2..=count {
            let seed = t.api.base.clone();
            let node = NodeProc::start(&t.scratch.0, id, "10.99.0.1", Some(&seed));
            t.nodes.push(node);
        }
        if count > 1 {
            t.eventually(
                &format!("{count} voters, node 1's token valid on each"),
                |t| {
                    let status = t.api.get("/cluster");
                    let voters = status.body["members"]
                        .as_array()
                        .map_or(0, |m| m.iter().filter(|m| m["voter"] == true).count());
                    status.status == 200
                        && voters as u64 == count
                        && t.nodes
                            .iter()
                            .all(|n| t.api_of(n).get("/cluster").status == 200)
                },
            );
        }
        t.network = t.api.create("/networks", stack.network("corp"));
        t.nid = id_of(&t.network);
        let (ns, underlay4, underlay6) = t.host_namespace("j");
        // Hub and spoke makes the jump send ICMP redirects (a packet leaves by the interface
        // it came in on); they are noise here. `default` too: the WireGuard interface does
        // not exist yet and inherits it.
        for key in ["all", "default"] {
            ns.exec(
                "sysctl",
                &["-qw", &format!("net.ipv4.conf.{key}.send_redirects=0")],
            );
        }
        let endpoint = match stack {
            Stack::Ipv6 => format!("[{underlay6}]:{JUMP_PORT}"),
            _ => format!("{underlay4}:{JUMP_PORT}"),
        };
        let peer = t.api.create(
            &t.url("/peers"),
            json!({"name": "jump", "is_jump": true, "endpoint": endpoint}),
        );
        t.add_host("jump", peer, ns, underlay4, underlay6, true);
        t
    }

    /// A new agent-managed peer `name` on a host of its own, its agent started; its index.
    pub fn add_agent_peer(&mut self, name: &str) -> usize {
        let (ns, u4, u6) = self.host_namespace(name);
        let peer = self.api.create(
            &self.url("/peers"),
            json!({"name": name, "use_agent": true}),
        );
        self.add_host(name, peer, ns, u4, u6, true)
    }

    /// A new static peer `name` (keys generated by the node) and a host for it, with nothing
    /// of WireGuard yet (see [`Topology::wg_quick_up`]); its index.
    pub fn add_static_peer(&mut self, name: &str) -> usize {
        let (ns, u4, u6) = self.host_namespace(name);
        let peer = self.api.create(&self.url("/peers"), json!({"name": name}));
        assert_eq!(peer["use_agent"], false, "{peer}");
        self.add_host(name, peer, ns, u4, u6, false)
    }

    /// Applies `config` (wg-quick text) on host `i` as wg-quick would, with `wireguard-go`.
    pub fn wg_quick_up(&mut self, i: usize, config: &str) {
        let host = &mut self.hosts[i];
        let up = WgQuick::up(&host.ns, &host.iface, config, &self.scratch.0);
        host.wg_quick = Some(up);
    }

    /// A directory for a test's own files, removed with the topology.
    pub fn scratch(&self) -> &Path {
        &self.scratch.0
    }

    /// Node `node`'s API with node 1's admin token.
    pub fn api_of(&self, node: &NodeProc) -> Api {
        Api {
            base: node.api.base.clone(),
            token: self.api.token.clone(),
        }
    }

    /// `GET /cluster` on node `id`: its view of the cluster (`leader_id`, `members`).
    pub fn cluster_on(&self, id: u64) -> Value {
        let node = self
            .nodes
            .iter()
            .find(|n| n.id == id)
            .expect("a node of the cluster");
        self.api_of(node).get("/cluster").body
    }

    /// SIGKILLs node `id`; from then on [`Topology::api`] talks to a surviving node.
    pub fn kill_node(&mut self, id: u64) {
        let i = self
            .nodes
            .iter()
            .position(|n| n.id == id)
            .expect("a node of the cluster");
        self.nodes[i].proc.kill();
        if self.api.base == self.nodes[i].api.base {
            let survivor = self
                .nodes
                .iter()
                .find(|n| n.id != id)
                .expect("a surviving node");
            self.api = self.api_of(survivor);
        }
    }

    /// The host of peer `name`.
    #[track_caller]
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    pub fn jump(&self) -> &Host {
        &self.hosts[0]
    }

    /// `/networks/{nid}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("/networks/{}{path}", self.nid)
    }

    /// The fully qualified name of peer `name` in the network's zone.
    pub fn fqdn(&self, name: &str) -> String {
        format!(
            "{name}.{}",
            self.network["domain"].as_str().unwrap_or("corp.internal")
        )
    }

    /// Waits until every agent applied the configuration the node now renders for it, and
    /// every regular peer reaches the jump in each of the network's families (so the jump
    /// knows every peer's endpoint).
    #[track_caller]
    pub fn converged(&self) {
        self.applied();
        // Hosts with a tunnel: agent peers, and static peers once brought up.
        let tunnelled = self.hosts[1..]
            .iter()
            .filter(|h| h.agent.is_some() || h.wg_quick.is_some());
        for h in tunnelled {
            for f in self.stack.families() {
                let to = self.jump().overlay(f);
                self.check(
                    ping_within(&h.ns, &to, CONVERGE),
                    &format!("{} pings the jump at {to}", h.name),
                );
            }
        }
    }

    /// Waits until every agent applied the configuration the node now renders for it.
    #[track_caller]
    pub fn applied(&self) {
        self.eventually("every agent applied its current configuration", |t| {
            t.hosts.iter().all(|h| h.applied(&t.api))
        });
    }

    /// `dig` from host `from`, through its tunnel, at the jump's DNS address of family `via`,
    /// for peer `name`'s record of `family` (A or AAAA).
    pub fn resolve(&self, from: &str, via: Family, name: &str, family: Family) -> Dig {
        dig(
            &self.host(from).ns,
            &self.jump().overlay(via),
            53,
            &self.fqdn(name),
            family.record(),
            false,
        )
    }

    /// Asserts that nothing of `family` (which the network lacks) appeared on any host: no
    /// address or route on a WireGuard interface, no Raftwire chain, no change of the
    /// family's forwarding sysctl.
    #[track_caller]
    pub fn assert_untouched(&self, family: Family) {
        for h in &self.hosts {
            let addrs = h.wg_addresses(family);
            let global: Vec<&str> = addrs
                .lines()
                .filter(|l| !l.contains("scope link"))
                .collect();
            self.check(
                global.is_empty(),
                &format!(
                    "{}: no {family:?} address on {}: {global:?}",
                    h.name, h.iface
                ),
            );
            let routes = h.wg_routes(family);
            self.check(
                routes.is_empty(),
                &format!("{}: no {family:?} route on {}: {routes:?}", h.name, h.iface),
            );
            self.check(
                !h.save(family).contains("RAFTWIRE"),
                &format!("{}: no RAFTWIRE chain in {}", h.name, family.iptables()),
            );
            let i = if family == Family::V4 { 0 } else { 1 };
            self.check(
                h.ns.sysctl(family.forwarding_sysctl()) == h.forwarding_before[i],
                &format!("{}: {} unchanged", h.name, family.forwarding_sysctl()),
            );
        }
    }

    /// Waits until `check` holds, or panics with the whole network's state.
    #[track_caller]
    pub fn eventually(&self, what: &str, check: impl Fn(&Topology) -> bool) {
        let deadline = Instant::now() + CONVERGE;
        while Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{what}: not within {CONVERGE:?}\n{}", self.report());
    }

    /// Panics with the whole network's state unless `ok`.
    #[track_caller]
    pub fn check(&self, ok: bool, what: &str) {
        if !ok {
            panic!("{what}: failed\n{}", self.report());
        }
    }

    /// Every host's state and log, and the node's log.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for h in &self.hosts {
            out.push_str(&h.report());
        }
        for n in &self.nodes {
            out.push_str(&format!("######## node {} log\n{}", n.id, n.proc.output()));
        }
        out
    }

    /// A namespace on the underlay: `10.99.0.N/24` and `fd99::N/64` (N = 2, 3, …).
    fn host_namespace(&self, tag: &str) -> (Netns, String, String) {
        let n = self.hosts.len() + 2;
        let (u4, u6) = (format!("10.99.0.{n}"), format!("fd99::{n}"));
        let mut tag = tag.to_string();
        tag.truncate(2);
        let ns = Netns::new(&tag);
        let (here, _) = link_here(&[], &ns, &[&format!("{u4}/24"), &format!("{u6}/64")]);
        sh("ip", &["link", "set", &here, "master", &self.bridge]);
        (ns, u4, u6)
    }

    fn add_host(
        &mut self,
        name: &str,
        peer: Value,
        ns: Netns,
        underlay4: String,
        underlay6: String,
        agent: bool,
    ) -> usize {
        let dir = self.scratch.0.join(name);
        std::fs::create_dir_all(&dir).expect("host dir");
        let forwarding_before = [
            ns.sysctl(Family::V4.forwarding_sysctl()),
            ns.sysctl(Family::V6.forwarding_sysctl()),
        ];
        let mut host = Host {
            name: name.to_string(),
            peer,
            iface: unique("wg"),
            underlay4,
            underlay6,
            agent: None,
            wg_quick: None,
            ns,
            forwarding_before,
            dir,
        };
        if agent {
            let token = host.peer["agent_token"]
                .as_str()
                .expect("an agent peer's token")
                .to_string();
            host.agent = Some(AgentProc::start(
                &host.ns,
                AgentArgs {
                    servers: self.nodes.iter().map(|n| n.api.base.clone()).collect(),
                    token: &token,
                    dir: &host.dir,
                    interface: &host.iface,
                    dns_port: 53,
                    resync: RESYNC,
                    down_on_exit: false,
                },
            ));
        }
        self.hosts.push(host);
        self.hosts.len() - 1
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Hosts first (their agents talk to the nodes), then the nodes, then the bridge.
        self.hosts.clear();
        for n in &mut self.nodes {
            n.proc.kill();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// A WireGuard interface brought up from wg-quick text the way `wg-quick up` does it, with
/// `wireguard-go` in the foreground: the `[Interface]`/`[Peer]` keys `wg setconf` accepts
/// (wg-quick's own `Address`, `DNS`, `MTU`, … stripped, as `wg-quick strip` does), the
/// addresses on the interface, the link up, a route through it for every AllowedIPs prefix.
/// Dropping it stops `wireguard-go` and removes its UAPI socket.
pub struct WgQuick {
    pub proc: Proc,
    pub iface: String,
}

/// Keys of wg-quick that `wg setconf` does not know.
const WG_QUICK_ONLY: [&str; 9] = [
    "Address",
    "DNS",
    "MTU",
    "Table",
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
    "SaveConfig",
];

impl WgQuick {
    /// Brings `iface` up in `ns` from `config`; its files (stripped config, log) in `dir`.
    pub fn up(ns: &Netns, iface: &str, config: &str, dir: &Path) -> WgQuick {
        let mut cmd = ns.command("wireguard-go");
        cmd.args(["-f", iface]);
        let log = dir.join(format!("wireguard-go-{iface}.log"));
        let up = WgQuick {
            proc: Proc::spawn(&format!("wireguard-go {iface}"), cmd, log),
            iface: iface.to_string(),
        };
        let socket = Path::new(UAPI_DIR).join(format!("{iface}.sock"));
        crate::probe::wait_until(
            Duration::from_secs(10),
            "wireguard-go's UAPI socket",
            || socket.exists().then_some(()),
        );
        let (mut addresses, mut allowed) = (Vec::new(), Vec::new());
        let mut stripped = String::new();
        for line in config.lines() {
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (line.trim(), ""),
            };
            let list = || value.split(',').map(|s| s.trim().to_string());
            match key {
                "Address" => addresses.extend(list()),
                "AllowedIPs" => allowed.extend(list()),
                _ => {}
            }
            if !WG_QUICK_ONLY.contains(&key) {
                stripped.push_str(line);
                stripped.push('\n');
            }
        }
        let file = dir.join(format!("{iface}.conf"));
        std::fs::write(&file, &stripped).expect("write the stripped config");
        ns.exec(
            "wg",
            &["setconf", iface, file.to_str().expect("utf-8 path")],
        );
        for addr in &addresses {
            if addr.contains(':') {
                ns.exec("ip", &["-6", "addr", "add", addr, "dev", iface, "nodad"]);
            } else {
                ns.exec("ip", &["-4", "addr", "add", addr, "dev", iface]);
            }
        }
        ns.exec("ip", &["link", "set", iface, "up"]);
        for prefix in &allowed {
            let family = if prefix.contains(':') { "-6" } else { "-4" };
            ns.exec("ip", &[family, "route", "add", prefix, "dev", iface]);
        }
        up
    }
}

impl Drop for WgQuick {
    fn drop(&mut self) {
        // SIGTERM lets wireguard-go remove its socket; SIGKILL if it does not exit.
        self.proc.signal("TERM");
        if self.proc.wait_exit(Duration::from_secs(3)).is_none() {
            self.proc.kill();
        }
        let _ = std::fs::remove_file(Path::new(UAPI_DIR).join(format!("{}.sock", self.iface)));
    }
}
