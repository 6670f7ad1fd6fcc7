//! Bad input: every validation error of the request bodies, with its stable code and the
//! JSON path of the offending field (docs/properties.md: R1, R2, R7, R8, R13, R14).
//!
//! Bodies are written as JSON literals and deserialized exactly as the HTTP layer does, so
//! these tests also pin the wire names of the fields and `deny_unknown_fields`.

use std::collections::HashSet;
use std::fmt::Debug;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use raftwire_api::endpoint::{Endpoint, EndpointHost};
use raftwire_api::ipam::IpamError;
use raftwire_api::requests::*;
use raftwire_api::testkit::test_key;
use raftwire_api::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

fn body<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value::<T>(v.clone()).unwrap_or_else(|e| panic!("{v} should deserialize: {e}"))
}

fn network(v: Value) -> DomainResult<NetworkSpec> {
    body::<CreateNetwork>(v).validate()
}

fn network_patch(v: Value) -> DomainResult<NetworkPatch> {
    body::<UpdateNetwork>(v).validate()
}

fn peer(v: Value) -> DomainResult<PeerSpec> {
    body::<CreatePeer>(v).validate()
}

fn peer_patch(v: Value) -> DomainResult<PeerPatch> {
    body::<UpdatePeer>(v).validate()
}

fn rule(v: Value) -> DomainResult<RuleSpec> {
    body::<CreateRule>(v).validate()
}

fn route(v: Value) -> DomainResult<RouteSpec> {
    body::<CreateRoute>(v).validate()
}

fn mapping(v: Value) -> DomainResult<DnsMappingSpec> {
    body::<CreateDnsMapping>(v).validate()
}

/// Asserts that `result` failed with `code` on `field`, and returns the error.
#[track_caller]
fn assert_err<T: Debug>(result: DomainResult<T>, code: ErrorCode, field: &str) -> DomainError {
    match result {
        Ok(v) => panic!("expected {code} on '{field}', got Ok({v:?})"),
        Err(e) => {
            assert_eq!(
                (e.code, e.field.as_deref()),
                (code, Some(field)),
                "unexpected error: {e:?}"
            );
            assert!(!e.detail.is_empty(), "error without a detail: {e:?}");
            e
        }
    }
}

#[track_caller]
fn assert_ok<T: Debug>(result: DomainResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("expected Ok, got {e:?}"))
}

fn v4net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn v6net(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const UUID: &str = "7f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b";

fn stored_network(mode: IpStackMode, v4: Option<&str>, v6: Option<&str>) -> Network {
    Network {
        id: NetworkId::from_u128(1),
        name: "corp".into(),
        ip_stack_mode: mode,
        ipv4_cidr: v4.map(v4net),
        ipv6_cidr: v6.map(v6net),
        domain: "corp.internal".into(),
        dns_servers: vec![],
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        version: 1,
    }
}

// ---------------------------------------------------------------- networks: names and modes

#[test]
fn create_network_without_name_is_missing_field_name() {
    assert_err(
        network(json!({"ipv4_cidr": "10.0.0.0/24"})),
        ErrorCode::MissingField,
        "name",
    );
    assert_err(
        network(json!({"name": null, "ipv4_cidr": "10.0.0.0/24"})),
        ErrorCode::MissingField,
        "name",
    );
}

#[test]
fn create_network_with_a_name_that_is_not_a_dns_name_is_invalid_name() {
    let too_long_label = "x".repeat(64);
    for bad in [
        "",
        "Corp",
        "corp_net",
        "-corp",
        "corp-",
        "corp..internal",
        "corp net",
        "ü",
        too_long_label.as_str(),
    ] {
        let e = assert_err(
            network(json!({"name": bad, "ipv4_cidr": "10.0.0.0/24"})),
            ErrorCode::InvalidName,
            "name",
        );
        assert_eq!(e.http_status(), 400);
    }
}

#[test]
fn create_network_accepts_dotted_names_and_drops_a_trailing_dot() {
    let spec = assert_ok(network(
        json!({"name": "corp.eu", "ipv4_cidr": "10.0.0.0/24"}),
    ));
    assert_eq!(spec.name, "corp.eu");
    assert_eq!(spec.domain, "corp.eu.internal");
    let spec = assert_ok(network(
        json!({"name": "corp.", "ipv4_cidr": "10.0.0.0/24"}),
    ));
    assert_eq!(spec.name, "corp");
    let label63 = "x".repeat(63);
    assert_ok(network(
        json!({"name": label63, "ipv4_cidr": "10.0.0.0/24"}),
    ));
}

#[test]
fn create_network_with_an_unknown_mode_is_invalid_value_on_ip_stack_mode() {
    for bad in ["ipv5", "IPv4", "Dual", "", "both", " ipv4"] {
        assert_err(
            network(json!({"name": "corp", "ip_stack_mode": bad, "ipv4_cidr": "10.0.0.0/24"})),
            ErrorCode::InvalidValue,
            "ip_stack_mode",
        );
    }
}

#[test]
fn create_network_defaults_to_ipv4_mode_and_name_dot_internal_domain() {
    let spec = assert_ok(network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24"})));
    assert_eq!(
        spec,
        NetworkSpec {
            name: "corp".into(),
            ip_stack_mode: IpStackMode::Ipv4,
            ipv4_cidr: Some(v4net("10.0.0.0/24")),
            ipv6_cidr: None,
            domain: "corp.internal".into(),
            dns_servers: vec![],
        }
    );
}

#[test]
fn create_network_keeps_an_explicit_domain_and_rejects_an_invalid_one() {
    let spec = assert_ok(network(
        json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24", "domain": "corp.example."}),
    ));
    assert_eq!(spec.domain, "corp.example");
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24", "domain": "Corp_Example"})),
        ErrorCode::InvalidName,
        "domain",
    );
}

#[test]
fn create_network_of_each_mode_carries_exactly_its_prefixes() {
    let spec = assert_ok(network(
        json!({"name": "v6", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd00:1::/64"}),
    ));
    assert_eq!(spec.ip_stack_mode, IpStackMode::Ipv6);
    assert_eq!(
        (spec.ipv4_cidr, spec.ipv6_cidr),
        (None, Some(v6net("fd00:1::/64")))
    );

    let spec = assert_ok(network(json!({
        "name": "ds", "ip_stack_mode": "dual",
        "ipv4_cidr": "10.8.0.0/16", "ipv6_cidr": "fd00:2::/48"
    })));
    assert_eq!(spec.ip_stack_mode, IpStackMode::Dual);
    assert_eq!(
        (spec.ipv4_cidr, spec.ipv6_cidr),
        (Some(v4net("10.8.0.0/16")), Some(v6net("fd00:2::/48")))
    );
}

// ---------------------------------------------------------------- networks: CIDRs per field

#[test]
fn ipv6_prefix_in_ipv4_cidr_is_wrong_family_on_ipv4_cidr() {
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "fd00::/64"})),
        ErrorCode::WrongFamily,
        "ipv4_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "dual",
                       "ipv4_cidr": "fd00::/64", "ipv6_cidr": "fd01::/64"})),
        ErrorCode::WrongFamily,
        "ipv4_cidr",
    );
}

#[test]
fn ipv4_prefix_in_ipv6_cidr_is_wrong_family_on_ipv6_cidr() {
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv6", "ipv6_cidr": "10.0.0.0/24"})),
        ErrorCode::WrongFamily,
        "ipv6_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "dual",
                       "ipv4_cidr": "10.0.0.0/24", "ipv6_cidr": "10.1.0.0/24"})),
        ErrorCode::WrongFamily,
        "ipv6_cidr",
    );
}

#[test]
fn prefix_of_the_wrong_family_with_host_bits_is_still_wrong_family() {
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "fd00::1/64"})),
        ErrorCode::WrongFamily,
        "ipv4_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv6", "ipv6_cidr": "10.0.0.1/24"})),
        ErrorCode::WrongFamily,
        "ipv6_cidr",
    );
}

#[test]
fn ipv6_prefix_in_legacy_cidr_is_wrong_family_on_cidr() {
    assert_err(
        network(json!({"name": "corp", "cidr": "fd00::/64"})),
        ErrorCode::WrongFamily,
        "cidr",
    );
}

#[test]
fn ipv4_network_prefix_length_must_be_between_8_and_30() {
    for ok in ["10.0.0.0/8", "10.0.0.0/30", "192.168.1.0/24"] {
        assert_ok(network(json!({"name": "corp", "ipv4_cidr": ok})));
    }
    for bad in ["0.0.0.0/0", "10.0.0.0/7", "10.0.0.0/31", "10.0.0.1/32"] {
        assert_err(
            network(json!({"name": "corp", "ipv4_cidr": bad})),
            ErrorCode::PrefixLength,
            "ipv4_cidr",
        );
    }
    assert_err(
        network(json!({"name": "corp", "cidr": "10.0.0.0/31"})),
        ErrorCode::PrefixLength,
        "cidr",
    );
}

#[test]
fn ipv6_network_prefix_length_must_be_between_32_and_126() {
    for ok in ["fd00::/32", "fd00::/126", "fd00::/64", "fd00::/48"] {
        assert_ok(network(
            json!({"name": "corp", "ip_stack_mode": "ipv6", "ipv6_cidr": ok}),
        ));
    }
    for bad in ["::/0", "fd00::/31", "fd00::/127", "fd00::1/128"] {
        assert_err(
            network(json!({"name": "corp", "ip_stack_mode": "ipv6", "ipv6_cidr": bad})),
            ErrorCode::PrefixLength,
            "ipv6_cidr",
        );
    }
}

#[test]
fn network_prefix_with_host_bits_is_host_bits_set() {
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "10.0.0.1/24"})),
        ErrorCode::HostBitsSet,
        "ipv4_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "cidr": "10.0.0.128/24"})),
        ErrorCode::HostBitsSet,
        "cidr",
    );
    let e = assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd00::1/64"})),
        ErrorCode::HostBitsSet,
        "ipv6_cidr",
    );
    assert!(
        e.detail.contains("fd00::/64"),
        "detail suggests the prefix: {}",
        e.detail
    );
}

#[test]
fn network_prefix_that_is_not_a_cidr_is_invalid_cidr() {
    for bad in [
        "10.0.0.0",
        "10.0.0.0/",
        "10.0.0.0/33",
        "banana",
        "",
        "10.0.0/24",
    ] {
        assert_err(
            network(json!({"name": "corp", "ipv4_cidr": bad})),
            ErrorCode::InvalidCidr,
            "ipv4_cidr",
        );
    }
    for bad in ["fd00::", "fd00::/129", "fd00:::/64"] {
        assert_err(
            network(json!({"name": "corp", "ip_stack_mode": "ipv6", "ipv6_cidr": bad})),
            ErrorCode::InvalidCidr,
            "ipv6_cidr",
        );
    }
}

#[test]
fn network_prefix_is_trimmed_of_surrounding_whitespace() {
    let spec = assert_ok(network(
        json!({"name": "corp", "ipv4_cidr": " 10.0.0.0/24 "}),
    ));
    assert_eq!(spec.ipv4_cidr, Some(v4net("10.0.0.0/24")));
}

#[test]
fn missing_cidr_for_a_family_of_the_mode_is_missing_field() {
    assert_err(
        network(json!({"name": "corp"})),
        ErrorCode::MissingField,
        "ipv4_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv4"})),
        ErrorCode::MissingField,
        "ipv4_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv6"})),
        ErrorCode::MissingField,
        "ipv6_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/24"})),
        ErrorCode::MissingField,
        "ipv6_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "dual", "ipv6_cidr": "fd00::/64"})),
        ErrorCode::MissingField,
        "ipv4_cidr",
    );
}

#[test]
fn cidr_of_a_family_outside_the_mode_is_field_not_allowed() {
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"})),
        ErrorCode::FieldNotAllowed,
        "ipv6_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv4",
                       "ipv4_cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"})),
        ErrorCode::FieldNotAllowed,
        "ipv6_cidr",
    );
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv6",
                       "ipv4_cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"})),
        ErrorCode::FieldNotAllowed,
        "ipv4_cidr",
    );
}

#[test]
fn legacy_cidr_in_an_ipv6_network_is_field_not_allowed_on_cidr() {
    assert_err(
        network(json!({"name": "corp", "ip_stack_mode": "ipv6",
                       "cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"})),
        ErrorCode::FieldNotAllowed,
        "cidr",
    );
}

#[test]
fn legacy_cidr_in_an_ipv6_network_is_rejected_as_field_not_allowed() {
    let e = network(json!({"name": "corp", "ip_stack_mode": "ipv6",
                           "cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"}))
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::FieldNotAllowed);
    assert!(
        matches!(e.field.as_deref(), Some("cidr") | Some("ipv4_cidr")),
        "{e:?}"
    );
}

#[test]
fn legacy_cidr_alias_is_accepted_and_equals_ipv4_cidr() {
    let legacy = assert_ok(network(json!({"name": "corp", "cidr": "10.1.0.0/16"})));
    let modern = assert_ok(network(json!({"name": "corp", "ipv4_cidr": "10.1.0.0/16"})));
    assert_eq!(legacy, modern);
    assert_eq!(legacy.ipv4_cidr, Some(v4net("10.1.0.0/16")));
    assert_eq!(legacy.ip_stack_mode, IpStackMode::Ipv4);

    let dual = assert_ok(network(json!({"name": "corp", "ip_stack_mode": "dual",
                                        "cidr": "10.1.0.0/16", "ipv6_cidr": "fd00::/64"})));
    assert_eq!(dual.ipv4_cidr, Some(v4net("10.1.0.0/16")));
}

#[test]
fn legacy_cidr_and_ipv4_cidr_must_agree() {
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24", "cidr": "10.1.0.0/24"})),
        ErrorCode::FieldNotAllowed,
        "cidr",
    );
    let spec = assert_ok(network(
        json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24", "cidr": " 10.0.0.0/24"}),
    ));
    assert_eq!(spec.ipv4_cidr, Some(v4net("10.0.0.0/24")));
}

#[test]
fn dns_servers_accept_both_families_and_name_the_bad_entry() {
    let spec = assert_ok(network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24",
                                        "dns_servers": ["1.1.1.1", "2606:4700::1111"]})));
    assert_eq!(spec.dns_servers, vec![ip("1.1.1.1"), ip("2606:4700::1111")]);
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24", "dns_servers": ["dns.google"]})),
        ErrorCode::InvalidAddress,
        "dns_servers[0]",
    );
    assert_err(
        network(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24",
                       "dns_servers": ["9.9.9.9", "8.8.8.8/32"]})),
        ErrorCode::InvalidAddress,
        "dns_servers[1]",
    );
}

// ---------------------------------------------------------------- unknown fields

fn rejects_unknown_field<T: DeserializeOwned + Debug>(known: Value) {
    // The known body is fine on its own, so the failure below is due to the extra field.
    serde_json::from_value::<T>(known.clone())
        .unwrap_or_else(|e| panic!("{known} should deserialize: {e}"));
    let mut with_extra = known.clone();
    with_extra
        .as_object_mut()
        .unwrap()
        .insert("ipv4cidr".into(), json!("10.0.0.0/24"));
    let err =
        serde_json::from_value::<T>(with_extra).expect_err("an unknown field must be rejected");
    assert!(err.to_string().contains("unknown field"), "{err}");
    assert!(err.to_string().contains("ipv4cidr"), "{err}");
}

#[test]
fn unknown_json_fields_are_rejected_by_every_request_type() {
    rejects_unknown_field::<CreateNetwork>(json!({"name": "corp", "ipv4_cidr": "10.0.0.0/24"}));
    rejects_unknown_field::<UpdateNetwork>(json!({"name": "corp", "force": true}));
    rejects_unknown_field::<CreatePeer>(json!({"name": "laptop", "is_jump": false}));
    rejects_unknown_field::<UpdatePeer>(json!({"name": "laptop", "endpoint": null}));
    rejects_unknown_field::<CreateGroup>(json!({"name": "ops", "priority": 10}));
    rejects_unknown_field::<UpdateGroup>(json!({"priority": 10}));
    rejects_unknown_field::<CreateRule>(json!({"direction": "output", "action": "allow"}));
    rejects_unknown_field::<CreatePolicy>(json!({"name": "web", "rules": []}));
    rejects_unknown_field::<UpdatePolicy>(json!({"rules": []}));
    rejects_unknown_field::<CreateRoute>(json!({"name": "lan", "destination_cidr": "10.9.0.0/16"}));
    rejects_unknown_field::<UpdateRoute>(json!({"name": "lan"}));
    rejects_unknown_field::<CreateDnsMapping>(json!({"name": "db", "ip_address": "10.9.0.5"}));
    rejects_unknown_field::<UpdateDnsMapping>(json!({"ip_address": "10.9.0.5"}));
}

#[test]
fn unknown_field_inside_a_nested_rule_is_rejected() {
    let err = serde_json::from_value::<CreatePolicy>(json!({
        "name": "web",
        "rules": [{"direction": "output", "action": "allow", "target_type": "any", "port": 80}]
    }))
    .expect_err("unknown rule field");
    assert!(err.to_string().contains("unknown field `port`"), "{err}");
}

#[test]
fn field_of_the_wrong_json_type_is_a_deserialization_error() {
    assert!(
        serde_json::from_value::<CreatePeer>(json!({"name": "a", "listen_port": "51820"})).is_err()
    );
    assert!(serde_json::from_value::<CreateNetwork>(
        json!({"name": "a", "dns_servers": "1.1.1.1"})
    )
    .is_err());
    assert!(serde_json::from_value::<CreateNetwork>(json!({"name": 7})).is_err());
}

// ---------------------------------------------------------------- network updates

#[test]
fn update_network_validates_each_given_field_and_defaults_force_to_false() {
    let patch = assert_ok(network_patch(json!({})));
    assert_eq!(patch, NetworkPatch::default());
    assert!(!patch.force);

    assert_err(
        network_patch(json!({"name": "Bad"})),
        ErrorCode::InvalidName,
        "name",
    );
    assert_err(
        network_patch(json!({"ip_stack_mode": "ipv7"})),
        ErrorCode::InvalidValue,
        "ip_stack_mode",
    );
    assert_err(
        network_patch(json!({"ipv4_cidr": "fd00::/64"})),
        ErrorCode::WrongFamily,
        "ipv4_cidr",
    );
    assert_err(
        network_patch(json!({"ipv6_cidr": "fd00::/127"})),
        ErrorCode::PrefixLength,
        "ipv6_cidr",
    );
    assert_err(
        network_patch(json!({"ipv4_cidr": "10.0.0.0/24", "cidr": "10.0.1.0/24"})),
        ErrorCode::FieldNotAllowed,
        "cidr",
    );
    assert_err(
        network_patch(json!({"dns_servers": ["1.1.1.1", "x"]})),
        ErrorCode::InvalidAddress,
        "dns_servers[1]",
    );
    assert_err(
        network_patch(json!({"domain": "a..b"})),
        ErrorCode::InvalidName,
        "domain",
    );

    let patch = assert_ok(network_patch(
        json!({"ip_stack_mode": "dual", "cidr": "10.2.0.0/16",
                                               "ipv6_cidr": "fd00:2::/64", "force": true}),
    ));
    assert_eq!(patch.ip_stack_mode, Some(IpStackMode::Dual));
    assert_eq!(patch.ipv4_cidr, Some(v4net("10.2.0.0/16")));
    assert_eq!(patch.ipv6_cidr, Some(v6net("fd00:2::/64")));
    assert!(patch.force);
}

#[test]
fn resolve_adding_a_family_without_its_cidr_is_missing_field() {
    let v4 = stored_network(IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
    let patch = assert_ok(network_patch(json!({"ip_stack_mode": "dual"})));
    assert_err(patch.resolve(&v4), ErrorCode::MissingField, "ipv6_cidr");

    let v6 = stored_network(IpStackMode::Ipv6, None, Some("fd00::/64"));
    assert_err(patch.resolve(&v6), ErrorCode::MissingField, "ipv4_cidr");

    // Switching family entirely needs the new family's prefix.
    let to_v6 = assert_ok(network_patch(json!({"ip_stack_mode": "ipv6"})));
    assert_err(to_v6.resolve(&v4), ErrorCode::MissingField, "ipv6_cidr");
}

#[test]
fn resolve_removing_a_family_while_giving_its_cidr_is_field_not_allowed() {
    let dual = stored_network(IpStackMode::Dual, Some("10.0.0.0/24"), Some("fd00::/64"));
    let patch = assert_ok(network_patch(
        json!({"ip_stack_mode": "ipv4", "ipv6_cidr": "fd01::/64"}),
    ));
    assert_err(
        patch.resolve(&dual),
        ErrorCode::FieldNotAllowed,
        "ipv6_cidr",
    );
    let patch = assert_ok(network_patch(
        json!({"ip_stack_mode": "ipv6", "ipv4_cidr": "10.1.0.0/24"}),
    ));
    assert_err(
        patch.resolve(&dual),
        ErrorCode::FieldNotAllowed,
        "ipv4_cidr",
    );

    // A CIDR of a family the (unchanged) mode does not carry is refused too.
    let v4 = stored_network(IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
    let patch = assert_ok(network_patch(json!({"ipv6_cidr": "fd01::/64"})));
    assert_err(patch.resolve(&v4), ErrorCode::FieldNotAllowed, "ipv6_cidr");
}

#[test]
fn resolve_keeps_the_cidr_of_a_kept_family_and_drops_a_removed_one() {
    let v4 = stored_network(IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
    let patch = assert_ok(network_patch(
        json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd00::/64"}),
    ));
    assert_eq!(
        assert_ok(patch.resolve(&v4)),
        (
            IpStackMode::Dual,
            Some(v4net("10.0.0.0/24")),
            Some(v6net("fd00::/64"))
        )
    );

    let dual = stored_network(IpStackMode::Dual, Some("10.0.0.0/24"), Some("fd00::/64"));
    let patch = assert_ok(network_patch(json!({"ip_stack_mode": "ipv6"})));
    assert_eq!(
        assert_ok(patch.resolve(&dual)),
        (IpStackMode::Ipv6, None, Some(v6net("fd00::/64")))
    );
    let patch = assert_ok(network_patch(json!({"ip_stack_mode": "ipv4"})));
    assert_eq!(
        assert_ok(patch.resolve(&dual)),
        (IpStackMode::Ipv4, Some(v4net("10.0.0.0/24")), None)
    );

    // No mode: the current one, with a new prefix replacing the old.
    let patch = assert_ok(network_patch(json!({"ipv4_cidr": "10.9.0.0/16"})));
    assert_eq!(
        assert_ok(patch.resolve(&dual)),
        (
            IpStackMode::Dual,
            Some(v4net("10.9.0.0/16")),
            Some(v6net("fd00::/64"))
        )
    );
    // An empty patch resolves to the network as it is.
    assert_eq!(
        assert_ok(NetworkPatch::default().resolve(&dual)),
        (IpStackMode::Dual, dual.ipv4_cidr, dual.ipv6_cidr)
    );
}

#[test]
fn resolve_re_adding_a_family_does_not_resurrect_a_stale_prefix() {
    // A removed family's prefix is not kept around: going ipv6 -> dual needs a new IPv4 one
    // even if the stored network (inconsistently) still has one.
    let mut v6 = stored_network(IpStackMode::Ipv6, None, Some("fd00::/64"));
    v6.ipv4_cidr = Some(v4net("10.0.0.0/24"));
    let patch = assert_ok(network_patch(json!({"ip_stack_mode": "dual"})));
    assert_err(patch.resolve(&v6), ErrorCode::MissingField, "ipv4_cidr");
}

#[test]
fn changes_addressing_is_true_only_for_a_new_mode_or_prefix() {
    let dual = stored_network(IpStackMode::Dual, Some("10.0.0.0/24"), Some("fd00::/64"));
    let same = assert_ok(network_patch(
        json!({"ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/24",
                                              "ipv6_cidr": "fd00::/64", "name": "other"}),
    ));
    assert!(!same.changes_addressing(&dual));
    for change in [
        json!({"ip_stack_mode": "ipv4"}),
        json!({"ipv4_cidr": "10.0.1.0/24"}),
        json!({"ipv6_cidr": "fd00:1::/64"}),
    ] {
        assert!(
            assert_ok(network_patch(change.clone())).changes_addressing(&dual),
            "{change}"
        );
    }
}

// ---------------------------------------------------------------- peers

#[test]
fn create_peer_without_name_is_missing_field_and_a_dotted_name_is_invalid() {
    assert_err(peer(json!({})), ErrorCode::MissingField, "name");
    for bad in ["a.b", "Laptop", "", "-x", "lap top"] {
        assert_err(peer(json!({"name": bad})), ErrorCode::InvalidName, "name");
    }
}

#[test]
fn jump_peer_with_use_agent_false_is_invalid_value_on_use_agent() {
    assert_err(
        peer(json!({"name": "gw", "is_jump": true, "use_agent": false})),
        ErrorCode::InvalidValue,
        "use_agent",
    );
}

#[test]
fn jump_peer_defaults_to_listen_port_51820_and_use_agent_true() {
    let spec = assert_ok(peer(json!({"name": "gw", "is_jump": true})));
    assert!(spec.is_jump);
    assert!(spec.use_agent);
    assert_eq!(spec.listen_port, Some(51820));
    assert_eq!(spec.listen_port, Some(DEFAULT_LISTEN_PORT));

    let spec = assert_ok(peer(
        json!({"name": "gw", "is_jump": true, "use_agent": true,
                                     "listen_port": 443}),
    ));
    assert_eq!(spec.listen_port, Some(443));
}

#[test]
fn regular_peer_defaults_to_static_without_port_and_default_group() {
    let spec = assert_ok(peer(json!({"name": "laptop"})));
    assert_eq!(
        spec,
        PeerSpec {
            name: "laptop".into(),
            is_jump: false,
            use_agent: false,
            ipv4_address: None,
            ipv6_address: None,
            public_key: None,
            endpoint: None,
            listen_port: None,
            additional_allowed_ips: vec![],
            group_ids: None,
            ipv6_nat: false,
        }
    );
    let spec = assert_ok(peer(
        json!({"name": "srv", "use_agent": true, "group_ids": []}),
    ));
    assert!(spec.use_agent);
    assert_eq!(spec.group_ids, Some(vec![]));
}

#[test]
fn ipv6_nat_on_a_non_jump_is_field_not_allowed() {
    assert_err(
        peer(json!({"name": "laptop", "ipv6_nat": true})),
        ErrorCode::FieldNotAllowed,
        "ipv6_nat",
    );
    assert!(
        assert_ok(peer(
            json!({"name": "gw", "is_jump": true, "ipv6_nat": true})
        ))
        .ipv6_nat
    );
    assert!(!assert_ok(peer(json!({"name": "laptop", "ipv6_nat": false}))).ipv6_nat);
}

#[test]
fn listen_port_outside_1_to_65535_is_invalid_port() {
    for bad in [0, 70000, 65536, -1, i64::MAX] {
        assert_err(
            peer(json!({"name": "gw", "is_jump": true, "listen_port": bad})),
            ErrorCode::InvalidPort,
            "listen_port",
        );
    }
    for ok in [1, 65535] {
        assert_eq!(
            assert_ok(peer(json!({"name": "p", "listen_port": ok}))).listen_port,
            Some(ok as u16)
        );
    }
}

#[test]
fn malformed_endpoint_is_invalid_endpoint() {
    for bad in [
        "",
        "   ",
        "bad_host!",
        "host:0",
        "host:70000",
        "host:port",
        "host:",
        "[10.0.0.1]:51820",
        "[2001:db8::1",
        "[2001:db8::1]51820",
        "-lead.example.com",
        "a..b:1",
    ] {
        assert_err(
            peer(json!({"name": "gw", "endpoint": bad})),
            ErrorCode::InvalidEndpoint,
            "endpoint",
        );
    }
}

#[test]
fn ipv6_endpoint_with_a_port_but_without_brackets_is_invalid_endpoint() {
    let e = assert_err(
        peer(json!({"name": "gw", "endpoint": "2001:db8::1:51820"})),
        ErrorCode::InvalidEndpoint,
        "endpoint",
    );
    assert!(
        e.detail.contains('['),
        "detail explains the bracket form: {}",
        e.detail
    );
    assert_err(
        peer(json!({"name": "gw", "endpoint": "fd00::1:65535x"})),
        ErrorCode::InvalidEndpoint,
        "endpoint",
    );
    // Ambiguous without brackets: an address ending in ::1:443, or ::1 and port 443?
    for bare in ["2001:db8::1:443", "2001:db8::1"] {
        assert_err(
            peer(json!({"name": "gw", "endpoint": bare})),
            ErrorCode::InvalidEndpoint,
            "endpoint",
        );
    }
}

#[test]
fn valid_endpoints_keep_host_and_port() {
    let cases = [
        (
            "vpn.example.com",
            EndpointHost::Name("vpn.example.com".into()),
            None,
        ),
        (
            "VPN.Example.com:1194",
            EndpointHost::Name("vpn.example.com".into()),
            Some(1194),
        ),
        (
            "203.0.113.7:51820",
            EndpointHost::Ip(ip("203.0.113.7")),
            Some(51820),
        ),
        (
            "[2001:db8::1]:443",
            EndpointHost::Ip(ip("2001:db8::1")),
            Some(443),
        ),
        ("[2001:db8::1]", EndpointHost::Ip(ip("2001:db8::1")), None),
    ];
    for (text, host, port) in cases {
        let spec = assert_ok(peer(json!({"name": "gw", "endpoint": text})));
        assert_eq!(spec.endpoint, Some(Endpoint { host, port }), "{text}");
    }
}

#[test]
fn public_key_that_is_not_base64_of_32_bytes_is_invalid_value() {
    for bad in [
        "abc",
        "",
        "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk",
        "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmB=",
        "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm!=",
        "yAnz5TF-lXXJte14tji3zlMNq_hd2rYUIgJBgB3fBmk=",
    ] {
        assert_err(
            peer(json!({"name": "p", "public_key": bad})),
            ErrorCode::InvalidValue,
            "public_key",
        );
    }
    let key = test_key(7);
    assert_eq!(
        assert_ok(peer(json!({"name": "p", "public_key": key.clone()}))).public_key,
        Some(key)
    );
}

#[test]
fn requested_address_of_the_wrong_family_is_wrong_family() {
    assert_err(
        peer(json!({"name": "p", "ipv4_address": "fd00::5"})),
        ErrorCode::WrongFamily,
        "ipv4_address",
    );
    assert_err(
        peer(json!({"name": "p", "ipv6_address": "10.0.0.5"})),
        ErrorCode::WrongFamily,
        "ipv6_address",
    );
    assert_err(
        peer(json!({"name": "p", "ipv4_address": "10.0.0.300"})),
        ErrorCode::InvalidAddress,
        "ipv4_address",
    );
    assert_err(
        peer(json!({"name": "p", "ipv6_address": "fd00::/64"})),
        ErrorCode::InvalidAddress,
        "ipv6_address",
    );
    let spec = assert_ok(peer(json!({"name": "p", "ipv4_address": "10.0.0.5",
                                     "ipv6_address": "fd00::5"})));
    assert_eq!(spec.ipv4_address, Some("10.0.0.5".parse().unwrap()));
    assert_eq!(spec.ipv6_address, Some("fd00::5".parse().unwrap()));
}

#[test]
fn additional_allowed_ips_name_the_bad_entry() {
    assert_err(
        peer(json!({"name": "p", "additional_allowed_ips": ["192.168.0.0/16", "192.168.1.0"]})),
        ErrorCode::InvalidCidr,
        "additional_allowed_ips[1]",
    );
    assert_err(
        peer(json!({"name": "p", "additional_allowed_ips": ["192.168.0.0/16", "192.168.1.1/24"]})),
        ErrorCode::HostBitsSet,
        "additional_allowed_ips[1]",
    );
    assert_err(
        peer(json!({"name": "p", "additional_allowed_ips": ["nope"]})),
        ErrorCode::InvalidCidr,
        "additional_allowed_ips[0]",
    );
    let spec = assert_ok(peer(json!({"name": "p",
        "additional_allowed_ips": ["192.168.0.0/16", "fd10::/48"]})));
    assert_eq!(
        spec.additional_allowed_ips,
        vec![
            "192.168.0.0/16".parse::<IpNet>().unwrap(),
            "fd10::/48".parse().unwrap()
        ]
    );
}

#[test]
fn group_id_that_is_not_a_uuid_is_invalid_value_on_its_index() {
    assert_err(
        peer(json!({"name": "p", "group_ids": ["default"]})),
        ErrorCode::InvalidValue,
        "group_ids[0]",
    );
    assert_err(
        peer(json!({"name": "p", "group_ids": [UUID, "1234"]})),
        ErrorCode::InvalidValue,
        "group_ids[1]",
    );
    let spec = assert_ok(peer(json!({"name": "p", "group_ids": [UUID]})));
    assert_eq!(spec.group_ids, Some(vec![UUID.parse::<GroupId>().unwrap()]));
}

#[test]
fn update_peer_distinguishes_null_from_absent() {
    let absent = assert_ok(peer_patch(json!({})));
    assert_eq!(absent, PeerPatch::default());
    assert_eq!(absent.endpoint, None);

    let cleared = assert_ok(peer_patch(json!({"endpoint": null, "public_key": null,
                                              "listen_port": null})));
    assert_eq!(cleared.endpoint, Some(None));
    assert_eq!(cleared.public_key, Some(None));
    assert_eq!(cleared.listen_port, Some(None));

    let set = assert_ok(peer_patch(
        json!({"endpoint": "vpn.example.com:1", "listen_port": 2,
                                          "public_key": test_key(1)}),
    ));
    assert_eq!(
        set.endpoint,
        Some(Some(Endpoint {
            host: EndpointHost::Name("vpn.example.com".into()),
            port: Some(1)
        }))
    );
    assert_eq!(set.listen_port, Some(Some(2)));
    assert_eq!(set.public_key, Some(Some(test_key(1))));
}

#[test]
fn update_peer_validates_each_given_field() {
    assert_err(
        peer_patch(json!({"name": "a.b"})),
        ErrorCode::InvalidName,
        "name",
    );
    assert_err(
        peer_patch(json!({"endpoint": "[fd00::1]:0"})),
        ErrorCode::InvalidEndpoint,
        "endpoint",
    );
    assert_err(
        peer_patch(json!({"listen_port": 0})),
        ErrorCode::InvalidPort,
        "listen_port",
    );
    assert_err(
        peer_patch(json!({"public_key": "x"})),
        ErrorCode::InvalidValue,
        "public_key",
    );
    assert_err(
        peer_patch(json!({"ipv4_address": "fd00::1"})),
        ErrorCode::WrongFamily,
        "ipv4_address",
    );
    assert_err(
        peer_patch(json!({"ipv6_address": "10.0.0.1"})),
        ErrorCode::WrongFamily,
        "ipv6_address",
    );
    assert_err(
        peer_patch(json!({"additional_allowed_ips": ["10.0.0.0/8", "10.0.0.1/8"]})),
        ErrorCode::HostBitsSet,
        "additional_allowed_ips[1]",
    );
    assert_err(
        peer_patch(json!({"group_ids": ["x"]})),
        ErrorCode::InvalidValue,
        "group_ids[0]",
    );
}

// ---------------------------------------------------------------- groups

#[test]
fn group_requires_a_label_name_and_a_32_bit_priority() {
    assert_err(
        body::<CreateGroup>(json!({})).validate(),
        ErrorCode::MissingField,
        "name",
    );
    assert_err(
        body::<CreateGroup>(json!({"name": "Ops"})).validate(),
        ErrorCode::InvalidName,
        "name",
    );
    assert_err(
        body::<CreateGroup>(json!({"name": "ops", "priority": 1i64 << 31})).validate(),
        ErrorCode::InvalidValue,
        "priority",
    );
    assert_err(
        body::<UpdateGroup>(json!({"priority": -(1i64 << 31) - 1})).validate(),
        ErrorCode::InvalidValue,
        "priority",
    );
    let spec = assert_ok(body::<CreateGroup>(json!({"name": "ops"})).validate());
    assert_eq!((spec.priority, spec.description.as_str()), (100, ""));
    let spec = assert_ok(body::<CreateGroup>(json!({"name": "ops", "priority": -5})).validate());
    assert_eq!(spec.priority, -5);
}

// ---------------------------------------------------------------- rules and policies

#[test]
fn rule_without_direction_is_missing_field_and_a_bad_one_is_invalid_value() {
    assert_err(
        rule(json!({"action": "allow", "target_type": "any"})),
        ErrorCode::MissingField,
        "direction",
    );
    assert_err(
        rule(json!({"direction": "both", "action": "allow", "target_type": "any"})),
        ErrorCode::InvalidValue,
        "direction",
    );
}

#[test]
fn rule_with_a_missing_or_bad_action_is_rejected_on_action() {
    assert_err(
        rule(json!({"direction": "output", "target_type": "any"})),
        ErrorCode::MissingField,
        "action",
    );
    for bad in ["accept", "ALLOW", "drop", ""] {
        assert_err(
            rule(json!({"direction": "output", "action": bad, "target_type": "any"})),
            ErrorCode::InvalidValue,
            "action",
        );
    }
}

#[test]
fn rule_with_a_missing_or_bad_target_type_is_rejected_on_target_type() {
    assert_err(
        rule(json!({"direction": "input", "action": "deny", "target": "10.0.0.0/8"})),
        ErrorCode::MissingField,
        "target_type",
    );
    for bad in ["host", "CIDR", "network", ""] {
        assert_err(
            rule(
                json!({"direction": "input", "action": "deny", "target_type": bad,
                        "target": "10.0.0.0/8"}),
            ),
            ErrorCode::InvalidValue,
            "target_type",
        );
    }
}

#[test]
fn cidr_rule_target_is_required_without_host_bits() {
    assert_err(
        rule(json!({"direction": "output", "action": "allow", "target_type": "cidr"})),
        ErrorCode::MissingField,
        "target",
    );
    assert_err(
        rule(
            json!({"direction": "output", "action": "allow", "target_type": "cidr",
                    "target": "10.0.0.1/8"}),
        ),
        ErrorCode::HostBitsSet,
        "target",
    );
    assert_err(
        rule(
            json!({"direction": "output", "action": "allow", "target_type": "cidr",
                    "target": "10.0.0.1"}),
        ),
        ErrorCode::InvalidCidr,
        "target",
    );
    let spec = assert_ok(rule(json!({"direction": "output", "action": "deny",
                                     "target_type": "cidr", "target": "fd00:9::/64"})));
    assert_eq!(
        spec.target,
        RuleTarget::Cidr("fd00:9::/64".parse().unwrap())
    );
    assert_eq!(spec.target.ip_version(), IpVersion::Ipv6);
    assert_eq!(spec.direction, Direction::Output);
    assert_eq!(spec.action, Action::Deny);
    let spec = assert_ok(rule(json!({"direction": "input", "action": "allow",
                                     "target_type": "cidr", "target": "0.0.0.0/0"})));
    assert_eq!(spec.target.ip_version(), IpVersion::Ipv4);
}

#[test]
fn peer_and_group_rule_targets_must_be_uuids() {
    for kind in ["peer", "group"] {
        assert_err(
            rule(
                json!({"direction": "output", "action": "allow", "target_type": kind,
                        "target": "laptop"}),
            ),
            ErrorCode::InvalidValue,
            "target",
        );
        assert_err(
            rule(json!({"direction": "output", "action": "allow", "target_type": kind})),
            ErrorCode::MissingField,
            "target",
        );
    }
    let spec = assert_ok(rule(json!({"direction": "input", "action": "allow",
                                     "target_type": "peer", "target": UUID})));
    assert_eq!(spec.target, RuleTarget::Peer(UUID.parse().unwrap()));
    assert_eq!(spec.target.ip_version(), IpVersion::Both);
    let spec = assert_ok(rule(json!({"direction": "input", "action": "allow",
                                     "target_type": "group", "target": UUID})));
    assert_eq!(spec.target, RuleTarget::Group(UUID.parse().unwrap()));
}

#[test]
fn any_rule_with_a_target_is_field_not_allowed() {
    assert_err(
        rule(
            json!({"direction": "output", "action": "allow", "target_type": "any",
                    "target": "0.0.0.0/0"}),
        ),
        ErrorCode::FieldNotAllowed,
        "target",
    );
    for ok in [json!(null), json!("any")] {
        let spec = assert_ok(rule(json!({"direction": "output", "action": "allow",
                                         "target_type": "any", "target": ok})));
        assert_eq!(spec.target, RuleTarget::Any);
        assert_eq!(spec.target.ip_version(), IpVersion::Both);
    }
}

#[test]
fn policy_rule_errors_carry_the_nested_path() {
    let policy =
        |rules: Value| body::<CreatePolicy>(json!({"name": "web", "rules": rules})).validate();
    assert_err(
        policy(json!([
            {"direction": "output", "action": "allow", "target_type": "any"},
            {"direction": "output", "action": "allow", "target_type": "cidr", "target": "10.0.0.1/8"}
        ])),
        ErrorCode::HostBitsSet,
        "rules[1].target",
    );
    assert_err(
        policy(json!([{"action": "allow", "target_type": "any"}])),
        ErrorCode::MissingField,
        "rules[0].direction",
    );
    assert_err(
        policy(json!([
            {"direction": "output", "action": "allow", "target_type": "any"},
            {"direction": "output", "action": "allow", "target_type": "any"},
            {"direction": "output", "action": "allow", "target_type": "host", "target": "x"}
        ])),
        ErrorCode::InvalidValue,
        "rules[2].target_type",
    );
    assert_err(
        body::<UpdatePolicy>(json!({"rules": [
            {"direction": "output", "action": "allow", "target_type": "peer", "target": "x"}
        ]}))
        .validate(),
        ErrorCode::InvalidValue,
        "rules[0].target",
    );
    assert_err(
        body::<CreatePolicy>(json!({"rules": []})).validate(),
        ErrorCode::MissingField,
        "name",
    );
    assert_err(
        body::<CreatePolicy>(json!({"name": "Web"})).validate(),
        ErrorCode::InvalidName,
        "name",
    );

    let spec = assert_ok(policy(json!([
        {"direction": "output", "action": "allow", "target_type": "any", "description": "all"},
        {"direction": "input", "action": "deny", "target_type": "cidr", "target": "10.0.0.0/8"}
    ])));
    assert_eq!(spec.rules.len(), 2);
    assert_eq!(spec.rules[0].description, "all");
    assert_eq!(
        spec.rules[1].target,
        RuleTarget::Cidr("10.0.0.0/8".parse().unwrap())
    );
    assert_eq!(
        assert_ok(body::<CreatePolicy>(json!({"name": "empty"})).validate()).rules,
        vec![]
    );
}

// ---------------------------------------------------------------- routes

#[test]
fn route_destination_must_be_a_cidr_without_host_bits() {
    let r =
        |dest: Value| route(json!({"name": "lan", "destination_cidr": dest, "jump_peer_id": UUID}));
    assert_err(
        r(json!("10.9.0.0")),
        ErrorCode::InvalidCidr,
        "destination_cidr",
    );
    assert_err(r(json!("lan")), ErrorCode::InvalidCidr, "destination_cidr");
    assert_err(
        r(json!("10.9.0.1/16")),
        ErrorCode::HostBitsSet,
        "destination_cidr",
    );
    assert_err(r(json!(null)), ErrorCode::MissingField, "destination_cidr");
    let spec = assert_ok(r(json!("fd10::/48")));
    assert_eq!(spec.destination_cidr, "fd10::/48".parse::<IpNet>().unwrap());
    assert_eq!(spec.jump_peer_id, UUID.parse::<PeerId>().unwrap());
}

#[test]
fn route_without_jump_peer_id_is_missing_field_and_a_bad_one_is_invalid_value() {
    assert_err(
        route(json!({"name": "lan", "destination_cidr": "10.9.0.0/16"})),
        ErrorCode::MissingField,
        "jump_peer_id",
    );
    assert_err(
        route(json!({"name": "lan", "destination_cidr": "10.9.0.0/16", "jump_peer_id": "gw"})),
        ErrorCode::InvalidValue,
        "jump_peer_id",
    );
    assert_err(
        route(json!({"destination_cidr": "10.9.0.0/16", "jump_peer_id": UUID})),
        ErrorCode::MissingField,
        "name",
    );
}

#[test]
fn update_route_validates_each_given_field() {
    let v = |b: Value| body::<UpdateRoute>(b).validate();
    assert_err(
        v(json!({"destination_cidr": "10.0.0.1/8"})),
        ErrorCode::HostBitsSet,
        "destination_cidr",
    );
    assert_err(
        v(json!({"jump_peer_id": "x"})),
        ErrorCode::InvalidValue,
        "jump_peer_id",
    );
    assert_err(v(json!({"name": "LAN"})), ErrorCode::InvalidName, "name");
    assert_eq!(assert_ok(v(json!({}))), RoutePatch::default());
}

#[test]
fn route_family_must_be_carried_by_the_network_mode() {
    let v4 = "10.9.0.0/16".parse::<IpNet>().unwrap();
    let v6 = "fd10::/48".parse::<IpNet>().unwrap();
    let ipv4 = stored_network(IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
    let ipv6 = stored_network(IpStackMode::Ipv6, None, Some("fd00::/64"));
    let dual = stored_network(IpStackMode::Dual, Some("10.0.0.0/24"), Some("fd00::/64"));

    assert_ok(check_route_family(&ipv4, &v4));
    assert_ok(check_route_family(&ipv6, &v6));
    assert_ok(check_route_family(&dual, &v4));
    assert_ok(check_route_family(&dual, &v6));
    let e = assert_err(
        check_route_family(&ipv4, &v6),
        ErrorCode::RouteFamilyUnsupported,
        "destination_cidr",
    );
    assert_eq!(e.http_status(), 400);
    assert_err(
        check_route_family(&ipv6, &v4),
        ErrorCode::RouteFamilyUnsupported,
        "destination_cidr",
    );
    // The default routes count too.
    assert_err(
        check_route_family(&ipv4, &"::/0".parse().unwrap()),
        ErrorCode::RouteFamilyUnsupported,
        "destination_cidr",
    );
}

// ---------------------------------------------------------------- DNS mappings

#[test]
fn mapping_names_accept_labels_and_a_leading_wildcard_and_are_lowercased() {
    for (given, stored) in [
        ("db", "db"),
        ("db.svc", "db.svc"),
        ("*", "*"),
        ("*.svc", "*.svc"),
        ("*.a.b", "*.a.b"),
        ("*.DB", "*.db"),
        ("Web-1", "web-1"),
    ] {
        let spec = assert_ok(mapping(json!({"name": given, "ip_address": "10.9.0.5"})));
        assert_eq!(spec.name, stored, "{given}");
    }
}

#[test]
fn mapping_names_with_a_misplaced_or_partial_wildcard_are_invalid_name() {
    for bad in [
        "", "a.*", "**", "*x", "*.", "*.*", "a.*.b", "db..svc", "db svc", "db_1", ".db",
    ] {
        assert_err(
            mapping(json!({"name": bad, "ip_address": "10.9.0.5"})),
            ErrorCode::InvalidName,
            "name",
        );
    }
    assert_err(
        body::<UpdateDnsMapping>(json!({"name": "a.*"})).validate(),
        ErrorCode::InvalidName,
        "name",
    );
}

#[test]
fn mapping_ip_address_is_required_and_must_be_an_address() {
    assert_err(
        mapping(json!({"name": "db"})),
        ErrorCode::MissingField,
        "ip_address",
    );
    assert_err(
        mapping(json!({"ip_address": "10.9.0.5"})),
        ErrorCode::MissingField,
        "name",
    );
    for bad in ["10.9.0.0/24", "db.local", "10.9.0.256", ""] {
        assert_err(
            mapping(json!({"name": "db", "ip_address": bad})),
            ErrorCode::InvalidAddress,
            "ip_address",
        );
    }
    assert_err(
        body::<UpdateDnsMapping>(json!({"ip_address": "x"})).validate(),
        ErrorCode::InvalidAddress,
        "ip_address",
    );
    let spec = assert_ok(mapping(json!({"name": "db", "ip_address": "fd10::5"})));
    assert_eq!(spec.ip_address, ip("fd10::5"));
}

#[test]
fn mapping_ip_outside_its_route_is_mapping_outside_route_and_other_family_is_wrong_family() {
    let v4: IpNet = "10.9.0.0/16".parse().unwrap();
    let v6: IpNet = "fd10::/48".parse().unwrap();
    assert_ok(check_mapping_in_route(&v4, &ip("10.9.255.255")));
    assert_ok(check_mapping_in_route(&v4, &ip("10.9.0.0")));
    assert_ok(check_mapping_in_route(&v6, &ip("fd10::5")));

    let e = assert_err(
        check_mapping_in_route(&v4, &ip("10.10.0.1")),
        ErrorCode::MappingOutsideRoute,
        "ip_address",
    );
    assert_eq!(e.http_status(), 400);
    assert_err(
        check_mapping_in_route(&v6, &ip("fd11::5")),
        ErrorCode::MappingOutsideRoute,
        "ip_address",
    );
    assert_err(
        check_mapping_in_route(&v4, &ip("fd10::5")),
        ErrorCode::WrongFamily,
        "ip_address",
    );
    assert_err(
        check_mapping_in_route(&v6, &ip("10.9.0.5")),
        ErrorCode::WrongFamily,
        "ip_address",
    );
    // An IPv4-mapped IPv6 address is IPv6 as written, not inside an IPv4 route.
    assert_err(
        check_mapping_in_route(&v4, &ip("::ffff:10.9.0.5")),
        ErrorCode::WrongFamily,
        "ip_address",
    );
}

// ---------------------------------------------------------------- error codes

const ALL_CODES: [ErrorCode; 33] = [
    ErrorCode::MissingField,
    ErrorCode::FieldNotAllowed,
    ErrorCode::InvalidName,
    ErrorCode::InvalidCidr,
    ErrorCode::InvalidAddress,
    ErrorCode::WrongFamily,
    ErrorCode::PrefixLength,
    ErrorCode::HostBitsSet,
    ErrorCode::AddressOutsidePrefix,
    ErrorCode::ReservedAddress,
    ErrorCode::InvalidEndpoint,
    ErrorCode::InvalidPort,
    ErrorCode::InvalidValue,
    ErrorCode::ImmutableField,
    ErrorCode::UnknownReference,
    ErrorCode::RouteFamilyUnsupported,
    ErrorCode::MappingOutsideRoute,
    ErrorCode::NotAJump,
    ErrorCode::NotFound,
    ErrorCode::CidrOverlap,
    ErrorCode::NameTaken,
    ErrorCode::AddressTaken,
    ErrorCode::PoolExhausted,
    ErrorCode::FamilyInUse,
    ErrorCode::StaticPeersAffected,
    ErrorCode::VersionMismatch,
    ErrorCode::InUse,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
    ErrorCode::NoLeader,
    ErrorCode::PayloadTooLarge,
    ErrorCode::MalformedBody,
    ErrorCode::Internal,
];

#[test]
fn conflict_codes_are_http_409() {
    let conflicts = [
        ErrorCode::CidrOverlap,
        ErrorCode::NameTaken,
        ErrorCode::AddressTaken,
        ErrorCode::PoolExhausted,
        ErrorCode::FamilyInUse,
        ErrorCode::StaticPeersAffected,
        ErrorCode::VersionMismatch,
        ErrorCode::InUse,
    ];
    for code in conflicts {
        assert_eq!(code.http_status(), 409, "{code}");
        assert!(DomainError::new(code, "x").is_conflict(), "{code}");
    }
    for code in ALL_CODES.into_iter().filter(|c| !conflicts.contains(c)) {
        assert_ne!(code.http_status(), 409, "{code}");
        assert!(!DomainError::new(code, "x").is_conflict(), "{code}");
    }
}

#[test]
fn edge_and_not_found_codes_have_their_own_statuses_and_the_rest_are_400() {
    let special = [
        (ErrorCode::NotFound, 404),
        (ErrorCode::Unauthorized, 401),
        (ErrorCode::Forbidden, 403),
        (ErrorCode::NoLeader, 503),
        (ErrorCode::PayloadTooLarge, 413),
        (ErrorCode::Internal, 500),
    ];
    for (code, status) in special {
        assert_eq!(code.http_status(), status, "{code}");
    }
    for code in [
        ErrorCode::MissingField,
        ErrorCode::FieldNotAllowed,
        ErrorCode::InvalidName,
        ErrorCode::InvalidCidr,
        ErrorCode::InvalidAddress,
        ErrorCode::WrongFamily,
        ErrorCode::PrefixLength,
        ErrorCode::HostBitsSet,
        ErrorCode::AddressOutsidePrefix,
        ErrorCode::ReservedAddress,
        ErrorCode::InvalidEndpoint,
        ErrorCode::InvalidPort,
        ErrorCode::InvalidValue,
        ErrorCode::ImmutableField,
        ErrorCode::UnknownReference,
        ErrorCode::RouteFamilyUnsupported,
        ErrorCode::MappingOutsideRoute,
        ErrorCode::NotAJump,
        ErrorCode::MalformedBody,
    ] {
        assert_eq!(code.http_status(), 400, "{code}");
    }
    assert!(DomainError::not_found("peer", UUID).is_not_found());
    assert_eq!(DomainError::not_found("peer", UUID).http_status(), 404);
}

#[test]
fn error_code_strings_are_unique_snake_case_and_match_serde_and_display() {
    let strings: HashSet<&str> = ALL_CODES.iter().map(|c| c.as_str()).collect();
    assert_eq!(strings.len(), ALL_CODES.len(), "duplicate as_str");
    for code in ALL_CODES {
        let s = code.as_str();
        assert!(
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{s}"
        );
        assert_eq!(serde_json::to_value(code).unwrap(), json!(s));
        assert_eq!(serde_json::from_value::<ErrorCode>(json!(s)).unwrap(), code);
        assert_eq!(code.to_string(), s);
    }
    assert_eq!(ErrorCode::PoolExhausted.as_str(), "pool_exhausted");
    assert_eq!(ErrorCode::CidrOverlap.as_str(), "cidr_overlap");
    assert_eq!(ErrorCode::NotAJump.as_str(), "not_a_jump");
}

#[test]
fn nested_error_fields_are_prefixed_with_the_parent_path() {
    let e = DomainError::field(ErrorCode::InvalidCidr, "target", "x").in_field("rules[3]");
    assert_eq!(e.field.as_deref(), Some("rules[3].target"));
    let e = DomainError::field(ErrorCode::InvalidCidr, "[1]", "x").in_field("dns_servers");
    assert_eq!(e.field.as_deref(), Some("dns_servers[1]"));
    let e = DomainError::new(ErrorCode::InvalidCidr, "x").in_field("rules[0]");
    assert_eq!(e.field.as_deref(), Some("rules[0]"));
}

#[test]
fn ipam_errors_map_to_their_domain_codes_on_the_given_field() {
    let prefix: IpNet = "10.0.0.0/30".parse().unwrap();
    let addr = ip("10.0.0.1");
    let cases = [
        (
            IpamError::Exhausted { prefix },
            ErrorCode::PoolExhausted,
            409,
        ),
        (
            IpamError::OutsidePrefix { addr, prefix },
            ErrorCode::AddressOutsidePrefix,
            400,
        ),
        (
            IpamError::Reserved { addr, prefix },
            ErrorCode::ReservedAddress,
            400,
        ),
        (
            IpamError::AlreadyAllocated { addr },
            ErrorCode::AddressTaken,
            409,
        ),
        (IpamError::NotAllocated { addr }, ErrorCode::Internal, 500),
    ];
    for (err, code, status) in cases {
        let d = err.into_domain("ipv4_address");
        assert_eq!(
            (d.code, d.field.as_deref(), d.http_status()),
            (code, Some("ipv4_address"), status)
        );
    }
}

#[test]
fn domain_error_serializes_code_field_detail_and_items() {
    let e = DomainError::field(ErrorCode::WrongFamily, "ipv4_cidr", "nope");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"code": "wrong_family", "field": "ipv4_cidr", "detail": "nope", "items": []})
    );
    let e = DomainError::new(ErrorCode::StaticPeersAffected, "x").with_items(vec![UUID.into()]);
    assert_eq!(serde_json::to_value(&e).unwrap()["items"], json!([UUID]));
}
