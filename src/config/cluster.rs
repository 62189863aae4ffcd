//! `[cluster]`: this node's place in a cluster: the inter-node listener, the shared secret
//! (RabbitMQ's Erlang cookie), the peers it forms or joins a cluster with on start, its type
//! (disc or RAM), how fast a dead peer is noticed, and what a minority does in a partition.

use serde::{Deserialize, Serialize};

use super::errors::Problem;

/// A disc node votes in the metadata's Raft group and keeps the log on disk; a RAM node
/// follows it in memory only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    #[default]
    #[serde(alias = "disk")]
    Disc,
    Ram,
}

impl NodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Disc => "disc",
            NodeType::Ram => "ram",
        }
    }

    pub fn parse(s: &str) -> Option<NodeType> {
        match s.trim() {
            "disc" | "disk" => Some(NodeType::Disc),
            "ram" => Some(NodeType::Ram),
            _ => None,
        }
    }
}

/// Where a node keeps the type `change_cluster_node_type` last gave it (it outlives a
/// restart, as in RabbitMQ, and wins over `cluster.node_type`).
pub fn node_type_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("cluster").join("node_type")
}

impl ClusterConfig {
    /// The node's type: as last changed at runtime, or as configured.
    pub fn effective_node_type(&self, data_dir: &std::path::Path) -> NodeType {
        let changed = std::fs::read_to_string(node_type_file(data_dir)).ok();
        changed
            .as_deref()
            .and_then(NodeType::parse)
            .unwrap_or(self.node_type)
    }
}

/// RabbitMQ's `cluster_partition_handling` (the modes Warren has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PartitionHandling {
    /// Keep serving on both sides (metadata changes still need a majority of disc nodes).
    #[default]
    Ignore,
    /// A node that sees no more than half of the cluster's nodes stops serving clients
    /// until it sees a majority again.
    PauseMinority,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Inter-node listener, e.g. `"127.0.0.1:25672"`.
    pub listen: String,
    /// The address other nodes reach this one at; `listen` when empty.
    pub advertise: String,
    /// Shared secret every node of the cluster has (RabbitMQ's cookie): inter-node
    /// connections prove they know it, and are refused otherwise.
    pub cookie: String,
    /// Inter-node addresses of the other nodes: on start, a node without cluster state
    /// joins the first of them in a cluster; the node with the smallest name among itself
    /// and its peers forms the cluster when none is.
    pub peers: Vec<String>,
    /// `disc` or `ram`, for a node that joins through `peers`.
    pub node_type: NodeType,
    /// Seconds without hearing from a peer before it counts as down (RabbitMQ's
    /// `net_ticktime`).
    pub net_ticktime: f64,
    /// `ignore` or `pause_minority`.
    pub partition_handling: PartitionHandling,
    /// Where a new queue lives when neither its `x-queue-master-locator` argument nor a
    /// `queue-master-locator` policy says (RabbitMQ's `queue_master_locator`):
    /// `client-local` (the declaring client's node), `min-masters` or `random`.
    pub queue_master_locator: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            listen: "127.0.0.1:25672".into(),
            advertise: String::new(),
            cookie: String::new(),
            peers: Vec::new(),
            node_type: NodeType::Disc,
            net_ticktime: 60.0,
            partition_handling: PartitionHandling::Ignore,
            queue_master_locator: "client-local".into(),
        }
    }
}

impl ClusterConfig {
    /// The address peers dial.
    pub fn advertised(&self) -> &str {
        if self.advertise.is_empty() {
            &self.listen
        } else {
            &self.advertise
        }
    }

    pub(super) fn validate(&self) -> Result<(), Problem> {
        super::validate::check_socket_addr(&self.listen)
            .map_err(|m| Problem::new("cluster.listen", m))?;
        if !self.advertise.is_empty() {
            check_host_port(&self.advertise).map_err(|m| Problem::new("cluster.advertise", m))?;
        }
        if self.cookie.trim().len() < 8 {
            return Err(Problem::new(
                "cluster.cookie",
                "must be set, at least 8 characters, the same on every node",
            ));
        }
        for (i, p) in self.peers.iter().enumerate() {
            check_host_port(p).map_err(|m| Problem::new(format!("cluster.peers[{i}]"), m))?;
        }
        if !(self.net_ticktime.is_finite() && (0.5..=3600.0).contains(&self.net_ticktime)) {
            return Err(Problem::new(
                "cluster.net_ticktime",
                format!(
                    "must be between 0.5 and 3600 seconds, got {}",
                    self.net_ticktime
                ),
            ));
        }
        if !["client-local", "min-masters", "random"].contains(&self.queue_master_locator.as_str())
        {
            return Err(Problem::new(
                "cluster.queue_master_locator",
                format!(
                    "must be client-local, min-masters or random, got {:?}",
                    self.queue_master_locator
                ),
            ));
        }
        Ok(())
    }
}

/// `host:port` with a port number (the host may be a name).
fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected host:port, got {s:?}"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("expected host:port, got {s:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ClusterConfig {
        ClusterConfig {
            cookie: "a-long-secret".into(),
            peers: vec!["127.0.0.1:25673".into(), "node-b:25672".into()],
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn a_full_section_is_valid() {
        assert!(valid().validate().is_ok());
    }

    #[test]
    fn problems_name_their_key() {
        let key = |c: ClusterConfig| c.validate().unwrap_err().key;
        assert_eq!(
            key(ClusterConfig {
                cookie: String::new(),
                ..valid()
            }),
            "cluster.cookie"
        );
        assert_eq!(
            key(ClusterConfig {
                peers: vec!["ok:1".into(), "no-port".into()],
                ..valid()
            }),
            "cluster.peers[1]"
        );
        assert_eq!(
            key(ClusterConfig {
                listen: "nowhere".into(),
                ..valid()
            }),
            "cluster.listen"
        );
        assert_eq!(
            key(ClusterConfig {
                net_ticktime: 0.0,
                ..valid()
            }),
            "cluster.net_ticktime"
        );
    }
}
