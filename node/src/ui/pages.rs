//! The UI's pages as HTML (maud). They only lay out what the API answered: every value
//! shown comes from an API answer, every form posts to a UI route that sends it to the API.
//!
//! Readable without JavaScript: lists are tables, the stack-mode selector shows both CIDR
//! fields when script is off (the API says which one the mode does not take), and a
//! removal asks for a ticked box. With script, the selector hides and disables the field
//! the mode does not need, and removals ask once more.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;

use super::{Fields, NetworkForm, NetworkPage, NodeRow, PeerPage, Problem, RuleForm};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A value or a dash.
fn or_dash(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) if !x.is_empty() => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => "–".into(),
    }
}

fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Raftwire" }
                link rel="stylesheet" href="/ui/style.css";
                script src="/ui/app.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "Raftwire" }
                    @if let Some(csrf) = csrf {
                        nav {
                            a href="/" { "Dashboard" }
                            a href="/ui/networks" { "Networks" }
                            a href="/ui/cluster" { "Cluster" }
                            form.inline method="post" action="/ui/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// An API refusal shown above a form (its field's own message is shown next to the field).
fn problem_box(p: Option<&Problem>) -> Markup {
    html! {
        @if let Some(p) = p {
            div.error role="alert" id="problem" {
                strong { (p.code) } ": " (p.detail)
                @if !p.items.is_empty() { " (" (p.items.join(", ")) ")" }
            }
        }
    }
}

fn field_error(p: Option<&Problem>, field: &str) -> Markup {
    html! {
        @if let Some(msg) = p.and_then(|p| p.on(field)) {
            span.field-error id={ "error-" (field) } role="alert" { (msg) }
        }
    }
}

/// `IPv4`, `IPv6` or `both`, as a badge.
fn badge(version: &str) -> Markup {
    let (class, text) = match version {
        "ipv4" => ("badge v4", "IPv4"),
        "ipv6" => ("badge v6", "IPv6"),
        "both" => ("badge both", "IPv4/IPv6"),
        _ => ("badge", "–"),
    };
    html! { span class=(class) data-version=(version) { (text) } }
}

pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        None,
        html! { p { (text) } p { a href="/" { "Back to the dashboard" } } },
    )
}

pub fn sign_in(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(e) = error { div.error role="alert" { (e) } }
            form method="post" action="/ui/sign-in" {
                label for="token" { "Admin token" }
                input id="token" name="token" type="password" autocomplete="current-password" required;
                p.hint { "The node printed one at its first start (also kept in its data directory as admin-token)." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

fn agent_cell(p: &Value) -> Markup {
    let is_static =
        !p["is_jump"].as_bool().unwrap_or(false) && !p["use_agent"].as_bool().unwrap_or(false);
    html! {
        @if is_static {
            span.muted { "static" }
        } @else {
            @match p["agent"].get("connected").and_then(Value::as_bool) {
                Some(true) => span.ok { "online (node " (or_dash(&p["agent"], "node_id")) ")" },
                Some(false) => span.bad { "offline" },
                None => span.muted { "unknown" },
            }
        }
    }
}

pub fn dashboard(
    csrf: &str,
    status: &Value,
    nodes: &[NodeRow],
    nets: &[Value],
    peers: &[(Value, Value)],
) -> Markup {
    let agents: Vec<&Value> = peers
        .iter()
        .map(|(_, p)| p)
        .filter(|p| {
            p["is_jump"].as_bool().unwrap_or(false) || p["use_agent"].as_bool().unwrap_or(false)
        })
        .collect();
    let online = agents
        .iter()
        .filter(|p| p["agent"]["connected"].as_bool() == Some(true))
        .count();
    let errors: Vec<(&Value, &Value, &Value)> = peers
        .iter()
        .flat_map(|(n, p)| {
            p["agent"]["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |e| (n, p, e))
        })
        .collect();
    layout(
        "Dashboard",
        Some(csrf),
        html! {
            section data-refresh="30" {
                h2 { "Cluster" }
                p {
                    "You are on node " strong #this-node { (or_dash(status, "node_id")) }
                    ". Leader: " strong { (or_dash(status, "leader_id")) }
                    ", term " (or_dash(status, "term")) "."
                }
                (nodes_table(nodes, None))
            }
            section.cards {
                div.card { h3 { "Networks" } p.big { (nets.len()) } }
                div.card { h3 { "Peers" } p.big { (peers.len()) } }
                div.card { h3 { "Agents online" } p.big #agents-online { (online) " / " (agents.len()) } }
            }
            section {
                h2 { "Networks" }
                (network_list(nets))
            }
            section {
                h2 { "Recent agent errors" }
                @if errors.is_empty() {
                    p.muted { "No agent reports an error." }
                } @else {
                    div.scroll { table {
                        thead { tr { th { "Network" } th { "Peer" } th { "Module" } th { "Error" } } }
                        tbody { @for (n, p, e) in &errors { tr {
                            td { (s(n, "name")) }
                            td { a href={ "/ui/networks/" (s(n, "id")) "/peers/" (s(p, "id")) } { (s(p, "name")) } }
                            td { (s(e, "module")) }
                            td { (s(e, "message")) }
                        } } }
                    } }
                }
            }
        },
    )
}

/// Members with role and each node's own commit and applied index; the lag is how far its
/// applied index is behind the leader's commit index.
fn nodes_table(nodes: &[NodeRow], csrf: Option<&str>) -> Markup {
    let leader_commit = nodes
        .iter()
        .find(|n| n.leader)
        .and_then(|n| n.status)
        .map(|(_, c, _)| c);
    html! {
        div.scroll { table #members {
            thead { tr {
                th { "Node" } th { "Address" } th { "Role" } th { "Term" } th { "Commit" } th { "Applied" } th { "Lag" }
                @if csrf.is_some() { th { "Actions" } }
            } }
            tbody { @for n in nodes { tr data-node=(n.id) {
                td { (n.id) @if n.this { " " span.badge { "you are here" } } }
                td { code { (n.addr) } }
                td { @if n.leader { "leader" } @else if n.voter { "follower" } @else { "learner" } }
                @match n.status {
                    Some((term, commit, applied)) => {
                        td { (term) } td { (commit) } td { (applied) }
                        td { @match leader_commit { Some(c) => (c.saturating_sub(applied)), None => "–" } }
                    }
                    None => { td colspan="4" { span.bad { "unreachable" } } }
                }
                @if let Some(csrf) = csrf { td.actions {
                    @if !n.voter {
                        form.inline method="post" action={ "/ui/cluster/members/" (n.id) "/promote" } {
                            (csrf_field(csrf))
                            button type="submit" data-confirm={ "Promote node " (n.id) " to a voter?" } { "Promote" }
                        }
                    }
                    form.inline method="post" action={ "/ui/cluster/members/" (n.id) "/remove" } {
                        (csrf_field(csrf))
                        label { input type="checkbox" name="confirm" value="yes"; " confirm" }
                        button.danger type="submit" data-confirm={ "Remove node " (n.id) " from the cluster?" } { "Remove" }
                    }
                } }
            } } }
        } }
    }
}

pub fn cluster(csrf: &str, status: &Value, nodes: &[NodeRow], problem: Option<&Problem>) -> Markup {
    layout(
        "Cluster",
        Some(csrf),
        html! {
            (problem_box(problem))
            p { "Served by node " (or_dash(status, "node_id")) "; leader " (or_dash(status, "leader_id")) ", term " (or_dash(status, "term")) "." }
            (nodes_table(nodes, Some(csrf)))
            h2 { "Add a learner" }
            form method="post" action="/ui/cluster/members" {
                (csrf_field(csrf))
                div.field {
                    label for="member-id" { "Node id" }
                    input #member-id name="id" inputmode="numeric" required;
                    (field_error(problem, "id"))
                }
                div.field {
                    label for="member-addr" { "Address" }
                    input #member-addr name="addr" placeholder="http://10.0.0.2:7400" required;
                    (field_error(problem, "addr"))
                }
                button type="submit" { "Add learner" }
            }
        },
    )
}

fn network_list(nets: &[Value]) -> Markup {
    html! {
        @if nets.is_empty() {
            p.muted { "No network yet. " a href="/ui/networks/new" { "Create one" } "." }
        } @else {
            div.scroll { table #networks {
                thead { tr { th { "Name" } th { "Mode" } th { "IPv4 CIDR" } th { "IPv6 CIDR" } th { "Domain" } } }
                tbody { @for n in nets { tr {
                    td { a href={ "/ui/networks/" (s(n, "id")) } { (s(n, "name")) } }
                    td { (s(n, "ip_stack_mode")) }
                    td { (or_dash(n, "ipv4_cidr")) }
                    td { (or_dash(n, "ipv6_cidr")) }
                    td { (s(n, "domain")) }
                } } }
            } }
        }
    }
}

fn usage(ipam: &Value, family: &str) -> Markup {
    let u = &ipam[family];
    html! {
        @if u.is_null() { "–" } @else {
            (s(u, "allocated")) " of " (s(u, "capacity")) " used"
        }
    }
}

pub fn networks(csrf: &str, rows: &[(Value, Value)]) -> Markup {
    layout(
        "Networks",
        Some(csrf),
        html! {
            p { a.button href="/ui/networks/new" { "New network" } }
            div.scroll { table #networks {
                thead { tr {
                    th { "Name" } th { "Mode" } th { "IPv4 CIDR" } th { "IPv4 usage" } th { "IPv6 CIDR" } th { "IPv6 usage" }
                } }
                tbody { @for (n, ipam) in rows { tr {
                    td { a href={ "/ui/networks/" (s(n, "id")) } { (s(n, "name")) } }
                    td { (s(n, "ip_stack_mode")) }
                    td { (or_dash(n, "ipv4_cidr")) }
                    td { (usage(ipam, "ipv4")) }
                    td { (or_dash(n, "ipv6_cidr")) }
                    td { (usage(ipam, "ipv6")) }
                } } }
            } }
        },
    )
}

/// Create (no `network`) or edit a network.
pub fn network_form(
    csrf: &str,
    network: Option<&Value>,
    f: &NetworkForm,
    problem: Option<&Problem>,
) -> Markup {
    let (title, action) = match network {
        None => ("New network".to_string(), "/ui/networks/new".to_string()),
        Some(n) => (
            format!("Edit network {}", s(n, "name")),
            format!("/ui/networks/{}/edit", s(n, "id")),
        ),
    };
    let shown = |field: &str| problem.is_some_and(|p| p.field.as_deref() == Some(field));
    html! {
        (layout(&title, Some(csrf), html! {
            @if problem.is_some() && !["name", "ip_stack_mode", "ipv4_cidr", "ipv6_cidr", "domain"].iter().any(|k| shown(k)) {
                (problem_box(problem))
            }
            form #network-form method="post" action=(action) {
                (csrf_field(csrf))
                div.field {
                    label for="name" { "Name" }
                    input #name name="name" value=(f.name) required;
                    (field_error(problem, "name"))
                }
                div.field {
                    label for="ip_stack_mode" { "Stack mode" }
                    select #ip_stack_mode name="ip_stack_mode" data-stack-mode {
                        @for (v, text) in [("ipv4", "IPv4 only"), ("ipv6", "IPv6 only"), ("dual", "Dual stack")] {
                            option value=(v) selected[f.mode == v] { (text) }
                        }
                    }
                    (field_error(problem, "ip_stack_mode"))
                }
                div.field.cidr-ipv4 {
                    label for="ipv4_cidr" { "IPv4 CIDR" }
                    input #ipv4_cidr name="ipv4_cidr" value=(f.ipv4_cidr) placeholder="10.20.0.0/24";
                    (field_error(problem, "ipv4_cidr"))
                }
                div.field.cidr-ipv6 {
                    label for="ipv6_cidr" { "IPv6 CIDR" }
                    input #ipv6_cidr name="ipv6_cidr" value=(f.ipv6_cidr) placeholder="fd12:3456:789a:1::/64";
                    (field_error(problem, "ipv6_cidr"))
                }
                div.field {
                    label for="domain" { "DNS domain (optional)" }
                    input #domain name="domain" value=(f.domain);
                    (field_error(problem, "domain"))
                }
                div.buttons {
                    button #suggest type="submit" name="action" value="suggest" formnovalidate { "Suggest CIDRs" }
                    button #save type="submit" name="action" value="save" {
                        @if network.is_some() { "Save" } @else { "Create" }
                    }
                }
                p.hint { "A mode or CIDR change is shown as a plan before anything changes." }
            }
        }))
    }
}

fn change_text(c: &Value) -> Markup {
    html! {
        @match s(c, "change") {
            "added" => span.added { "+ " (s(c, "address")) },
            "released" => span.released { "− " (s(c, "address")) },
            "renumbered" => span.renumbered { (s(c, "from")) " → " (s(c, "to")) },
            _ => "–",
        }
    }
}

fn names(list: &Value) -> String {
    let v: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| s(p, "name"))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A network change's plan, with the form that applies it.
pub fn plan(csrf: &str, network: &Value, f: &NetworkForm, plan: &Value) -> Markup {
    let nid = s(network, "id");
    layout(
        &format!("Plan: change network {}", s(network, "name")),
        Some(csrf),
        html! {
            p { "Nothing has changed yet. This is what the change does (computed by the state machine on a copy of the cluster's state):" }
            p { "Mode " strong { (s(network, "ip_stack_mode")) } " → " strong #plan-mode { (s(&plan["result"], "ip_stack_mode")) } }
            @for np in plan["networks"].as_array().into_iter().flatten() {
                div.scroll { table #plan {
                    thead { tr { th { "Peer" } th { "Kind" } th { "IPv4" } th { "IPv6" } } }
                    tbody {
                        @for c in np["addresses"].as_array().into_iter().flatten() { tr {
                            td { (s(c, "name")) }
                            td { @if c["static"].as_bool() == Some(true) { "static" } @else { "agent" } }
                            td { @if c["ipv4"].is_null() { "–" } @else { (change_text(&c["ipv4"])) } }
                            td { @if c["ipv6"].is_null() { "–" } @else { (change_text(&c["ipv6"])) } }
                        } }
                        @if np["addresses"].as_array().is_none_or(|a| a.is_empty()) {
                            tr { td colspan="4" { "No peer's address changes." } }
                        }
                    }
                } }
                p #static-affected { "Static peers that need their config downloaded again: " strong { (names(&np["static_peers_affected"])) } }
                p #agents-updated { "Agents that will be sent a new config: " strong { (names(&np["agents_updated"])) } }
            }
            form method="post" action={ "/ui/networks/" (nid) "/edit" } {
                (csrf_field(csrf))
                input type="hidden" name="name" value=(f.name);
                input type="hidden" name="ip_stack_mode" value=(f.mode);
                input type="hidden" name="ipv4_cidr" value=(f.ipv4_cidr);
                input type="hidden" name="ipv6_cidr" value=(f.ipv6_cidr);
                input type="hidden" name="domain" value=(f.domain);
                input type="hidden" name="confirm_version" value=(or_dash(network, "version"));
                div.buttons {
                    a.button href={ "/ui/networks/" (nid) "/edit" } { "Cancel" }
                    button #confirm.danger type="submit" { "Apply this change" }
                }
            }
        },
    )
}

/// The form that adds a rule to policy `pol`; `failed` is what was typed and why the API
/// refused it.
fn rule_form(
    csrf: &str,
    page: &NetworkPage,
    pol: &Value,
    failed: Option<(&Fields, Option<&Problem>)>,
) -> Markup {
    let (typed, problem) = match failed {
        Some((f, p)) => (Some(f), p),
        None => (None, None),
    };
    let value = |k: &str| typed.and_then(|f| f.get(k)).unwrap_or("").to_string();
    let id = |field: &str| format!("rule-{}-{field}", s(pol, "name"));
    let choice = |name: &str, options: &[(&str, &str)]| {
        let current = value(name);
        html! {
            div.field {
                label for=(id(name)) { (name.replace('_', " ")) }
                select id=(id(name)) name=(name) {
                    @for (v, text) in options { option value=(v) selected[current == *v] { (text) } }
                }
                (field_error(problem, name))
            }
        }
    };
    let objects = |list: &[Value]| -> Vec<(String, String)> {
        list.iter()
            .map(|o| (s(o, "id").to_string(), s(o, "name").to_string()))
            .collect()
    };
    html! {
        details open[problem.is_some()] {
            summary { "Add a rule to " (s(pol, "name")) }
            @if problem.is_some() { (problem_box(problem)) }
            form.rule-form method="post" action={ "/ui/networks/" (s(&page.network, "id")) "/policies/" (s(pol, "id")) "/rules" } {
                (csrf_field(csrf))
                (choice("direction", &[("output", "output"), ("input", "input")]))
                (choice("action", &[("allow", "allow"), ("deny", "deny")]))
                (choice("target_type", &[("cidr", "CIDR"), ("peer", "peer"), ("group", "group"), ("any", "any")]))
                div.field {
                    label for=(id("target")) { "CIDR (target type CIDR)" }
                    input id=(id("target")) name="target" value=(value("target")) placeholder="fd00:99::/64";
                    (field_error(problem, "target"))
                }
                div.field {
                    label for=(id("target_peer")) { "Peer (target type peer)" }
                    select id=(id("target_peer")) name="target_peer" {
                        @for (v, text) in objects(&page.peers) { option value=(v) { (text) } }
                    }
                }
                div.field {
                    label for=(id("target_group")) { "Group (target type group)" }
                    select id=(id("target_group")) name="target_group" {
                        @for (v, text) in objects(&page.groups) { option value=(v) { (text) } }
                    }
                }
                button type="submit" { "Add rule" }
            }
        }
    }
}

/// The name of the object `id` in `list`, or the id itself.
fn name_in(list: &[Value], id: &str) -> String {
    list.iter()
        .find(|o| s(o, "id") == id)
        .map(|o| s(o, "name").to_string())
        .unwrap_or_else(|| id.to_string())
}

fn peer_kind(p: &Value) -> &'static str {
    if p["is_jump"].as_bool().unwrap_or(false) {
        "jump"
    } else if p["use_agent"].as_bool().unwrap_or(false) {
        "agent"
    } else {
        "static"
    }
}

pub fn network(
    csrf: &str,
    page: &NetworkPage,
    problem: Option<&Problem>,
    typed: &Fields,
    rule: Option<&RuleForm>,
) -> Markup {
    let n = &page.network;
    let nid = s(n, "id");
    let group_name = |id: &str| name_in(&page.groups, id);
    let peer_name = |id: &str| name_in(&page.peers, id);
    layout(
        &format!("Network {}", s(n, "name")),
        Some(csrf),
        html! {
            dl.facts {
                dt { "Mode" } dd #mode { (s(n, "ip_stack_mode")) }
                dt { "IPv4 CIDR" } dd { (or_dash(n, "ipv4_cidr")) " " span.muted { (usage(&page.ipam, "ipv4")) } }
                dt { "IPv6 CIDR" } dd { (or_dash(n, "ipv6_cidr")) " " span.muted { (usage(&page.ipam, "ipv6")) } }
                dt { "Domain" } dd { (s(n, "domain")) }
                dt { "Version" } dd { (or_dash(n, "version")) }
            }
            p { a.button #edit href={ "/ui/networks/" (nid) "/edit" } { "Edit / change mode" } }
            h2 { "Peers" }
            div.scroll { table #peers {
                thead { tr { th { "Name" } th { "IPv4" } th { "IPv6" } th { "Role" } th { "Managed" } th { "Agent" } th { "Applied version" } } }
                tbody { @for p in &page.peers { tr data-peer=(s(p, "name")) {
                    td { a href={ "/ui/networks/" (nid) "/peers/" (s(p, "id")) } { (s(p, "name")) } }
                    td.ipv4 { (or_dash(p, "ipv4_address")) }
                    td.ipv6 { (or_dash(p, "ipv6_address")) }
                    td { @if p["is_jump"].as_bool().unwrap_or(false) { "jump" } @else { "regular" } }
                    td { @if peer_kind(p) == "static" { "static" } @else { "agent" } }
                    td { (agent_cell(p)) }
                    td { (or_dash(&p["agent"], "applied_version")) }
                } } }
            } }
            h3 { "Add a peer" }
            @if rule.is_none() { (problem_box(problem)) }
            form #peer-form method="post" action={ "/ui/networks/" (nid) "/peers" } {
                (csrf_field(csrf))
                div.field {
                    label for="peer-name" { "Name" }
                    input #peer-name name="name" value=(typed.get("name").unwrap_or("")) required;
                    @if rule.is_none() { (field_error(problem, "name")) }
                }
                div.field {
                    label for="peer-kind" { "Kind" }
                    select #peer-kind name="kind" {
                        @for (v, text) in [("agent", "Agent (managed host)"), ("jump", "Jump (agent, relays)"), ("static", "Static (config by hand)")] {
                            option value=(v) selected[typed.get("kind") == Some(v)] { (text) }
                        }
                    }
                }
                div.field {
                    label for="peer-key" { "Public key (static peers; empty: the server makes a key pair)" }
                    input #peer-key name="public_key" value=(typed.get("public_key").unwrap_or(""));
                    (field_error(problem, "public_key"))
                }
                div.field {
                    label for="peer-endpoint" { "Endpoint (jumps, host:port)" }
                    input #peer-endpoint name="endpoint" value=(typed.get("endpoint").unwrap_or(""));
                    (field_error(problem, "endpoint"))
                }
                button #add-peer type="submit" { "Add peer" }
            }
            h2 { "Groups" }
            div.scroll { table #groups {
                thead { tr { th { "Name" } th { "Priority" } th { "Members" } th { "Policies" } } }
                tbody { @for g in &page.groups { tr {
                    td { (s(g, "name")) }
                    td { (or_dash(g, "priority")) }
                    td { (page.peers.iter().filter(|p| p["group_ids"].as_array().is_some_and(|ids| ids.iter().any(|i| i.as_str() == Some(s(g, "id"))))).count()) }
                    td { (g["policy_ids"].as_array().into_iter().flatten().filter_map(Value::as_str).map(|id| name_in(&page.policies, id)).collect::<Vec<_>>().join(", ")) }
                } } }
            } }
            h2 { "Policies" }
            @for pol in &page.policies {
                h3 { (s(pol, "name")) }
                div.scroll { table.rules data-policy=(s(pol, "name")) {
                    thead { tr { th { "Direction" } th { "Action" } th { "Target" } th { "IP version" } th { "Description" } } }
                    tbody { @for r in pol["rules"].as_array().into_iter().flatten() { tr data-rule=(s(r, "id")) {
                        td { (s(r, "direction")) }
                        td { (s(r, "action")) }
                        td { (s(r, "target_type")) " "
                            @match s(r, "target_type") {
                                "group" => (group_name(s(r, "target"))),
                                "peer" => (peer_name(s(r, "target"))),
                                _ => (or_dash(r, "target")),
                            }
                        }
                        td { (badge(s(r, "ip_version")))
                            @if r["active"].as_bool() == Some(false) { " " span.muted { "(inactive: family absent)" } }
                        }
                        td { (s(r, "description")) }
                    } } }
                } }
                (rule_form(csrf, page, pol, rule.filter(|r| r.policy == s(pol, "id")).map(|r| (&r.fields, problem))))
            }
            h2 { "Routes" }
            @if page.routes.is_empty() { p.muted { "No routes." } } @else {
                div.scroll { table #routes {
                    thead { tr { th { "Name" } th { "Destination" } th { "Family" } th { "Via jump" } } }
                    tbody { @for r in &page.routes { tr {
                        td { (s(r, "name")) }
                        td { (s(r, "destination_cidr")) }
                        td { (badge(s(r, "ip_version"))) }
                        td { (peer_name(s(r, "jump_peer_id"))) }
                    } } }
                } }
            }
            h2 { "DNS records" }
            @if page.records.is_empty() { p.muted { "No records." } } @else {
                div.scroll { table #records {
                    thead { tr { th { "Name" } th { "Type" } th { "Value" } } }
                    tbody { @for r in &page.records { tr {
                        td { (s(r, "fqdn")) }
                        td { (s(r, "type")) }
                        td { code { (or_dash(r, "value")) } }
                    } } }
                } }
            }
        },
    )
}

fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

fn rule_sets(fw: &Value, family: &str) -> Markup {
    let set = &fw[family];
    html! {
        h3 { (badge(family)) " rules" }
        @if set.is_null() { p.muted { "The network has no " (family) "." } } @else {
            pre.rules { (serde_json::to_string_pretty(set).unwrap_or_default()) }
        }
    }
}

pub fn peer(csrf: &str, page: &PeerPage, token: Option<&str>) -> Markup {
    let (n, p) = (&page.network, &page.peer);
    let (nid, pid) = (s(n, "id"), s(p, "id"));
    let kind = peer_kind(p);
    layout(
        &format!("Peer {}", s(p, "name")),
        Some(csrf),
        html! {
            @if let Some(t) = token {
                div.notice role="status" {
                    p { "The agent token of this peer, shown only now (it is not stored; rotate it if lost):" }
                    code #agent-token { (t) }
                }
            }
            p { a href={ "/ui/networks/" (nid) } { "← network " (s(n, "name")) } }
            dl.facts {
                dt { "IPv4 address" } dd #peer-ipv4 { (or_dash(p, "ipv4_address")) }
                dt { "IPv6 address" } dd #peer-ipv6 { (or_dash(p, "ipv6_address")) }
                dt { "Kind" } dd { (kind) }
                dt { "Public key" } dd { code { (or_dash(p, "public_key")) } }
                dt { "Endpoint" } dd { (or_dash(p, "endpoint")) }
                dt { "Agent" } dd { (agent_cell(p)) }
                dt { "Applied version" } dd { (or_dash(&p["agent"], "applied_version")) }
            }
            p { a.button #download href={ "/ui/networks/" (nid) "/peers/" (pid) "/config" } download { "Download .conf" } }
            @if let Some(svg) = page.config.as_deref().and_then(qr_svg) {
                figure.qr {
                    (PreEscaped(svg))
                    figcaption { "Scan with the WireGuard app on a phone." }
                }
            }
            @if kind != "static" {
                form method="post" action={ "/ui/networks/" (nid) "/peers/" (pid) "/token" } {
                    (csrf_field(csrf))
                    button type="submit" data-confirm="Rotate the agent token? The agent must be given the new one." { "Rotate agent token" }
                }
            }
            @if let Some(fw) = &page.firewall {
                h2 { "Firewall of this jump" }
                (rule_sets(fw, "ipv4"))
                (rule_sets(fw, "ipv6"))
            }
        },
    )
}
