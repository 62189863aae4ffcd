//! Who a cluster node is: its name (RabbitMQ's `rabbit@host`), the address other nodes
//! reach it at, and the number the replicated log knows it by.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A node's number in the replicated log: derived from its name, so every node computes
/// the same one without asking.
pub type NodeId = u64;

/// The node a number stands for.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub name: String,
    /// The inter-node address (`host:port`).
    pub addr: String,
}

impl Member {
    pub fn id(&self) -> NodeId {
        node_id(&self.name)
    }
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.addr)
    }
}

/// The first 63 bits of the name's SHA-256 (63: JSON readers that hold numbers as
/// doubles lose nothing that tells two nodes apart in practice).
pub fn node_id(name: &str) -> NodeId {
    let d = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b) >> 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_differ_by_name() {
        assert_eq!(node_id("warren@a"), node_id("warren@a"));
        assert_ne!(node_id("warren@a"), node_id("warren@b"));
        assert!(node_id("warren@a") < 1 << 63);
    }
}
