//! The DNS module against real queries: `dig` over UDP and TCP to servers on loopback.
//!
//! No root needed: servers listen on 127.0.0.1 (and ::1 where the host has IPv6 loopback)
//! on ports the module picks (port 0 in the settings); the upstream servers of forwarding
//! tests are further instances of the module on loopback.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use raftwire_agent::converge::dns::Dns;
use raftwire_agent::converge::{Module, Settings};
use raftwire_api::agent::{agent_config, AgentConfig, DnsConfig};
use raftwire_api::dns::{lookup, network_records, Answer, DnsRecord, RecordSource, RecordType};
use raftwire_api::testkit::Builder;
use raftwire_api::IpStackMode;

use crate::support;

const V4: &str = "127.0.0.1";
const V6: &str = "::1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Whether the host has IPv6 loopback (containers may not).
fn has_ipv6_loopback() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok()
}

/// The loopback addresses this host can listen on.
fn loopbacks() -> Vec<IpAddr> {
    let mut v = vec![ip(V4)];
    if has_ipv6_loopback() {
        v.push(ip(V6));
    } else {
        eprintln!("note: no IPv6 loopback here; the tests run on 127.0.0.1 only");
    }
    v
}

/// A tokio runtime and the settings that run a module on it.
struct Harness {
    runtime: tokio::runtime::Runtime,
    _state: tempfile::TempDir,
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Harness {
            runtime,
            _state: tempfile::tempdir().unwrap(),
        }
    }

    fn settings(&self, port: u16) -> Settings {
        Settings {
            interface: None,
            dns_port: port,
            ..support::settings("", self._state.path(), &self.runtime)
        }
    }

    /// A module on ports of its own choosing.
    fn dns(&self) -> Dns {
        Dns::new(&self.settings(0))
    }
}

/// A jump's configuration (no firewall, no peers) serving `dns`.
fn config(dns: Option<DnsConfig>) -> AgentConfig {
    AgentConfig {
        dns,
        ..support::config("rw0", &["10.0.0.1/32"], None, &[])
    }
}

fn record(name: &str, zone: &str, value: &str) -> DnsRecord {
    let value = ip(value);
    DnsRecord {
        name: name.into(),
        fqdn: format!("{name}.{zone}"),
        record_type: RecordType::of_addr(&value),
        value,
        source: RecordSource::Route,
    }
}

fn zone_config(
    listen: Vec<IpAddr>,
    zone: &str,
    records: &[(&str, &str)],
    upstreams: Vec<IpAddr>,
) -> DnsConfig {
    DnsConfig {
        listen,
        zone: zone.into(),
        records: records.iter().map(|(n, v)| record(n, zone, v)).collect(),
        upstreams,
    }
}

/// `corp.internal`: dual-stack `laptop`, IPv4-only `printer`, wildcard `*.svc`, and a more
/// specific `db.svc`.
fn corp(listen: Vec<IpAddr>) -> DnsConfig {
    zone_config(
        listen,
        "corp.internal",
        &[
            ("laptop", "10.0.0.2"),
            ("laptop", "fd00::2"),
            ("printer", "10.0.0.3"),
            ("*.svc", "192.168.10.9"),
            ("db.svc", "192.168.10.5"),
        ],
        vec![],
    )
}

/// What `dig` saw.
#[derive(Debug)]
struct Dug {
    status: String,
    /// `(type, value)` of the answer section, sorted.
    answers: Vec<(String, String)>,
    /// Owner names of the answer section, as printed.
    owners: Vec<String>,
    /// Record types of the authority section.
    authority: Vec<String>,
}

impl Dug {
    fn addrs(&self, t: &str) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .answers
            .iter()
            .filter(|(ty, _)| ty == t)
            .map(|(_, v)| ip(v))
            .collect();
        v.sort();
        v
    }
}

/// Asks `server` for `name`/`qtype` with dig (one try, 2 s), over TCP if `tcp`.
fn dig(server: SocketAddr, name: &str, qtype: &str, tcp: bool) -> Dug {
    let mut cmd = Command::new("dig");
    cmd.arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), name, qtype])
        .args(["+tries=1", "+time=2", "+noall", "+comments", "+answer"])
        .arg("+authority");
    if tcp {
        cmd.arg("+tcp");
    }
    let out = cmd.output().expect("dig is installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .map(str::to_string)
        .unwrap_or_else(|| format!("NO ANSWER ({})", text.trim()));
    let mut answers = Vec::new();
    let mut owners = Vec::new();
    let mut authority = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";; ") {
            section = if rest.starts_with("ANSWER SECTION") {
                "answer"
            } else if rest.starts_with("AUTHORITY SECTION") {
                "authority"
            } else {
                ""
            };
            continue;
        }
        if line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 {
            continue;
        }
        match section {
            "answer" => {
                owners.push(fields[0].to_string());
                answers.push((fields[3].to_string(), fields[4].to_string()));
            }
            "authority" => authority.push(fields[3].to_string()),
            _ => {}
        }
    }
    answers.sort();
    Dug {
        status,
        answers,
        owners,
        authority,
    }
}

fn both_protocols() -> [bool; 2] {
    [false, true]
}

#[test]
fn a_dual_stack_peer_answers_a_and_aaaa_case_insensitively_over_udp_and_tcp() {
    let h = Harness::new();
    let mut dns = h.dns();
    dns.converge(&config(Some(corp(loopbacks())))).unwrap();
    let servers = dns.local_addrs();
    assert_eq!(servers.len(), loopbacks().len());
    for server in servers {
        for tcp in both_protocols() {
            for name in [
                "laptop.corp.internal",
                "LaPtOp.corp.internal",
                "LAPTOP.CORP.INTERNAL.",
            ] {
                let a = dig(server, name, "A", tcp);
                assert_eq!(a.status, "NOERROR", "{server} {name} tcp={tcp}: {a:?}");
                assert_eq!(a.addrs("A"), vec![ip("10.0.0.2")], "{a:?}");
                let aaaa = dig(server, name, "AAAA", tcp);
                assert_eq!(aaaa.status, "NOERROR", "{aaaa:?}");
                assert_eq!(aaaa.addrs("AAAA"), vec![ip("fd00::2")], "{aaaa:?}");
            }
        }
    }
    dns.remove().unwrap();
}

#[test]
fn a_missing_type_is_nodata_and_an_unknown_name_is_nxdomain() {
    let h = Harness::new();
    let mut dns = h.dns();
    dns.converge(&config(Some(corp(vec![ip(V4)])))).unwrap();
    let server = dns.local_addrs()[0];
    for tcp in both_protocols() {
        let nodata = dig(server, "printer.corp.internal", "AAAA", tcp);
        assert_eq!(nodata.status, "NOERROR", "{nodata:?}");
        assert!(nodata.answers.is_empty(), "{nodata:?}");
        assert_eq!(
            nodata.authority,
            vec!["SOA"],
            "negative answers carry the SOA"
        );

        // Types the zone never has: NODATA where the name exists, NXDOMAIN where not.
        let mx = dig(server, "printer.corp.internal", "MX", tcp);
        assert_eq!((mx.status.as_str(), mx.answers.len()), ("NOERROR", 0));
        let apex = dig(server, "corp.internal", "A", tcp);
        assert_eq!((apex.status.as_str(), apex.answers.len()), ("NOERROR", 0));
        let txt = dig(server, "nobody.corp.internal", "TXT", tcp);
        assert_eq!(txt.status, "NXDOMAIN", "{txt:?}");

        let nx = dig(server, "nobody.corp.internal", "A", tcp);
        assert_eq!(nx.status, "NXDOMAIN", "{nx:?}");
        assert!(nx.answers.is_empty());
        assert_eq!(nx.authority, vec!["SOA"]);
    }
    dns.remove().unwrap();
}

#[test]
fn a_wildcard_answers_names_several_labels_deep_and_a_more_specific_name_wins() {
    let h = Harness::new();
    let mut dns = h.dns();
    dns.converge(&config(Some(corp(vec![ip(V4)])))).unwrap();
    let server = dns.local_addrs()[0];
    for tcp in both_protocols() {
        for name in [
            "a.svc.corp.internal",
            "a.b.svc.corp.internal",
            "X.Y.Z.SVC.corp.internal",
        ] {
            let d = dig(server, name, "A", tcp);
            assert_eq!(d.status, "NOERROR", "{name}: {d:?}");
            assert_eq!(d.addrs("A"), vec![ip("192.168.10.9")], "{name}: {d:?}");
        }
        let db = dig(server, "db.svc.corp.internal", "A", tcp);
        assert_eq!(db.addrs("A"), vec![ip("192.168.10.5")], "{db:?}");
        // The owner of the answer is the name asked, not the wildcard.
        let deep = dig(server, "a.b.svc.corp.internal", "A", tcp);
        assert_eq!(deep.owners, vec!["a.b.svc.corp.internal."], "{deep:?}");
        // The wildcard's parent itself exists only as an empty non-terminal.
        let svc = dig(server, "svc.corp.internal", "A", tcp);
        assert_eq!((svc.status.as_str(), svc.answers.len()), ("NOERROR", 0));
    }
    dns.remove().unwrap();
}

#[test]
fn replaced_records_are_answered_by_the_next_query_on_the_same_sockets() {
    let h = Harness::new();
    let mut dns = h.dns();
    let old = corp(vec![ip(V4)]);
    dns.converge(&config(Some(old.clone()))).unwrap();
    let before = dns.local_addrs();
    let server = before[0];
    assert_eq!(
        dig(server, "printer.corp.internal", "A", false).addrs("A"),
        vec![ip("10.0.0.3")]
    );

    let mut new = old.clone();
    let mut records = new.records.to_vec();
    records.retain(|r| r.name != "printer");
    records.push(record("printer", "corp.internal", "10.0.0.33"));
    records.push(record("scanner", "corp.internal", "10.0.0.4"));
    new.records = records.into();
    dns.converge(&config(Some(new.clone()))).unwrap();
    // Port 0 in the settings: a rebind would almost surely have moved the port.
    assert_eq!(dns.local_addrs(), before, "the server kept its sockets");
    for tcp in both_protocols() {
        assert_eq!(
            dig(server, "printer.corp.internal", "A", tcp).addrs("A"),
            vec![ip("10.0.0.33")]
        );
        assert_eq!(
            dig(server, "scanner.corp.internal", "A", tcp).addrs("A"),
            vec![ip("10.0.0.4")]
        );
    }

    // Swapping back and forth while a client keeps asking: no query goes unanswered.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(dig(server, "printer.corp.internal", "A", false));
            }
            seen
        })
    };
    for i in 0..30 {
        let cfg = if i % 2 == 0 { &old } else { &new };
        dns.converge(&config(Some(cfg.clone()))).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let seen = client.join().unwrap();
    assert!(!seen.is_empty());
    for d in &seen {
        assert_eq!(d.status, "NOERROR", "{d:?}");
        let a = d.addrs("A");
        assert!(
            a == vec![ip("10.0.0.3")] || a == vec![ip("10.0.0.33")],
            "{d:?}"
        );
    }
    assert_eq!(dns.local_addrs(), before);
    dns.remove().unwrap();
}

#[test]
fn names_outside_the_zone_are_forwarded_to_the_upstream() {
    let h = Harness::new();
    // The upstream: another instance serving a zone of its own.
    let mut upstream = h.dns();
    upstream
        .converge(&config(Some(zone_config(
            vec![ip(V4)],
            "example.test",
            &[("www", "203.0.113.7"), ("www", "2001:db8::7")],
            vec![],
        ))))
        .unwrap();
    let upstream_port = upstream.local_addrs()[0].port();

    // The first upstream refuses (nothing listens there), the second answers.
    let mut dns = h.dns().with_upstream_port(upstream_port);
    let mut cfg = corp(loopbacks());
    cfg.upstreams = vec![ip("127.0.0.2"), ip(V4)];
    dns.converge(&config(Some(cfg))).unwrap();
    for server in dns.local_addrs() {
        for tcp in both_protocols() {
            let a = dig(server, "www.example.test", "A", tcp);
            assert_eq!(a.status, "NOERROR", "{server} tcp={tcp}: {a:?}");
            assert_eq!(a.addrs("A"), vec![ip("203.0.113.7")]);
            let aaaa = dig(server, "WWW.example.test", "AAAA", tcp);
            assert_eq!(aaaa.addrs("AAAA"), vec![ip("2001:db8::7")], "{aaaa:?}");
            // The upstream's negative answers come back as they are.
            let nx = dig(server, "nope.example.test", "A", tcp);
            assert_eq!(nx.status, "NXDOMAIN", "{nx:?}");
            // And the zone itself is still answered locally.
            let laptop = dig(server, "laptop.corp.internal", "A", tcp);
            assert_eq!(laptop.addrs("A"), vec![ip("10.0.0.2")]);
        }
    }
    dns.remove().unwrap();
    upstream.remove().unwrap();
}

#[test]
fn no_reachable_upstream_gives_servfail() {
    let h = Harness::new();
    // A port nobody listens on: the upstream refuses at once.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dns = h.dns().with_upstream_port(closed);
    let mut cfg = corp(vec![ip(V4)]);
    cfg.upstreams = vec![ip(V4)];
    dns.converge(&config(Some(cfg.clone()))).unwrap();
    let server = dns.local_addrs()[0];
    for tcp in both_protocols() {
        let d = dig(server, "www.example.test", "A", tcp);
        assert_eq!(d.status, "SERVFAIL", "tcp={tcp}: {d:?}");
    }
    // No upstreams at all.
    cfg.upstreams.clear();
    dns.converge(&config(Some(cfg))).unwrap();
    let d = dig(server, "www.example.test", "A", false);
    assert_eq!(d.status, "SERVFAIL", "{d:?}");
    dns.remove().unwrap();
}

/// What the zone's own definition says, in dig's terms.
fn expected(answer: &Answer) -> (&'static str, Vec<IpAddr>) {
    match answer {
        Answer::Records(v) => {
            let mut v = v.clone();
            v.sort();
            ("NOERROR", v)
        }
        Answer::NoData => ("NOERROR", vec![]),
        Answer::NxDomain => ("NXDOMAIN", vec![]),
        Answer::NotInZone => panic!("only names in the zone are compared"),
    }
}

#[test]
fn the_agent_answers_exactly_what_the_node_derives_for_the_network() {
    // A real network, its jump's configuration as the node derives it.
    let mut b = Builder::new(
        "corp",
        IpStackMode::Dual,
        Some("10.0.0.0/24"),
        Some("fd00::/64"),
    );
    let jump = b.jump("jump");
    let laptop = b.peer("laptop");
    b.peer_mut(laptop).ipv6_address = None;
    b.peer("phone");
    let lan = b.route("lan", "192.168.10.0/24", jump);
    let svc6 = b.route("svc6", "fd10::/64", jump);
    b.mapping(lan, "db", "192.168.10.5");
    b.mapping(svc6, "*.svc", "fd10::5");
    b.mapping(lan, "*.svc", "192.168.10.50");
    b.mapping(lan, "*", "192.168.10.99");
    b.mapping(svc6, "api.svc", "fd10::a");
    b.mapping(lan, "db.eu.svc", "192.168.10.6");
    b.mapping(lan, "phone", "192.168.10.7");
    let data = b.build();
    let view = data.view();
    let idx = view.index();
    let mut cfg = agent_config(&view, &idx, jump).unwrap();
    let dns_cfg = cfg.dns.as_mut().unwrap();
    assert_eq!(*dns_cfg.records, *network_records(&view));
    // The overlay addresses are the test's loopback here.
    dns_cfg.listen = vec![ip(V4)];
    let zone = dns_cfg.zone.clone();
    let records = dns_cfg.records.clone();

    let h = Harness::new();
    let mut dns = h.dns();
    dns.converge(&cfg).unwrap();
    let server = dns.local_addrs()[0];
    let names = [
        "jump.corp.internal",
        "Laptop.Corp.Internal",
        "phone.corp.internal.",
        "db.corp.internal",
        "x.svc.corp.internal",
        "a.b.c.svc.corp.internal",
        "API.svc.corp.internal",
        "x.api.svc.corp.internal",
        "db.eu.svc.corp.internal",
        "x.db.eu.svc.corp.internal",
        "eu.svc.corp.internal",
        "svc.corp.internal",
        "anything.corp.internal",
        "deep.anything.corp.internal",
        "corp.internal",
    ];
    let mut nxdomain_seen = false;
    for name in names {
        for (qtype, t) in [("A", RecordType::A), ("AAAA", RecordType::AAAA)] {
            let want = expected(&lookup(&zone, &records, name, t));
            nxdomain_seen |= want.0 == "NXDOMAIN";
            for tcp in both_protocols() {
                let got = dig(server, name, qtype, tcp);
                assert_eq!(
                    (got.status.as_str(), got.addrs(qtype)),
                    (want.0, want.1.clone()),
                    "{name} {qtype} tcp={tcp}: {got:?}"
                );
            }
        }
    }
    // `*` catches every name, so NXDOMAIN cannot occur here; check it on a zone without it.
    assert!(!nxdomain_seen);
    let mut no_star = cfg.clone();
    let d = no_star.dns.as_mut().unwrap();
    d.records = d
        .records
        .iter()
        .filter(|r| r.name != "*")
        .cloned()
        .collect();
    let records = d.records.clone();
    dns.converge(&no_star).unwrap();
    for name in ["anything.corp.internal", "x.db.corp.internal"] {
        let want = expected(&lookup(&zone, &records, name, RecordType::A));
        assert_eq!(want.0, "NXDOMAIN");
        let got = dig(server, name, "A", false);
        assert_eq!((got.status.as_str(), got.addrs("A")), want, "{name}");
    }
    dns.remove().unwrap();
}

#[test]
fn an_address_that_cannot_be_bound_is_reported_while_the_others_serve() {
    let h = Harness::new();
    let mut dns = h.dns();
    // TEST-NET-1: not on this host, as an overlay address is before the addresses module ran.
    let err = dns
        .converge(&config(Some(corp(vec![ip("192.0.2.1"), ip(V4)]))))
        .unwrap_err();
    assert!(err.contains("192.0.2.1"), "{err}");
    let servers = dns.local_addrs();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].ip(), ip(V4));
    let d = dig(servers[0], "printer.corp.internal", "A", false);
    assert_eq!(d.addrs("A"), vec![ip("10.0.0.3")]);
    dns.remove().unwrap();
}

#[test]
fn a_listener_that_failed_to_bind_is_retried_on_the_next_converge() {
    let h = Harness::new();
    // A fixed port, held by someone else at first — for UDP and TCP both, or another test's
    // TCP socket could take the port the module binds for TCP after the holder lets go.
    let (holder, tcp_holder) = loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if let Ok(udp) = std::net::UdpSocket::bind(("127.0.0.1", port)) {
            break (udp, tcp);
        }
    };
    let port = holder.local_addr().unwrap().port();
    let mut dns = Dns::new(&h.settings(port));
    let cfg = config(Some(corp(vec![ip(V4)])));
    let err = dns.converge(&cfg).unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(dns.local_addrs().is_empty());

    drop(holder);
    drop(tcp_holder);
    dns.converge(&cfg).unwrap();
    let server: SocketAddr = (ip(V4), port).into();
    assert_eq!(dns.local_addrs(), vec![server]);
    for tcp in both_protocols() {
        let d = dig(server, "printer.corp.internal", "A", tcp);
        assert_eq!(d.addrs("A"), vec![ip("10.0.0.3")], "{d:?}");
    }
    // A further converge with the same configuration changes nothing.
    dns.converge(&cfg).unwrap();
    assert_eq!(dns.local_addrs(), vec![server]);
    dns.remove().unwrap();
}

#[test]
fn remove_and_a_config_without_dns_release_the_sockets() {
    let h = Harness::new();
    for stop_by_config in [false, true] {
        let mut dns = h.dns();
        dns.converge(&config(Some(corp(loopbacks())))).unwrap();
        let servers = dns.local_addrs();
        assert_eq!(servers.len(), loopbacks().len());
        if stop_by_config {
            dns.converge(&config(None)).unwrap();
        } else {
            dns.remove().unwrap();
        }
        assert!(dns.local_addrs().is_empty());
        for server in servers {
            // Both ports are free again: binding them succeeds.
            std::net::UdpSocket::bind(server).expect("the UDP port is released");
            std::net::TcpListener::bind(server).expect("the TCP port is released");
        }
        // Removing twice is harmless.
        dns.remove().unwrap();
    }
}

#[test]
fn dropping_listen_addresses_stops_only_those() {
    if !has_ipv6_loopback() {
        eprintln!("SKIP: no IPv6 loopback on this host");
        return;
    }
    let h = Harness::new();
    let mut dns = h.dns();
    dns.converge(&config(Some(corp(vec![ip(V4), ip(V6)]))))
        .unwrap();
    let before = dns.local_addrs();
    let v4 = before.iter().find(|a| a.is_ipv4()).copied().unwrap();
    let v6 = before.iter().find(|a| a.is_ipv6()).copied().unwrap();
    dns.converge(&config(Some(corp(vec![ip(V4)])))).unwrap();
    assert_eq!(dns.local_addrs(), vec![v4], "the IPv4 listener was kept");
    // The listener's task lets go of its socket a moment after the converge returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Err(e) = std::net::UdpSocket::bind(v6) {
        assert!(
            std::time::Instant::now() < deadline,
            "the IPv6 socket is released: {e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let d = dig(v4, "printer.corp.internal", "A", false);
    assert_eq!(d.addrs("A"), vec![ip("10.0.0.3")]);
    dns.remove().unwrap();
}
