//! Cluster membership with real processes: forming from peer lists, metadata replicated
//! to every node, RAM nodes, joining, forgetting, and refusing to lose the last disc node.

use crate::common;

use common::cluster::{self, free_port, Node, Spec};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_cluster_and_share_their_metadata() {
    let nodes = cluster::start(3).await;
    let s = nodes[2].status().await;
    assert_eq!(s["disc_nodes"].as_array().map(Vec::len), Some(3), "{s}");

    // A vhost, a user and permissions made on one node are on every node.
    let api = nodes[0].api();
    let put = api
        .put("/api/vhosts/shared", &json!({}))
        .await
        .expect("put");
    assert_eq!(put.status, 201, "{}", put.text());
    let user = json!({"password": "pw", "tags": "management"});
    assert_eq!(
        api.put("/api/users/alice", &user)
            .await
            .expect("user")
            .status,
        201
    );
    let perms = json!({"configure": ".*", "write": ".*", "read": ".*"});
    let p = api
        .put("/api/permissions/shared/alice", &perms)
        .await
        .expect("perm");
    assert_eq!(p.status, 201, "{}", p.text());
    for node in &nodes {
        let (code, v) = node.get("/api/vhosts/shared").await;
        assert_eq!(code, 200, "{}: {v}", node.spec.name);
        let (code, v) = node.get("/api/permissions/shared/alice").await;
        assert_eq!(code, 200, "{}: {v}", node.spec.name);
    }

    // An exchange declared over AMQP on node 3 is known on node 1.
    let conn = lapin::Connection::connect(&nodes[2].broker.url(), Default::default())
        .await
        .expect("connects to node 3");
    let ch = conn.create_channel().await.expect("channel");
    ch.exchange_declare(
        "events".into(),
        lapin::ExchangeKind::Topic,
        lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        Default::default(),
    )
    .await
    .expect("declares");
    let (code, v) = nodes[0].get("/api/exchanges/%2F/events").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["type"], "topic");

    // Every node lists every node.
    let (_, listed) = nodes[1].get("/api/nodes").await;
    let names: Vec<&str> = (listed.as_array().expect("a list").iter())
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "warren-1@localhost",
            "warren-2@localhost",
            "warren-3@localhost"
        ]
    );
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .all(|n| n["running"] == true && n["mem_used"].as_u64() > Some(0)),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ram_node_joins_follows_and_the_last_disc_node_cannot_be_forgotten() {
    let disc_port = free_port();
    let disc = Node::start(Spec::new("disc@localhost", disc_port, &[]));
    disc.await_members(1, 0, WAIT).await;
    let mut spec = Spec::new("ram@localhost", free_port(), &[disc_port]);
    spec.ram = true;
    let ram = Node::start(spec);
    let s = ram.await_members(1, 1, WAIT).await;
    assert_eq!(s["ram_nodes"], json!(["ram@localhost"]));

    // Metadata made on the disc node reaches the RAM node.
    let put = disc
        .api()
        .put("/api/vhosts/v1", &json!({}))
        .await
        .expect("put");
    assert_eq!(put.status, 201);
    let deadline = std::time::Instant::now() + WAIT;
    while ram.get("/api/vhosts/v1").await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the vhost never reached the RAM node"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And a change asked of the RAM node goes through the cluster's log.
    let put = ram
        .api()
        .put("/api/vhosts/v2", &json!({}))
        .await
        .expect("put");
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(disc.get("/api/vhosts/v2").await.0, 200);

    // The only disc node cannot leave.
    let r = ram
        .api()
        .post("/api/cluster/forget", &json!({"node": "disc@localhost"}))
        .await
        .expect("post");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("only disc node"), "{}", r.text());

    // The RAM node can; afterwards the disc node is alone.
    let r = disc
        .api()
        .post("/api/cluster/forget", &json!({"node": "ram@localhost"}))
        .await
        .expect("post");
    assert_eq!(r.status, 204, "{}", r.text());
    disc.await_members(1, 0, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_cookie_is_refused() {
    let a_port = free_port();
    let a = Node::start(Spec::new("a@localhost", a_port, &[]));
    a.await_members(1, 0, WAIT).await;
    let mut spec = Spec::new("b@localhost", free_port(), &[a_port]);
    spec.cookie = "a-different-cookie".into();
    let b = Node::start(spec);
    let refused = a.broker.wait_for_log("wrong cookie", WAIT).await;
    assert!(refused.is_some(), "node a logs the refusal");
    let s = a.status().await;
    assert_eq!(s["disc_nodes"], json!(["a@localhost"]), "{s}");
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_cluster_and_reset_through_the_api() {
    let a = Node::start(Spec::new("a@localhost", free_port(), &[]));
    let b = Node::start(Spec::new("b@localhost", free_port(), &[]));
    a.await_members(1, 0, WAIT).await;
    b.await_members(1, 0, WAIT).await;
    // b had its own vhost; joining resets it and takes a's definitions.
    assert_eq!(
        b.api()
            .put("/api/vhosts/only-b", &json!({}))
            .await
            .expect("put")
            .status,
        201
    );
    assert_eq!(
        a.api()
            .put("/api/vhosts/only-a", &json!({}))
            .await
            .expect("put")
            .status,
        201
    );
    let r = b
        .api()
        .post("/api/cluster/join", &json!({"node": a.spec.addr()}))
        .await
        .expect("post");
    assert_eq!(r.status, 204, "{}", r.text());
    b.await_members(2, 0, WAIT).await;
    assert_eq!(b.get("/api/vhosts/only-a").await.0, 200);
    assert_eq!(b.get("/api/vhosts/only-b").await.0, 404);

    // Reset: b leaves, and stands alone with the configured definitions.
    let r = b
        .api()
        .post("/api/cluster/reset", &json!({}))
        .await
        .expect("post");
    assert_eq!(r.status, 204, "{}", r.text());
    b.await_members(1, 0, WAIT).await;
    a.await_members(1, 0, WAIT).await;
    assert_eq!(b.get("/api/vhosts/only-a").await.0, 404);
    assert_eq!(b.get("/api/vhosts/%2F").await.0, 200);
}

/// `POST /api/cluster/node-type` (`warren ctl change_cluster_node_type`) on `node`.
async fn change_type(node: &Node, to: &str) -> (u16, String) {
    let r = (node.api())
        .post("/api/cluster/node-type", &json!({"type": to}))
        .await
        .expect("post");
    (r.status, r.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_change_type_at_runtime_and_keep_it_across_a_restart() {
    let specs = cluster::specs(3);
    let mut nodes = cluster::start_specs(specs.clone()).await;
    let files = |n: &Node| {
        let d = n.broker.data_dir();
        (
            d.join("cluster").join("raft-log").exists(),
            d.join("definitions.json").exists(),
        )
    };
    assert_eq!(files(&nodes[2]), (true, true));

    // warren-3 becomes a RAM node: a learner whose metadata leaves the disk.
    let (code, text) = change_type(&nodes[2], "ram").await;
    assert_eq!(code, 204, "{text}");
    let s = nodes[0].await_members(2, 1, WAIT).await;
    assert_eq!(s["ram_nodes"], json!(["warren-3@localhost"]), "{s}");
    assert_eq!(files(&nodes[2]), (false, false));
    assert_eq!(
        nodes[0]
            .api()
            .put("/api/vhosts/v1", &json!({}))
            .await
            .expect("put")
            .status,
        201
    );
    nodes[2].await_vhost("v1").await;

    // warren-2 too; then warren-1, the last disc node, is refused.
    assert_eq!(change_type(&nodes[1], "ram").await.0, 204);
    nodes[0].await_members(1, 2, WAIT).await;
    let (code, text) = change_type(&nodes[0], "ram").await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("only disc node"), "{text}");
    // A type that is not one is refused by name.
    let (code, text) = change_type(&nodes[0], "floppy").await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("floppy"), "{text}");

    // warren-3 becomes a disc node again, then warren-1 (the leader, since it was the only
    // voter) a RAM node: the disc node left leads and the cluster keeps taking changes.
    let (code, text) = change_type(&nodes[2], "disc").await;
    assert_eq!(code, 204, "{text}");
    nodes[0].await_members(2, 1, WAIT).await;
    assert_eq!(files(&nodes[2]), (true, true));
    let (code, text) = change_type(&nodes[0], "ram").await;
    assert_eq!(code, 204, "{text}");
    let s = nodes[2].await_members(1, 2, WAIT).await;
    assert_eq!(s["disc_nodes"], json!(["warren-3@localhost"]), "{s}");
    let put = nodes[1]
        .api()
        .put("/api/vhosts/v2", &json!({}))
        .await
        .expect("put");
    assert_eq!(put.status, 201, "{}", put.text());
    nodes[0].await_vhost("v2").await;

    // A restart keeps each node's new type, though the configuration says disc.
    let two = nodes.remove(1);
    let dir = two.broker.kill();
    let two = Node::start_in(dir, specs[1].clone());
    let s = two.await_members(1, 2, WAIT).await;
    assert_eq!(
        s["ram_nodes"],
        json!(["warren-1@localhost", "warren-2@localhost"]),
        "{s}"
    );
    two.await_vhost("v2").await;
}
