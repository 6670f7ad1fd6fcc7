//! Lists page with `?limit=` and the `next` cursor (`?after=`), so no answer has to grow with
//! the state; without `limit` a list answers every item, as before.

use crate::common::*;
use serde_json::{json, Value};

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn network_with_peers(c: &Cluster, n: usize) -> String {
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    for i in 0..n {
        c.create(
            &format!("/networks/{nid}/peers"),
            json!({"name": format!("p{i}")}),
        )
        .await;
    }
    nid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_page_by_limit_and_cursor_in_creation_order_until_next_is_null() {
    let c = Cluster::single().await;
    let nid = network_with_peers(&c, 7).await;
    let mut seen = Vec::new();
    let mut path = format!("/networks/{nid}/peers?limit=3");
    let mut pages = 0;
    loop {
        let (status, page) = c.get(1, &path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let got = names(&page);
        assert!(got.len() <= 3, "{page}");
        seen.extend(got);
        match page["next"].as_str() {
            Some(next) => {
                // The cursor is the last item's id.
                assert_eq!(page["items"][2]["id"], next, "{page}");
                path = format!("/networks/{nid}/peers?limit=3&after={next}");
            }
            None => {
                assert!(page["next"].is_null(), "{page}");
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
    assert_eq!(seen, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_without_limit_answers_every_item_and_no_next() {
    let c = Cluster::single().await;
    let nid = network_with_peers(&c, 4).await;
    let (status, all) = c.get(1, &format!("/networks/{nid}/peers")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(names(&all), ["p0", "p1", "p2", "p3"]);
    assert!(all["next"].is_null(), "{all}");
    // A page that ends exactly at the last item has no next either.
    let (_, page) = c.get(1, &format!("/networks/{nid}/peers?limit=4")).await;
    assert_eq!(names(&page).len(), 4);
    assert!(page["next"].is_null(), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_groups_and_tokens_take_limit_and_after_too() {
    let c = Cluster::single().await;
    for name in ["a", "b", "c"] {
        c.create(
            "/networks",
            json!({"name": name, "ipv4_cidr": format!("10.{}.0.0/24", name.as_bytes()[0])}),
        )
        .await;
    }
    let (status, first) = c.get(1, "/networks?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(names(&first), ["a", "b"]);
    let next = first["next"].as_str().expect("a next cursor").to_string();
    let (_, rest) = c.get(1, &format!("/networks?limit=2&after={next}")).await;
    assert_eq!(names(&rest), ["c"]);
    assert!(rest["next"].is_null(), "{rest}");

    let nid = id_of(&first["items"][0]);
    let (status, groups) = c.get(1, &format!("/networks/{nid}/groups?limit=1")).await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(names(&groups), ["default"]);
    assert!(groups["next"].is_null(), "one group, one page: {groups}");
    let (status, tokens) = c.get(1, "/tokens?limit=1").await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["next"].is_null(), "{tokens}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_limit_or_an_unknown_cursor_is_a_400_naming_the_parameter() {
    let c = Cluster::single().await;
    let nid = network_with_peers(&c, 1).await;
    for bad in ["0", "-1", "ten", "10001"] {
        let (status, body) = c
            .get(1, &format!("/networks/{nid}/peers?limit={bad}"))
            .await;
        assert_eq!(status, 400, "limit={bad}: {body}");
        assert_eq!(body["code"], "invalid_value", "{body}");
        assert_eq!(body["field"], "limit", "{body}");
    }
    let gone = "00000000-0000-0000-0000-000000000001";
    let (status, body) = c
        .get(1, &format!("/networks/{nid}/peers?limit=1&after={gone}"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_value", "{body}");
    assert_eq!(body["field"], "after", "{body}");
    let (status, body) = c.get(1, &format!("/networks/{nid}/peers?page=2")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "page", "{body}");
}
