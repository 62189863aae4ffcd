//! The cluster frontend: inter-node links (authenticated with the cookie), the metadata as a
//! Raft group (openraft, kept behind this module), membership (forming, joining, leaving)
//! and the cluster's status.
//!
//! Disc nodes are the Raft group's voters and keep its log on disk; RAM nodes are learners:
//! they receive and apply every entry but keep log and metadata in memory only, and do not
//! vote (a node that forgets what it voted for cannot vote safely). A cluster always keeps
//! at least one disc node.

mod applied;
mod batch;
mod hand_over;
mod handshake;
mod links;
mod membership;
mod mirrors;
pub mod node;
mod node_type;
mod propose;
mod queues;
mod raft;
mod reset;
mod serve;
pub mod status;
mod waiters;
mod wire;

use crate::broker::Broker;
use crate::config::{ClusterConfig, NodeType};
use links::Links;
use node::Member;
use raft::types::Raft;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Log entries between metadata snapshots.
const SNAPSHOT_EVERY: u64 = 2000;

pub struct Cluster {
    pub broker: Arc<Broker>,
    links: Arc<Links>,
    /// The metadata's Raft group; replaced when the node is reset.
    raft: parking_lot::RwLock<Raft>,
    /// The log storage, kept to start a new group on after a reset or a change of type.
    log: parking_lot::RwLock<raft::log_store::LogStore>,
    raft_config: Arc<openraft::Config>,
    pub me: Member,
    /// Disc or RAM: as configured, or as `change_cluster_node_type` last set it.
    node_type: parking_lot::RwLock<NodeType>,
    config: ClusterConfig,
    /// The inter-node listener's address.
    pub listen_addr: SocketAddr,
    /// Commands waiting for the leader's next write, when this node leads.
    batcher: batch::Batcher,
    /// Proposals of this node waiting for their outcome here.
    waiters: Arc<waiters::Waiters>,
    /// How far the other members applied the log, while this node leads.
    applied: Arc<applied::Applied>,
    /// Queues homed on other nodes, and other nodes' use of queues here.
    remotes: Arc<queues::Remotes>,
    /// Where the current group's state machine stopped, once it has.
    stopped_at: parking_lot::Mutex<raft::state_machine::StoppedAt>,
    /// Held while the node changes type.
    changing_type: tokio::sync::Mutex<()>,
    /// This cluster, for the futures it hands out.
    this: std::sync::OnceLock<std::sync::Weak<Cluster>>,
}

impl Cluster {
    /// Binds the inter-node listener, starts the Raft group on this node's storage, and
    /// forms or joins the cluster (in the background when peers must answer first).
    pub async fn start(broker: Arc<Broker>) -> anyhow::Result<Arc<Cluster>> {
        let config = (broker.config.cluster.clone())
            .ok_or_else(|| anyhow::anyhow!("no [cluster] section"))?;
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cluster.listen: cannot listen on {}: {e}", config.listen)
            })?;
        let listen_addr = listener.local_addr()?;
        let advertised = if config.advertise.is_empty() {
            listen_addr.to_string()
        } else {
            config.advertise.clone()
        };
        let me = Member {
            name: broker.config.node_name.clone(),
            addr: advertised,
        };
        let tick = Duration::from_secs_f64(config.net_ticktime);
        let links = Links::new(me.clone(), &config.cookie, tick);
        let node_type = config.effective_node_type(&broker.config.data_dir);
        let log = match node_type {
            NodeType::Disc => {
                raft::log_store::LogStore::open(&broker.config.data_dir.join("cluster"))?
            }
            NodeType::Ram => raft::log_store::LogStore::memory(),
        };
        let waiters = Arc::new(waiters::Waiters::new(me.id()));
        let state = raft::state_machine::StateMachine::new(broker.clone(), waiters.clone())?;
        let stopped_at = parking_lot::Mutex::new(state.stopped_at());
        let raft_config = openraft::Config {
            cluster_name: "warren".into(),
            heartbeat_interval: 250,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            // The log in memory stays bounded: every SNAPSHOT_EVERY entries the metadata is
            // snapshotted and the log before it purged (a node further behind gets the
            // snapshot).
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY),
            max_in_snapshot_log_to_keep: SNAPSHOT_EVERY / 2,
            ..Default::default()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("raft configuration: {e}"))?;
        let applied = Arc::new(applied::Applied::default());
        let network = raft::network::Network {
            links: links.clone(),
            applied: applied.clone(),
        };
        let raft_config = Arc::new(raft_config);
        let raft = Raft::new(me.id(), raft_config.clone(), network, log.clone(), state)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the cluster's metadata log: {e}"))?;
        let cluster = Arc::new(Cluster {
            broker: broker.clone(),
            links: links.clone(),
            raft: parking_lot::RwLock::new(raft),
            log: parking_lot::RwLock::new(log),
            raft_config,
            me,
            node_type: parking_lot::RwLock::new(node_type),
            config,
            listen_addr,
            this: std::sync::OnceLock::new(),
            stopped_at,
            changing_type: tokio::sync::Mutex::new(()),
            batcher: batch::Batcher::default(),
            waiters: waiters.clone(),
            applied,
            remotes: queues::Remotes::new(links.clone(), broker.clone(), waiters.clone()),
        });
        let _ = cluster.this.set(Arc::downgrade(&cluster));
        let serve: Arc<dyn links::Serve> = cluster.clone();
        links.serve_with(Arc::downgrade(&serve));
        tokio::spawn(links.clone().accept_loop(listener));
        tokio::spawn(cluster.clone().watch_links());
        tokio::spawn(cluster.clone().sweep_dead_homes());
        broker.set_replicator(cluster.clone());
        tracing::info!(
            "cluster listening on {} as {} ({} node)",
            cluster.listen_addr,
            cluster.me.name,
            node_type.as_str()
        );
        cluster.clone().form_or_join().await?;
        tokio::spawn(cluster.clone().watch_members());
        tokio::spawn(cluster.clone().watch_partition());
        tokio::spawn(cluster.clone().place_mirrors());
        Ok(cluster)
    }

    /// Disc or RAM.
    pub fn node_type(&self) -> NodeType {
        *self.node_type.read()
    }

    /// The current Raft group (a cheap handle).
    fn raft(&self) -> Raft {
        self.raft.read().clone()
    }

    /// openraft's network for a new group on this node.
    fn network(&self) -> raft::network::Network {
        raft::network::Network {
            links: self.links.clone(),
            applied: self.applied.clone(),
        }
    }

    fn this(&self) -> Option<Arc<Cluster>> {
        self.this.get().and_then(std::sync::Weak::upgrade)
    }

    /// Stops the Raft group (on shutdown).
    pub async fn shutdown(&self) {
        let _ = self.raft().shutdown().await;
    }
}
