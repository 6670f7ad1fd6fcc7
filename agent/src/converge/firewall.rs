//! The firewall of a jump peer: Raftwire's own iptables/ip6tables chains, the jumps into them
//! and the NAT for routes.
//!
//! The node renders, per family, an `iptables-restore --noflush` text that declares our
//! filter chains (`RAFTWIRE_JUMP`, `RAFTWIRE_INPUT`) — which under `--noflush` creates or
//! flushes just those chains — and fills them; the NAT for routes comes as a separate text
//! per family for `RAFTWIRE_NAT` in the `nat` table. This module:
//!
//! - **observes** each table with `iptables-save -t <table>` (or `ip6tables-save`), keeping
//!   only our chains and the jumps into them from `FORWARD`, `INPUT` and `POSTROUTING`;
//! - **restores** a table's text only when the chains it declares differ from what the host
//!   has, so a resync with nothing changed runs no restore, and a chain flushed or deleted
//!   by hand is rebuilt on the next converge. One restore per family and table: atomic, a
//!   failed one leaves the previous rule set in place and is reported with its family;
//! - inserts the jumps once (`-C` before `-I`): `FORWARD -i <if>` and `FORWARD -o <if>` to
//!   `RAFTWIRE_JUMP`, `INPUT -i <if>` to `RAFTWIRE_INPUT`, `POSTROUTING ! -o <if>` to
//!   `RAFTWIRE_NAT` (traffic between overlay peers leaves through the WireGuard interface
//!   and is never masqueraded), and deletes jumps into our chains that are no longer wanted
//!   (another interface name, say);
//! - removes a family (or its NAT) that disappears from the configuration: jumps first,
//!   then `-F` and `-X` of our chains. A regular peer (no firewall) has none of them.
//!
//! Nothing else is ever touched: only the three chains named above, and in the built-in
//! chains only rules whose target is one of them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ipnet::IpNet;
use raftwire_api::agent::AgentConfig;
use raftwire_api::firewall::{FamilyRules, INPUT_CHAIN, JUMP_CHAIN, NAT_CHAIN};

use super::{Module, Settings};
use crate::host;

/// An IP family, with the tools that manage its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];

    /// `iptables` or `ip6tables`: the default (nft) variant, whose `-C` honours match
    /// options (the legacy `ip6tables -C` ignores them and would report a jump as present).
    pub fn tool(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables",
            Family::Ipv6 => "ip6tables",
        }
    }

    pub fn save_tool(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables-save",
            Family::Ipv6 => "ip6tables-save",
        }
    }

    pub fn restore_tool(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables-restore",
            Family::Ipv6 => "ip6tables-restore",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// The two tables Raftwire has chains in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Filter,
    Nat,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }

    /// Our chains in this table: the only user chains this module ever creates or deletes.
    pub fn own_chains(self) -> &'static [&'static str] {
        match self {
            Table::Filter => &[JUMP_CHAIN, INPUT_CHAIN],
            Table::Nat => &[NAT_CHAIN],
        }
    }

    /// The built-in chains we jump from: the only foreign chains we add rules to (and only
    /// rules whose target is one of ours).
    fn jump_sources(self) -> &'static [&'static str] {
        match self {
            Table::Filter => &["FORWARD", "INPUT"],
            Table::Nat => &["POSTROUTING"],
        }
    }

    /// The jumps this table needs for the WireGuard interface `iface`, as
    /// `(built-in chain, rule arguments)` in the words `iptables-save` prints them.
    fn jumps(self, iface: &str) -> Vec<Jump> {
        let jump = |from: &str, args: &[&str]| Jump {
            from: from.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        match self {
            Table::Filter => vec![
                jump("FORWARD", &["-i", iface, "-j", JUMP_CHAIN]),
                jump("FORWARD", &["-o", iface, "-j", JUMP_CHAIN]),
                jump("INPUT", &["-i", iface, "-j", INPUT_CHAIN]),
            ],
            Table::Nat => vec![jump("POSTROUTING", &["!", "-o", iface, "-j", NAT_CHAIN])],
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rule in a built-in chain whose target is one of our chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub from: String,
    /// The rule's arguments after `-A <from>`.
    pub args: Vec<String>,
}

impl Jump {
    fn target(&self) -> Option<&str> {
        self.args
            .windows(2)
            .find(|w| w[0] == "-j" || w[0] == "-g")
            .map(|w| w[1].as_str())
    }
}

/// Our chains as they are (or should be) in one table: chain → its rules, each rule in
/// normalised words (see [`normalize_rule`]).
pub type Chains = BTreeMap<String, Vec<Vec<String>>>;

/// What the host has of ours in one table of one family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub chains: Chains,
    pub jumps: Vec<Jump>,
}

/// Splits an `iptables-save`/`iptables-restore` line into words: whitespace separates,
/// double quotes group (comments), a backslash escapes the next character inside quotes.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The words of a rule (after `-A <chain>`) in the form `iptables-save` prints them back,
/// so the rendered text and the observed rules compare equal: a match on every address
/// (`-s 0.0.0.0/0`, `-d ::/0`) is dropped, prefixes lose their host bits, a bare address
/// gets its host prefix, and conntrack states are sorted (`RELATED,ESTABLISHED`).
pub fn normalize_rule(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let next = words.get(i + 1);
        match (w.as_str(), next) {
            ("-s" | "-d" | "--source" | "--destination", Some(addr)) => {
                let net = addr
                    .parse::<IpNet>()
                    .map(|n| n.trunc())
                    .or_else(|_| addr.parse::<std::net::IpAddr>().map(IpNet::from));
                match net {
                    Ok(n) if n.prefix_len() == 0 => {}
                    Ok(n) => {
                        out.push(w[..2].to_string());
                        out.push(n.to_string());
                    }
                    Err(_) => {
                        out.push(w.clone());
                        out.push(addr.clone());
                    }
                }
                i += 2;
            }
            ("--ctstate" | "--state", Some(states)) => {
                let mut s: Vec<&str> = states.split(',').collect();
                s.sort_unstable();
                out.push(w.clone());
                out.push(s.join(","));
                i += 2;
            }
            _ => {
                out.push(w.clone());
                i += 1;
            }
        }
    }
    out
}

/// Our chains declared and filled by a restore text (`:CHAIN` lines and `-A CHAIN` rules).
/// Chains that are not ours are ignored: this module never observes them.
pub fn parse_restore(text: &str, table: Table) -> Chains {
    let own = table.own_chains();
    let mut chains = Chains::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if own.contains(&name) {
                chains.entry(name.to_string()).or_default();
            }
        } else if line.starts_with("-A ") {
            let words = split_words(line);
            if let Some(chain) = words.get(1).filter(|c| own.contains(&c.as_str())) {
                chains
                    .entry(chain.clone())
                    .or_default()
                    .push(normalize_rule(&words[2..]));
            }
        }
    }
    chains
}

/// Our chains and the jumps into them, from `iptables-save -t <table>` output.
pub fn parse_save(text: &str, table: Table) -> Observed {
    let own = table.own_chains();
    let sources = table.jump_sources();
    let mut observed = Observed::default();
    for line in text.lines() {
        let line = line.trim();
        if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if own.contains(&name) {
                observed.chains.entry(name.to_string()).or_default();
            }
        } else if line.starts_with("-A ") {
            let words = split_words(line);
            let Some(chain) = words.get(1) else { continue };
            if own.contains(&chain.as_str()) {
                observed
                    .chains
                    .entry(chain.clone())
                    .or_default()
                    .push(normalize_rule(&words[2..]));
            } else if sources.contains(&chain.as_str()) {
                let jump = Jump {
                    from: chain.clone(),
                    args: words[2..].to_vec(),
                };
                if jump.target().is_some_and(|t| own.contains(&t)) {
                    observed.jumps.push(jump);
                }
            }
        }
    }
    observed
}

/// The rendered rule set with the DNS rules of `RAFTWIRE_INPUT` opened on the port this
/// agent's DNS server listens on (`--dns-port`), which the node does not know.
fn with_dns_port(restore: &str, port: u16) -> String {
    if port == raftwire_api::firewall::DNS_PORT {
        return restore.to_string();
    }
    let from = format!("--dport {} ", raftwire_api::firewall::DNS_PORT);
    let to = format!("--dport {port} ");
    restore
        .lines()
        .map(|l| {
            if l.starts_with("-A RAFTWIRE_INPUT ") {
                l.replace(&from, &to)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if restore.ends_with('\n') { "\n" } else { "" }
}

/// The firewall module.
pub struct Firewall {
    settings: Settings,
    /// Restores run so far (tests and benchmarks check that a resync runs none).
    restores: u64,
    /// Per family and table: the last text restored and our chains as observed right after.
    /// Should `iptables-save` print a rule differently from its rendering in a way
    /// [`normalize_rule`] does not know, an unchanged host still compares equal to this.
    applied: HashMap<(Family, Table), (String, Chains)>,
}

impl Firewall {
    pub fn new(settings: &Settings) -> Self {
        Firewall {
            settings: settings.clone(),
            restores: 0,
            applied: HashMap::new(),
        }
    }

    /// How many restores this module has run.
    pub fn restores(&self) -> u64 {
        self.restores
    }

    fn observe(family: Family, table: Table) -> Result<Observed, String> {
        let text =
            host::run(family.save_tool(), &["-t", table.name()]).map_err(|e| e.to_string())?;
        Ok(parse_save(&text, table))
    }

    /// Brings one table of one family to `desired` (a restore text), or removes everything
    /// of ours from it when `desired` is `None`.
    fn converge_table(
        &mut self,
        family: Family,
        table: Table,
        desired: Option<&str>,
        iface: &str,
    ) -> Result<(), String> {
        let observed = match Self::observe(family, table) {
            Ok(o) => o,
            // Without a nat table for the family (a kernel without IPv6 NAT) nothing of ours
            // can be in it.
            Err(_) if desired.is_none() && table == Table::Nat => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(text) = desired else {
            self.applied.remove(&(family, table));
            return remove_table(family, table, &observed);
        };

        let want = parse_restore(text, table);
        let mut observed = observed;
        if !self.matches(family, table, text, &want, &observed) {
            host::run_with_input(family.restore_tool(), &["-w", "--noflush"], Some(text))
                .map_err(|e| e.to_string())?;
            self.restores += 1;
            observed = Self::observe(family, table)?;
            let after = only(&observed.chains, &want);
            self.applied
                .insert((family, table), (text.to_string(), after));
        }

        // Jumps: the missing ones first, so traffic is never unfiltered while a stale one
        // (for another interface) is replaced.
        let wanted: Vec<Jump> = table
            .jumps(iface)
            .into_iter()
            .filter(|j| j.target().is_some_and(|t| want.contains_key(t)))
            .collect();
        for jump in wanted.iter().filter(|j| !observed.jumps.contains(j)) {
            insert_jump(family, table, jump)?;
        }
        let mut seen: Vec<&Jump> = Vec::new();
        for jump in &observed.jumps {
            // A jump not wanted, or a duplicate of one already kept.
            if !wanted.contains(jump) || seen.contains(&jump) {
                delete_jump(family, table, jump)?;
            } else {
                seen.push(jump);
            }
        }
        // Our chains the text no longer declares.
        for chain in table.own_chains() {
            if observed.chains.contains_key(*chain) && !want.contains_key(*chain) {
                remove_chain(family, table, chain, &[])?;
            }
        }
        Ok(())
    }

    /// Whether the chains `want` declares are on the host as `text` would make them.
    fn matches(
        &self,
        family: Family,
        table: Table,
        text: &str,
        want: &Chains,
        observed: &Observed,
    ) -> bool {
        let have = only(&observed.chains, want);
        if have.len() != want.len() {
            return false;
        }
        if &have == want {
            return true;
        }
        self.applied
            .get(&(family, table))
            .is_some_and(|(t, after)| t == text && *after == have)
    }

    fn converge_family(
        &mut self,
        family: Family,
        filter: Option<&FamilyRules>,
        nat: Option<&FamilyRules>,
        iface: &str,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let filter = filter.map(|r| with_dns_port(&r.restore, self.settings.dns_port));
        if let Err(e) = self.converge_table(family, Table::Filter, filter.as_deref(), iface) {
            errors.push(format!("{family} firewall: {e}"));
        }
        if let Err(e) =
            self.converge_table(family, Table::Nat, nat.map(|r| r.restore.as_str()), iface)
        {
            let hint = if family == Family::Ipv6 {
                " (does the kernel support IPv6 NAT?)"
            } else {
                ""
            };
            errors.push(format!("{family} NAT{hint}: {e}"));
        }
        errors
    }
}

/// The entries of `chains` for the chains `want` declares.
fn only(chains: &Chains, want: &Chains) -> Chains {
    chains
        .iter()
        .filter(|(name, _)| want.contains_key(*name))
        .map(|(n, r)| (n.clone(), r.clone()))
        .collect()
}

fn iptables(family: Family, table: Table, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-w", "-t", table.name()];
    all.extend_from_slice(args);
    host::run(family.tool(), &all).map_err(|e| e.to_string())
}

fn jump_args<'a>(op: &'a str, jump: &'a Jump) -> Vec<&'a str> {
    let mut args = vec![op, jump.from.as_str()];
    args.extend(jump.args.iter().map(String::as_str));
    args
}

/// Inserts `jump` at the top of its chain unless `-C` finds it already there.
fn insert_jump(family: Family, table: Table, jump: &Jump) -> Result<(), String> {
    if iptables(family, table, &jump_args("-C", jump)).is_ok() {
        return Ok(());
    }
    iptables(family, table, &jump_args("-I", jump)).map(drop)
}

fn delete_jump(family: Family, table: Table, jump: &Jump) -> Result<(), String> {
    iptables(family, table, &jump_args("-D", jump)).map(drop)
}

/// Deletes the jumps into `chain` among `jumps`, then flushes and deletes the chain.
fn remove_chain(family: Family, table: Table, chain: &str, jumps: &[Jump]) -> Result<(), String> {
    for jump in jumps.iter().filter(|j| j.target() == Some(chain)) {
        delete_jump(family, table, jump)?;
    }
    iptables(family, table, &["-F", chain])?;
    iptables(family, table, &["-X", chain]).map(drop)
}

/// Removes every jump and chain of ours from one table: jumps first, since a chain that is
/// still jumped to cannot be deleted.
fn remove_table(family: Family, table: Table, observed: &Observed) -> Result<(), String> {
    for jump in &observed.jumps {
        delete_jump(family, table, jump)?;
    }
    for chain in table.own_chains() {
        if observed.chains.contains_key(*chain) {
            remove_chain(family, table, chain, &[])?;
        }
    }
    Ok(())
}

impl Module for Firewall {
    fn name(&self) -> &'static str {
        "firewall"
    }

    fn converge(&mut self, desired: &AgentConfig) -> Result<(), String> {
        let iface = self.settings.interface_for(desired).to_string();
        let fw = desired.firewall.as_ref();
        let nat = desired.nat.as_ref();
        let mut errors = Vec::new();
        for family in Family::ALL {
            let (filter, nat) = match family {
                Family::Ipv4 => (
                    fw.and_then(|f| f.ipv4.as_ref()),
                    nat.and_then(|n| n.ipv4.as_ref()),
                ),
                Family::Ipv6 => (
                    fw.and_then(|f| f.ipv6.as_ref()),
                    nat.and_then(|n| n.ipv6.as_ref()),
                ),
            };
            errors.extend(self.converge_family(family, filter, nat, &iface));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn remove(&mut self) -> Result<(), String> {
        let mut errors = Vec::new();
        for family in Family::ALL {
            // NAT first: nothing depends on it, and the filter chains go last.
            for table in [Table::Nat, Table::Filter] {
                if let Err(e) = self.converge_table(family, table, None, "") {
                    errors.push(format!("{family} {table}: {e}"));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s)
    }

    #[test]
    fn quoted_comments_are_one_word_and_escapes_are_kept_literal() {
        assert_eq!(
            words(r#"-A X -m comment --comment "a \"b\" c" -j DROP"#),
            vec![
                "-A",
                "X",
                "-m",
                "comment",
                "--comment",
                r#"a "b" c"#,
                "-j",
                "DROP"
            ]
        );
        assert_eq!(words("  -j   ACCEPT "), vec!["-j", "ACCEPT"]);
        assert_eq!(words(r#"--comment """#), vec!["--comment", ""]);
    }

    #[test]
    fn the_dns_rules_follow_the_agents_dns_port_and_nothing_else_changes() {
        let text = "*filter\n:RAFTWIRE_INPUT - [0:0]\n\
            -A RAFTWIRE_INPUT -s 10.0.0.0/24 -p udp -m udp --dport 53 -j ACCEPT\n\
            -A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.3/32 -p tcp --dport 53 -j ACCEPT\nCOMMIT\n";
        assert_eq!(with_dns_port(text, 53), text);
        let moved = with_dns_port(text, 5353);
        assert!(moved
            .contains("-A RAFTWIRE_INPUT -s 10.0.0.0/24 -p udp -m udp --dport 5353 -j ACCEPT\n"));
        assert!(
            moved.contains("-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.3/32 -p tcp --dport 53 -j")
        );
        assert!(moved.ends_with("COMMIT\n"));
    }

    #[test]
    fn a_rendered_rule_and_its_saved_form_normalise_alike() {
        let pairs = [
            (
                "-A RAFTWIRE_JUMP -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-A RAFTWIRE_JUMP -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            ),
            (
                "-A RAFTWIRE_JUMP -s 10.0.0.3/32 -d 0.0.0.0/0 -j DROP",
                "-A RAFTWIRE_JUMP -s 10.0.0.3/32 -j DROP",
            ),
            (
                "-A RAFTWIRE_JUMP -s fd00::3/128 -d ::/0 -j DROP",
                "-A RAFTWIRE_JUMP -s fd00::3/128 -j DROP",
            ),
            (
                r#"-A RAFTWIRE_JUMP -s 10.0.0.5/24 -m comment --comment "x" -j DROP"#,
                "-A RAFTWIRE_JUMP -s 10.0.0.0/24 -m comment --comment x -j DROP",
            ),
        ];
        for (rendered, saved) in pairs {
            let r = parse_restore(&format!("*filter\n{rendered}\nCOMMIT\n"), Table::Filter);
            let s = parse_save(&format!("*filter\n{saved}\nCOMMIT\n"), Table::Filter);
            assert_eq!(r, s.chains, "{rendered} vs {saved}");
        }
    }

    #[test]
    fn saving_keeps_only_our_chains_and_the_jumps_into_them() {
        let save = "# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FOREIGN - [0:0]
:RAFTWIRE_JUMP - [0:0]
-A INPUT -i wg0 -j RAFTWIRE_INPUT
-A FORWARD -i wg0 -j RAFTWIRE_JUMP
-A FORWARD -j FOREIGN
-A FOREIGN -j RAFTWIRE_JUMP
-A FOREIGN -j ACCEPT
-A RAFTWIRE_JUMP -j DROP
COMMIT
";
        let o = parse_save(save, Table::Filter);
        assert_eq!(
            o.chains,
            Chains::from([("RAFTWIRE_JUMP".into(), vec![words("-j DROP")])])
        );
        // The jump from the foreign chain is not ours to manage.
        assert_eq!(
            o.jumps,
            vec![
                Jump {
                    from: "INPUT".into(),
                    args: words("-i wg0 -j RAFTWIRE_INPUT")
                },
                Jump {
                    from: "FORWARD".into(),
                    args: words("-i wg0 -j RAFTWIRE_JUMP")
                },
            ]
        );
    }

    #[test]
    fn a_declared_empty_chain_is_part_of_the_desired_state() {
        let c = parse_restore(
            "*filter\n:RAFTWIRE_JUMP - [0:0]\n:RAFTWIRE_INPUT - [0:0]\n-A RAFTWIRE_JUMP -j DROP\nCOMMIT\n",
            Table::Filter,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c["RAFTWIRE_INPUT"], Vec::<Vec<String>>::new());
    }
}
