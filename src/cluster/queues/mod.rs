//! Queues homed on one node and used from every node. This node is the home of some
//! queues (`served.rs`: traffic from other nodes to them, and their consumers there) and
//! reaches the others' through a [`PeerHome`] per node (`home.rs`: publishes, gets, acks,
//! and its own consumers of those queues, fed with credit). A node whose link goes down
//! takes its consumers and unsettled deliveries with it: the home requeues what they held,
//! and the consumers here are cancelled, or follow a mirrored queue to its new master
//! (`follow.rs`).

pub(crate) mod data;
mod follow;
mod home;
mod mirrors;
mod served;

use super::links::Links;
use super::node::NodeId;
use super::waiters::Waiters;
use crate::broker::Broker;
use data::Data;
use home::PeerHome;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) struct Remotes {
    links: Arc<Links>,
    broker: Arc<Broker>,
    /// The way to each other node's queues, by node id.
    homes: Mutex<HashMap<NodeId, Arc<PeerHome>>>,
    /// Consumers on other nodes of this node's queues, and their holders.
    served: Arc<served::Served>,
    /// Whether this node has applied what the leader had when it started (a node that
    /// restarts may hold queues whose mastership moved meanwhile).
    caught_up: std::sync::atomic::AtomicBool,
    /// Consumers here waiting for their mirrored queue's new master.
    followers: Arc<follow::Followers>,
    /// How far this node has applied the log.
    waiters: Arc<Waiters>,
}

impl Remotes {
    pub(crate) fn new(
        links: Arc<Links>,
        broker: Arc<Broker>,
        waiters: Arc<Waiters>,
    ) -> Arc<Remotes> {
        Arc::new(Remotes {
            served: Arc::default(),
            links,
            broker,
            homes: Mutex::new(HashMap::new()),
            // Until it has applied what the leader had when it started.
            caught_up: false.into(),
            followers: Arc::default(),
            waiters,
        })
    }

    pub(crate) fn set_caught_up(&self, yes: bool) {
        self.caught_up
            .store(yes, std::sync::atomic::Ordering::Release);
    }

    /// The home of queues on node `name` (another node).
    pub(crate) fn home(&self, name: &str) -> Arc<PeerHome> {
        self.homes
            .lock()
            .entry(super::node::node_id(name))
            .or_insert_with(|| PeerHome::new(name, self.links.clone(), self.followers.clone()))
            .clone()
    }

    fn home_by_id(&self, id: NodeId) -> Option<Arc<PeerHome>> {
        self.homes.lock().get(&id).cloned()
    }

    /// Queue traffic from node `from`.
    pub(crate) fn data(&self, from: NodeId, d: Data) {
        match d {
            Data::Consumed { .. }
            | Data::Deliver { .. }
            | Data::Cancelled { .. }
            | Data::CancelOk { .. }
            | Data::Confirmed { .. } => {
                if let Some(home) = self.home_by_id(from) {
                    home.data(d);
                }
            }
            Data::Congested { q, on } => {
                let queue = self.broker.vhost(&q.vhost).and_then(|v| v.queue(&q.name));
                if let Some(queue) = queue.filter(|q| q.remote().is_some()) {
                    queue.set_home_congested(on);
                }
            }
            Data::Mirror { q, ops } => self.serve_mirror(from, q, ops),
            Data::MirrorHas { q, seqs } => self.mirror_has(from, q, &seqs),
            Data::MirrorRefused { q } => self.mirror_refused(from, q),
            Data::MirrorResumed { q, id } => self.mirror_resumed(from, q, id),
            Data::MirrorMatches {
                q,
                from: start,
                seqs,
            } => self.mirror_matches(from, q, start, seqs),
            other => self.serve_data(from, other),
        }
    }

    /// The link to node `id` went down: its consumers of queues here are gone and what
    /// they held comes back; consumers here of its queues are cancelled, and publishes
    /// waiting for its confirms are refused.
    pub(crate) fn node_down(&self, id: NodeId) {
        self.served_node_down(id);
        self.mirrors_down(id);
        for vhost in self.broker.vhosts() {
            for q in vhost.queues() {
                if q.remote()
                    .is_some_and(|h| super::node::node_id(h.node()) == id)
                {
                    q.set_home_congested(false);
                }
            }
        }
        if let Some(home) = self.home_by_id(id) {
            home.down();
        }
    }
}

impl super::Cluster {
    /// Watches links go down: the node's consumers and holders go (`node_down`).
    pub(crate) async fn watch_links(self: Arc<Self>) {
        let mut up = self.links.up.subscribe();
        let mut before = up.borrow().clone();
        while up.changed().await.is_ok() {
            let now = up.borrow_and_update().clone();
            for gone in before.difference(&now) {
                self.remotes.node_down(*gone);
            }
            before = now;
        }
    }

    /// On the leader: deletes the non-durable and exclusive queues of members down for
    /// a while, as RabbitMQ does when a node goes down. Checked every second, so a leader
    /// elected after the node went down does it too.
    pub(crate) async fn sweep_dead_homes(self: Arc<Self>) {
        const DOWN_FOR: std::time::Duration = std::time::Duration::from_secs(2);
        let mut down_since = super::status::DownSince::default();
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let status = self.status();
            if status.leader.as_deref() != Some(self.me.name.as_str()) {
                down_since.clear();
                continue;
            }
            let dead = down_since.update(&status, DOWN_FOR);
            // Links to members come up in the first moments of a start.
            if self.broker.started.elapsed() < self.links.tick() {
                continue;
            }
            if !dead.is_empty() {
                self.drop_transient_queues_of(&dead);
            }
        }
    }

    fn drop_transient_queues_of(&self, nodes: &[String]) {
        for vhost in self.broker.vhosts() {
            for q in vhost.queues() {
                let dead = q.home_node().is_some_and(|h| nodes.contains(&h));
                // A mirrored queue gets a new master instead.
                let dead = dead && q.mirrors().is_empty();
                if dead && !q.is_deleted() && !crate::broker::records::stored(&q) {
                    self.broker
                        .run_as_broker(crate::broker::command::Command::DeleteQueue {
                            vhost: q.vhost.clone(),
                            name: q.name.clone(),
                            if_unused: false,
                            if_empty: false,
                        });
                }
            }
        }
    }
}
