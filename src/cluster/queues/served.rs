//! This node as the home of queues used from other nodes: their publishes (confirmed once
//! taken, after the store's fsync when persistent), gets, purges, settles, and their
//! consumers, each a [`RemoteConsumer`] of the queue here that delivers over the link while
//! it has credit. A peer's holders are filed here under numbers of their own, so a node
//! that goes down hands back everything its channels held.

use super::data::{Carried, Data, QueueId};
use super::Remotes;
use crate::broker::command::Command;
use crate::broker::publish::{enqueue, Confirm};
use crate::cluster::links::Links;
use crate::cluster::node::NodeId;
use crate::cluster::wire::Response;
use crate::message::Message;
use crate::queue::{Consumer, Delivery, Got, Holder, Queue, Subscription};
use crate::store::messages::OnSynced;
use crate::store::meta_log::Ticket;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

/// Holders of other nodes' channels: the top bit set, the peer's index here, the holder
/// as the peer numbers it.
const REMOTE: u64 = 1 << 63;
const PEER_SHIFT: u32 = 48;
const PEER_HOLDER: u64 = (1 << PEER_SHIFT) - 1;

#[derive(Default)]
pub(super) struct Served {
    /// Other nodes' consumers of queues here, by (node, the id it gave).
    consumers: Mutex<HashMap<(NodeId, u64), Arc<RemoteConsumer>>>,
    /// Each peer's index in the holders filed here.
    peers: Mutex<HashMap<NodeId, u64>>,
    /// Congested queues here (by store key), and the nodes told so.
    congested: Mutex<HashMap<u64, Vec<NodeId>>>,
}

impl Served {
    fn peer_index(&self, node: NodeId) -> u64 {
        let mut peers = self.peers.lock();
        let next = peers.len() as u64 + 1;
        *peers.entry(node).or_insert(next)
    }

    /// The holder a peer's holder `h` is filed under here.
    fn holder(&self, node: NodeId, h: u64) -> Holder {
        REMOTE | (self.peer_index(node) << PEER_SHIFT) | (h & PEER_HOLDER)
    }
}

/// A consumer on another node, as the queue here sees it.
struct RemoteConsumer {
    node: NodeId,
    id: u64,
    holder: Holder,
    tag: Arc<str>,
    queue: Weak<Queue>,
    /// Deliveries it may still be sent before it takes some.
    credit: AtomicU32,
    links: Arc<Links>,
    served: Weak<Served>,
}

impl Consumer for RemoteConsumer {
    fn holder(&self) -> Holder {
        self.holder
    }

    fn reserve(&self, _: &Weak<Queue>, _: &str, _: bool, _: &Message) -> bool {
        self.credit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1))
            .is_ok()
    }

    fn deliver(&self, _: &Arc<Queue>, d: Delivery) {
        let deliver = Data::Deliver {
            id: self.id,
            seq: d.seq,
            redelivered: d.redelivered,
            msg: Carried::of(&d.msg),
        };
        self.links.send_gated(self.node, deliver, d.gate);
    }

    fn cancelled(&self, _: &str) {
        if let Some(served) = self.served.upgrade() {
            served.consumers.lock().remove(&(self.node, self.id));
        }
        self.links
            .send_data(self.node, Data::Cancelled { id: self.id });
    }

    fn deliver_direct(&self, _: &Message) {}
}

impl Remotes {
    /// A queue whose home is this node.
    fn local_queue(&self, q: &QueueId) -> Option<Arc<Queue>> {
        self.known_queue(q).filter(|q| q.remote().is_none())
    }

    /// A queue this node knows, whatever its home.
    pub(super) fn known_queue(&self, q: &QueueId) -> Option<Arc<Queue>> {
        self.broker.vhost(&q.vhost)?.queue(&q.name)
    }

    fn confirm(&self, to: NodeId, id: u64, ok: bool) {
        if id != 0 {
            self.links.send_data(to, Data::Confirmed { id, ok });
        }
    }

    /// Traffic from node `from` to queues here.
    pub(super) fn serve_data(&self, from: NodeId, d: Data) {
        match d {
            Data::Publish { q, msg, confirm } => {
                let Some(queue) = self.local_queue(&q) else {
                    // Gone meanwhile: dropped, as a message routed nowhere. Homed
                    // elsewhere as this node knows it (the sender applied a promotion
                    // here first, or this node's was undone): refused, never confirmed.
                    let known = self.known_queue(&q).is_some();
                    return self.confirm(from, confirm, !known);
                };
                let links = self.links.clone();
                let later = (confirm != 0).then(|| {
                    Box::new(move |ok| {
                        links.send_data(from, Data::Confirmed { id: confirm, ok });
                    }) as OnSynced
                });
                let queues = std::slice::from_ref(&queue);
                match enqueue(&self.broker, msg.into_message(), queues, later) {
                    Confirm::AckNow => self.confirm(from, confirm, true),
                    Confirm::NackNow => self.confirm(from, confirm, false),
                    Confirm::Deferred => {}
                }
                if queue.is_congested() {
                    self.tell_congested(from, &queue);
                }
            }
            Data::Consume {
                id,
                q,
                holder,
                tag,
                no_ack,
                exclusive,
                priority,
                window,
            } => self.consume(
                from,
                id,
                &q,
                holder,
                tag,
                (no_ack, exclusive, priority),
                window,
            ),
            Data::Credit { id, n } => {
                let c = self.served.consumers.lock().get(&(from, id)).cloned();
                if let Some(c) = c {
                    c.credit.fetch_add(n, Ordering::AcqRel);
                    if let Some(q) = c.queue.upgrade() {
                        q.dispatch();
                    }
                }
            }
            Data::Cancel { id, returned } => {
                let c = self.served.consumers.lock().remove(&(from, id));
                let deleting = c.and_then(|c| self.cancel(&c, &returned));
                let links = self.links.clone();
                let ok = move || {
                    links.send_data(from, Data::CancelOk { id });
                };
                match deleting {
                    None => ok(),
                    Some(ticket) => drop(tokio::spawn(async move {
                        let _ = ticket.written().await;
                        ok();
                    })),
                }
            }
            Data::Settle {
                q,
                holder,
                seqs,
                how,
            } => {
                if let Some(queue) = self.local_queue(&q) {
                    queue.settle(self.served.holder(from, holder), &seqs, how);
                }
            }
            Data::HolderGone { q, holder } => {
                if let Some(queue) = self.local_queue(&q) {
                    queue.holder_gone(self.served.holder(from, holder));
                }
            }
            _ => {}
        }
    }

    /// Tells node `to` that `queue` is congested, so its publishers pause; all nodes told
    /// hear when it no longer is.
    fn tell_congested(&self, to: NodeId, queue: &Arc<Queue>) {
        let first = {
            let mut congested = self.served.congested.lock();
            let told = congested.entry(queue.key).or_default();
            if told.contains(&to) {
                return;
            }
            told.push(to);
            told.len() == 1
        };
        let q = QueueId::of(queue);
        self.links.send_data(to, Data::Congested { q, on: true });
        if !first {
            return;
        }
        let (queue, served, links) = (queue.clone(), self.served.clone(), self.links.clone());
        tokio::spawn(async move {
            queue.uncongested().await;
            let told = served.congested.lock().remove(&queue.key);
            for node in told.unwrap_or_default() {
                let q = QueueId::of(&queue);
                links.send_data(node, Data::Congested { q, on: false });
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn consume(
        &self,
        from: NodeId,
        id: u64,
        q: &QueueId,
        holder: u64,
        tag: String,
        (no_ack, exclusive, priority): (bool, bool, i32),
        window: u32,
    ) {
        let refuse = |reason: String| {
            let refused = Some(reason);
            self.links.send_data(from, Data::Consumed { id, refused });
        };
        let Some(queue) = self.local_queue(q) else {
            return refuse(format!("no queue '{}' in vhost '{}'", q.name, q.vhost));
        };
        let tag: Arc<str> = tag.into();
        let consumer = Arc::new(RemoteConsumer {
            node: from,
            id,
            holder: self.served.holder(from, holder),
            tag: tag.clone(),
            queue: Arc::downgrade(&queue),
            credit: AtomicU32::new(window),
            links: self.links.clone(),
            served: Arc::downgrade(&self.served),
        });
        let key = (from, id);
        self.served.consumers.lock().insert(key, consumer.clone());
        let sub = Subscription {
            tag,
            consumer,
            no_ack,
            exclusive,
            priority,
            cancel_on_failover: false,
        };
        let links = self.links.clone();
        let added = queue.add_consumer(sub, move || {
            links.send_data(from, Data::Consumed { id, refused: None });
        });
        if let Err(reason) = added {
            self.served.consumers.lock().remove(&key);
            refuse(reason);
        }
    }

    /// Ends a remote consumer; what it had received but not handed out goes back. When
    /// it was an auto-delete queue's last, the queue is deleted: the ticket resolves once
    /// it is.
    fn cancel(&self, c: &RemoteConsumer, returned: &[u64]) -> Option<Ticket> {
        let q = c.queue.upgrade()?;
        let last = q.remove_consumer(c.holder, &c.tag);
        if !returned.is_empty() {
            q.settle(c.holder, returned, crate::queue::Settle::Requeue);
        }
        if !last {
            return None;
        }
        self.broker.run_as_broker(Command::DeleteQueue {
            vhost: q.vhost.clone(),
            name: q.name.clone(),
            if_unused: true,
            if_empty: false,
        })
    }

    /// Node `id` is down: its consumers go, and what its channels held comes back.
    pub(super) fn served_node_down(&self, id: NodeId) {
        let gone: Vec<Arc<RemoteConsumer>> = {
            let mut consumers = self.served.consumers.lock();
            let keys: Vec<(NodeId, u64)> = consumers
                .keys()
                .filter(|(n, _)| *n == id)
                .copied()
                .collect();
            keys.iter().filter_map(|k| consumers.remove(k)).collect()
        };
        for c in gone {
            drop(self.cancel(&c, &[]));
        }
        let Some(index) = self.served.peers.lock().get(&id).copied() else {
            return;
        };
        let mark = REMOTE | (index << PEER_SHIFT);
        for vhost in self.broker.vhosts() {
            for q in vhost.queues().iter().filter(|q| q.remote().is_none()) {
                q.holders_gone(|h| h & !PEER_HOLDER == mark);
            }
        }
    }

    /// `basic.get` for a holder on node `from` (none: no-ack).
    pub(crate) async fn serve_get(
        &self,
        from: NodeId,
        q: QueueId,
        holder: Option<u64>,
    ) -> Result<Response, String> {
        let queue = self.local_queue(&q).ok_or_else(|| no_queue(&q))?;
        let holder = holder.map(|h| self.served.holder(from, h));
        Ok(Response::Got(match queue.fetch(holder).await? {
            Got::Message {
                msg,
                redelivered,
                seq,
                remaining,
            } => Some((Carried::of(&msg), redelivered, seq, remaining)),
            Got::Empty | Got::Loading => None,
        }))
    }

    pub(crate) fn serve_reports(&self, qs: &[QueueId]) -> Response {
        Response::Reports(
            qs.iter()
                .map(|q| self.local_queue(q).map(|q| q.report()))
                .collect(),
        )
    }

    pub(crate) async fn serve_sync(&self, q: QueueId, start: bool) -> Result<Response, String> {
        let queue = self.local_queue(&q).ok_or_else(|| no_queue(&q))?;
        Ok(Response::Index(queue.sync_anywhere(start).await? as u64))
    }

    pub(crate) async fn serve_purge(&self, q: QueueId) -> Result<Response, String> {
        let queue = self.local_queue(&q).ok_or_else(|| no_queue(&q))?;
        Ok(Response::Purged(queue.purge_anywhere().await?))
    }
}

fn no_queue(q: &QueueId) -> String {
    format!("no queue '{}' in vhost '{}'", q.name, q.vhost)
}
