//! Clusters of real Warren processes on loopback ports: each node a child process with its
//! own data dir and a configuration naming its peers.

use super::ChildBroker;
use serde_json::Value;
use std::time::Duration;

pub const COOKIE: &str = "test-cluster-cookie";

/// A port free right now (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    l.local_addr().expect("addr").port()
}

/// How a node starts.
#[derive(Clone)]
pub struct Spec {
    pub name: String,
    pub cluster_port: u16,
    pub peers: Vec<u16>,
    pub ram: bool,
    pub cookie: String,
    pub pause_minority: bool,
    /// Environment variables for the node's process (test aids).
    pub env: Vec<(String, String)>,
}

impl Spec {
    pub fn new(name: &str, cluster_port: u16, peers: &[u16]) -> Spec {
        Spec {
            name: name.into(),
            cluster_port,
            peers: peers.to_vec(),
            ram: false,
            cookie: COOKIE.into(),
            pause_minority: false,
            env: Vec::new(),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.cluster_port)
    }

    fn toml(&self) -> String {
        let peers: Vec<String> = (self.peers.iter())
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect();
        format!(
            "node_name = \"{}\"\n[cluster]\nlisten = \"127.0.0.1:{}\"\ncookie = \"{}\"\npeers = [{}]\nnode_type = \"{}\"\nnet_ticktime = 3\npartition_handling = \"{}\"\n",
            self.name,
            self.cluster_port,
            self.cookie,
            peers.join(", "),
            if self.ram { "ram" } else { "disc" },
            if self.pause_minority { "pause_minority" } else { "ignore" }
        )
    }
}

pub struct Node {
    pub spec: Spec,
    pub broker: ChildBroker,
}

impl Node {
    pub fn start(spec: Spec) -> Node {
        Self::start_in(tempfile::tempdir().expect("tempdir"), spec)
    }

    /// Starts on an existing data dir (a restart).
    pub fn start_in(dir: tempfile::TempDir, spec: Spec) -> Node {
        let config = dir.path().join("warren.toml");
        std::fs::write(&config, spec.toml()).expect("writes the config");
        let config = config.to_string_lossy().to_string();
        let broker = ChildBroker::spawn_in_env(dir, &["--config", &config], &spec.env);
        Node { spec, broker }
    }

    pub fn api(&self) -> warren::ctl::client::Client {
        self.broker.api()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.api().get(path).await.expect("the API answers");
        (r.status, r.json())
    }

    /// Waits until this node has vhost `name` (made through any node).
    pub async fn await_vhost(&self, name: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.get(&format!("/api/vhosts/{name}")).await.0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: no vhost {name}",
                self.spec.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /api/cluster`.
    pub async fn status(&self) -> Value {
        let (code, v) = self.get("/api/cluster").await;
        assert_eq!(code, 200, "{v}");
        v
    }

    /// Waits until this node sees `disc` disc nodes, `ram` RAM nodes, all running, and a
    /// leader; panics with the last status after `limit`.
    pub async fn await_members(&self, disc: usize, ram: usize, limit: Duration) -> Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let s = self.status().await;
            let n = |k: &str| s[k].as_array().map_or(0, Vec::len);
            if n("disc_nodes") == disc
                && n("ram_nodes") == ram
                && n("running_nodes") == disc + ram
                && !s["leader"].is_null()
            {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: expected {disc} disc and {ram} ram nodes running, got {s}",
                self.spec.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Specs for a cluster of `n` disc nodes named `warren-1@localhost`... that form it
/// through one peer list they all share (each ignores its own address in it).
pub fn specs(n: usize) -> Vec<Spec> {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    (0..n)
        .map(|i| Spec::new(&format!("warren-{}@localhost", i + 1), ports[i], &ports))
        .collect()
}

/// Starts a cluster of `n` disc nodes (see `specs`) and waits until each sees all.
pub async fn start(n: usize) -> Vec<Node> {
    start_specs(specs(n)).await
}

pub async fn start_specs(specs: Vec<Spec>) -> Vec<Node> {
    let n = specs.len();
    let nodes: Vec<Node> = specs.into_iter().map(Node::start).collect();
    for node in &nodes {
        node.await_members(n, 0, Duration::from_secs(30)).await;
    }
    nodes
}
