//! A cluster's metadata through failures, with real processes: every node restarted,
//! a node killed with SIGKILL while the others carry on, and `pause_minority` when a node
//! sees only a minority of the cluster (the others stopped with SIGSTOP).

use crate::common;

use common::cluster::{self, Node};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn put_vhost(node: &Node, name: &str) {
    let r = node
        .api()
        .put(&format!("/api/vhosts/{name}"), &json!({}))
        .await
        .expect("put");
    assert_eq!(r.status, 201, "{}: {}", node.spec.name, r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_every_node_in_any_order_keeps_the_metadata() {
    let specs = cluster::specs(3);
    let nodes = cluster::start_specs(specs.clone()).await;
    put_vhost(&nodes[0], "kept").await;
    let conn = lapin::Connection::connect(&nodes[1].broker.url(), Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    let durable = lapin::options::ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        "kept-x".into(),
        lapin::ExchangeKind::Fanout,
        durable,
        Default::default(),
    )
    .await
    .expect("declares");
    drop(conn);
    let dirs: Vec<_> = nodes.into_iter().map(|n| n.broker.stop()).collect();
    // Back in reverse order.
    let mut back = Vec::new();
    for (dir, spec) in dirs.into_iter().zip(specs).rev() {
        back.push(Node::start_in(dir, spec));
    }
    for node in &back {
        node.await_members(3, 0, WAIT).await;
        assert_eq!(
            node.get("/api/vhosts/kept").await.0,
            200,
            "{}",
            node.spec.name
        );
        let (code, x) = node.get("/api/exchanges/%2F/kept-x").await;
        assert_eq!(code, 200, "{}: {x}", node.spec.name);
    }
    // And the cluster still takes changes.
    put_vhost(&back[2], "after-restart").await;
    for node in &back {
        node.await_vhost("after-restart").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_misses_nothing_and_the_others_carry_on() {
    let specs = cluster::specs(3);
    let mut nodes = cluster::start_specs(specs.clone()).await;
    let killed = nodes.pop().expect("three nodes");
    let dir = killed.broker.kill();
    // The two left are a majority: changes go on.
    put_vhost(&nodes[0], "while-down").await;
    nodes[1].await_vhost("while-down").await;
    let s = nodes[0].status().await;
    assert_eq!(s["running_nodes"].as_array().map(Vec::len), Some(2), "{s}");
    // The killed node comes back with what it missed.
    let back = Node::start_in(dir, specs[2].clone());
    back.await_members(3, 0, WAIT).await;
    back.await_vhost("while-down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_minority_stops_serving_clients_until_a_majority_is_back() {
    let mut specs = cluster::specs(3);
    for s in &mut specs {
        s.pause_minority = true;
    }
    let nodes = cluster::start_specs(specs).await;
    let url = nodes[0].broker.url();
    let conn = lapin::Connection::connect(&url, Default::default())
        .await
        .expect("connects");
    // Node 1 alone: it sees one node of three.
    nodes[1].broker.signal("STOP");
    nodes[2].broker.signal("STOP");
    let deadline = std::time::Instant::now() + WAIT;
    while conn.status().connected() {
        assert!(
            std::time::Instant::now() < deadline,
            "the client stays connected to a minority"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        nodes[0]
            .broker
            .wait_for_log("pausing (pause_minority)", WAIT)
            .await
            .is_some(),
        "node 1 logs that it pauses"
    );
    let refused = lapin::Connection::connect(&url, Default::default()).await;
    assert!(refused.is_err(), "a paused node takes no new client");
    // The others return: node 1 serves again.
    nodes[1].broker.signal("CONT");
    nodes[2].broker.signal("CONT");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(c) = lapin::Connection::connect(&url, Default::default()).await {
            common::round_trip(&c, b"back").await;
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node 1 never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nodes[0].await_members(3, 0, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_far_behind_catches_up_from_a_snapshot() {
    let specs = cluster::specs(3);
    let mut nodes = cluster::start_specs(specs.clone()).await;
    put_vhost(&nodes[0], "doomed").await;
    nodes[2].await_vhost("doomed").await;
    let dir = nodes.pop().expect("three").broker.kill();
    // While it is down: a vhost it has goes, and enough changes are made that the log it
    // would need is purged (a snapshot every 2000 entries).
    let gone = nodes[0]
        .api()
        .delete("/api/vhosts/doomed")
        .await
        .expect("delete");
    assert_eq!(gone.status, 204, "{}", gone.text());
    // One change at a time: the leader writes changes that arrive together as one entry,
    // so concurrent writers would make fewer entries than changes.
    let api = nodes[1].api();
    for i in 0..2100 {
        let body = json!({"password": "pw", "tags": ""});
        let r = api
            .put(&format!("/api/users/u{i}"), &body)
            .await
            .expect("put");
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let back = Node::start_in(dir, specs[2].clone());
    back.await_members(3, 0, WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    while back.get("/api/users/u2099").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let installed = back
        .broker
        .wait_for_log("installed a metadata snapshot", WAIT)
        .await;
    assert!(installed.is_some(), "the node caught up through a snapshot");
    assert_eq!(
        back.get("/api/vhosts/doomed").await.0,
        404,
        "the snapshot's deletions apply"
    );
    let (_, users) = back.get("/api/users").await;
    let n = users.as_array().map_or(0, Vec::len);
    assert_eq!(n, 2101, "every user is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_keep_serving_with_two_down() {
    let specs = cluster::specs(5);
    let mut nodes = cluster::start_specs(specs.clone()).await;
    put_vhost(&nodes[4], "five").await;
    for node in &nodes {
        node.await_vhost("five").await;
    }
    // Two of five killed: the three left are a majority and take changes.
    let d5 = nodes.pop().expect("five").broker.kill();
    let d4 = nodes.pop().expect("four").broker.kill();
    put_vhost(&nodes[0], "three-left").await;
    for node in &nodes {
        node.await_vhost("three-left").await;
    }
    let s = nodes[2].status().await;
    assert_eq!(s["running_nodes"].as_array().map(Vec::len), Some(3), "{s}");
    assert_eq!(s["disc_nodes"].as_array().map(Vec::len), Some(5), "{s}");
    // Both come back and catch up.
    let back = [
        Node::start_in(d4, specs[3].clone()),
        Node::start_in(d5, specs[4].clone()),
    ];
    for node in &back {
        node.await_members(5, 0, WAIT).await;
        node.await_vhost("three-left").await;
    }
}
