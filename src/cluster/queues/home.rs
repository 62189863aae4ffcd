//! The home of the queues on another node, as this node reaches it: publishes with their
//! confirms, gets, purges, acks, and the consumers here of those queues. A consumer's
//! deliveries come with credit: the home sends at most `window` ahead of what the local
//! channel has taken, and what arrives while the channel has no room waits here, in order,
//! until it has.

use super::data::{Carried, Data, QueueId};
use crate::cluster::links::{LinkError, Links};
use crate::cluster::node::{node_id, Member, NodeId};
use crate::cluster::wire::{Request, Response};
use crate::message::Message;
use crate::queue::{
    Answer, Delivery, Got, Holder, Home, Queue, QueueCounts, Report, Settle, Subscription,
};
use crate::store::messages::OnSynced;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a get, purge or subscription waits for the home.
const ANSWER: Duration = Duration::from_secs(30);

pub(crate) struct PeerHome {
    node: String,
    pub(super) id: NodeId,
    links: Arc<Links>,
    next: AtomicU64,
    /// Publishes waiting for the home's confirm.
    confirms: Mutex<HashMap<u64, OnSynced>>,
    /// Consumers here of the home's queues, by the id the home knows them by.
    subs: Mutex<HashMap<u64, Arc<RemoteSub>>>,
    /// Where consumers go whose mirrored queue left this home.
    followers: Arc<super::follow::Followers>,
}

/// A local consumer of a queue on the home.
struct RemoteSub {
    id: u64,
    queue: Weak<Queue>,
    sub: Subscription,
    window: u32,
    state: Mutex<SubState>,
}

impl RemoteSub {
    fn delivery(&self, seq: u64, redelivered: bool, msg: Message) -> Delivery {
        Delivery {
            tag: self.sub.tag.clone(),
            seq,
            msg,
            redelivered,
            no_ack: self.sub.no_ack,
            gate: None,
        }
    }
}

#[derive(Default)]
struct SubState {
    /// Deliveries the channel had no room for yet: (position, redelivered, message).
    waiting: VecDeque<(u64, bool, Message)>,
    /// Deliveries taken since credit was last sent back.
    owed: u32,
    /// Until the home answers the subscription: consume-ok, and the waiting caller.
    on_added: Option<Box<dyn FnOnce() + Send>>,
    answer: Option<oneshot::Sender<Result<(), String>>>,
    /// Cancelled here, until the home says it is done: deliveries still coming go back
    /// (or, without acks, to the client, as RabbitMQ's in-flight ones do).
    cancelling: Option<oneshot::Sender<()>>,
}

impl PeerHome {
    pub(super) fn new(
        node: &str,
        links: Arc<Links>,
        followers: Arc<super::follow::Followers>,
    ) -> Arc<PeerHome> {
        Arc::new(PeerHome {
            node: node.to_string(),
            id: node_id(node),
            links,
            next: AtomicU64::new(1),
            confirms: Mutex::new(HashMap::new()),
            subs: Mutex::new(HashMap::new()),
            followers,
        })
    }

    /// Subscription `sub` ended at the home without being cancelled here: it follows its
    /// queue to a new master, or is cancelled.
    fn lost(&self, sub: &RemoteSub) {
        match sub.queue.upgrade() {
            Some(q) => (self.followers).lost(q, sub.sub.clone(), sub.window, &self.node),
            None => sub.sub.consumer.cancelled(&sub.sub.tag),
        }
    }

    fn send(&self, d: Data) -> bool {
        self.links.send_data(self.id, d)
    }

    /// Sends a request to the home (if its link is up) and waits for the answer.
    fn request(&self, req: Request) -> impl Future<Output = Result<Response, String>> + 'static {
        let links = self.links.clone();
        let peer: Option<Member> = links.member(self.id);
        let down = self.down_text();
        async move {
            let peer = peer.ok_or(down)?;
            let answer = links.request(&peer, req, ANSWER).await;
            answer.map_err(|e: LinkError| e.to_string())
        }
    }

    fn down_text(&self) -> String {
        format!("node '{}' is down or inaccessible", self.node)
    }

    fn subs_of(&self, q: &Queue) -> Vec<Arc<RemoteSub>> {
        let subs = self.subs.lock();
        subs.values()
            .filter(|s| std::ptr::eq(s.queue.as_ptr(), q))
            .cloned()
            .collect()
    }

    /// Traffic from the home for this node's consumers and publishers.
    pub(super) fn data(&self, d: Data) {
        match d {
            Data::Consumed { id, refused } => {
                let sub = self.subs.lock().get(&id).cloned();
                let Some(sub) = sub else { return };
                if refused.is_some() {
                    self.subs.lock().remove(&id);
                }
                let (on_added, answer) = {
                    let mut st = sub.state.lock();
                    (st.on_added.take(), st.answer.take())
                };
                if refused.is_none() {
                    if let Some(f) = on_added {
                        f();
                    }
                }
                if let Some(tx) = answer {
                    let _ = tx.send(refused.map_or(Ok(()), Err));
                }
            }
            Data::Deliver {
                id,
                seq,
                redelivered,
                msg,
            } => {
                let sub = self.subs.lock().get(&id).cloned();
                let Some(sub) = sub else { return };
                let msg = msg.into_message();
                let mut st = sub.state.lock();
                if st.cancelling.is_none() {
                    st.waiting.push_back((seq, redelivered, msg));
                    drop(st);
                    return self.drain(&sub);
                }
                drop(st);
                if sub.sub.no_ack {
                    self.hand_over(&sub, seq, redelivered, msg);
                } else if let Some(q) = sub.queue.upgrade() {
                    let holder = sub.sub.consumer.holder();
                    self.send_settle(&q, holder, &[seq], Settle::Requeue);
                }
            }
            Data::CancelOk { id } => {
                let sub = self.subs.lock().remove(&id);
                if let Some(tx) = sub.and_then(|s| s.state.lock().cancelling.take()) {
                    let _ = tx.send(());
                }
            }
            Data::Cancelled { id } => {
                let sub = self.subs.lock().remove(&id);
                if let Some(sub) = sub {
                    self.lost(&sub);
                }
            }
            Data::Confirmed { id, ok } => {
                let confirm = self.confirms.lock().remove(&id);
                if let Some(f) = confirm {
                    f(ok);
                }
            }
            _ => {}
        }
    }

    /// Hands waiting deliveries to the consumer while it has room, and sends credit back.
    fn drain(&self, sub: &RemoteSub) {
        let Some(q) = sub.queue.upgrade() else { return };
        let mut st = sub.state.lock();
        let mut taken = 0;
        while let Some((_, _, msg)) = st.waiting.front() {
            let room = (sub.sub.consumer).reserve(&sub.queue, &sub.sub.tag, sub.sub.no_ack, msg);
            if !room {
                break;
            }
            let Some((seq, redelivered, msg)) = st.waiting.pop_front() else {
                break;
            };
            sub.sub
                .consumer
                .deliver(&q, sub.delivery(seq, redelivered, msg));
            taken += 1;
        }
        st.owed += taken;
        if st.owed > 0 && st.owed >= (sub.window / 4).max(1) {
            let n = std::mem::take(&mut st.owed);
            drop(st);
            self.send(Data::Credit { id: sub.id, n });
        }
    }

    /// Hands a delivery to the consumer without asking for room (a no-ack delivery that
    /// was in flight when the consumer was cancelled).
    fn hand_over(&self, sub: &RemoteSub, seq: u64, redelivered: bool, msg: Message) {
        let Some(q) = sub.queue.upgrade() else { return };
        sub.sub
            .consumer
            .deliver(&q, sub.delivery(seq, redelivered, msg));
    }

    fn send_settle(&self, q: &Queue, holder: Holder, seqs: &[u64], how: Settle) {
        self.send(Data::Settle {
            q: QueueId::of(q),
            holder,
            seqs: seqs.to_vec(),
            how,
        });
    }

    /// The link to the home went down.
    pub(super) fn down(&self) {
        let confirms: Vec<OnSynced> = self.confirms.lock().drain().map(|(_, f)| f).collect();
        for f in confirms {
            f(false);
        }
        let subs: Vec<Arc<RemoteSub>> = self.subs.lock().drain().map(|(_, s)| s).collect();
        for sub in subs {
            let (answer, cancelling) = {
                let mut st = sub.state.lock();
                (st.answer.take(), st.cancelling.take())
            };
            match (answer, cancelling) {
                (Some(tx), _) => drop(tx.send(Err(self.down_text()))),
                (None, Some(tx)) => drop(tx.send(())),
                (None, None) => self.lost(&sub),
            }
        }
    }
}

impl Home for PeerHome {
    fn node(&self) -> &str {
        &self.node
    }

    fn is_up(&self) -> bool {
        self.links.is_up(self.id)
    }

    fn publish(&self, q: &Queue, msg: Message, confirm: Option<OnSynced>) {
        let id = match confirm {
            Some(f) => {
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                self.confirms.lock().insert(id, f);
                id
            }
            None => 0,
        };
        let sent = self.send(Data::Publish {
            q: QueueId::of(q),
            msg: Carried::of(&msg),
            confirm: id,
        });
        if !sent && id != 0 {
            let f = self.confirms.lock().remove(&id);
            if let Some(f) = f {
                f(false);
            }
        }
    }

    fn consume(
        &self,
        q: &Arc<Queue>,
        sub: Subscription,
        window: u32,
        on_added: Box<dyn FnOnce() + Send>,
    ) -> Answer<()> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let consume = Data::Consume {
            id,
            q: QueueId::of(q),
            holder: sub.consumer.holder(),
            tag: sub.tag.to_string(),
            no_ack: sub.no_ack,
            exclusive: sub.exclusive,
            priority: sub.priority,
            window,
        };
        let remote = Arc::new(RemoteSub {
            id,
            queue: Arc::downgrade(q),
            sub,
            window,
            state: Mutex::new(SubState {
                on_added: Some(on_added),
                answer: Some(tx),
                ..Default::default()
            }),
        });
        self.subs.lock().insert(id, remote);
        let sent = self.send(consume);
        let down = self.down_text();
        if !sent {
            self.subs.lock().remove(&id);
        }
        Box::pin(async move {
            if !sent {
                return Err(down);
            }
            match tokio::time::timeout(ANSWER, rx).await {
                Ok(Ok(answer)) => answer,
                _ => Err(down),
            }
        })
    }

    fn cancel(&self, q: &Queue, holder: Holder, tag: &str) -> Answer<()> {
        let found = self.subs_of(q).into_iter().find(|s| s.sub.is(holder, tag));
        let Some(sub) = found.filter(|s| s.state.lock().cancelling.is_none()) else {
            return Box::pin(async { Ok(()) });
        };
        let (tx, rx) = oneshot::channel();
        let (waiting, returned) = {
            let mut st = sub.state.lock();
            st.cancelling = Some(tx);
            let waiting: Vec<_> = st.waiting.drain(..).collect();
            let returned = match sub.sub.no_ack {
                true => Vec::new(),
                false => waiting.iter().map(|(seq, _, _)| *seq).collect(),
            };
            (waiting, returned)
        };
        if sub.sub.no_ack {
            for (seq, redelivered, msg) in waiting {
                self.hand_over(&sub, seq, redelivered, msg);
            }
        }
        let sent = self.send(Data::Cancel {
            id: sub.id,
            returned,
        });
        if !sent {
            self.subs.lock().remove(&sub.id);
        }
        Box::pin(async move {
            if sent {
                let _ = tokio::time::timeout(ANSWER, rx).await;
            }
            Ok(())
        })
    }

    fn settle(&self, q: &Queue, holder: Holder, seqs: &[u64], how: Settle) {
        self.send_settle(q, holder, seqs, how);
        // The consumer has room again: what waits here for it goes on.
        for sub in self.subs_of(q) {
            if sub.sub.consumer.holder() == holder {
                self.drain(&sub);
            }
        }
    }

    fn holder_gone(&self, q: &Queue, holder: Holder) {
        // What waits here for the holder's consumers goes back with the rest.
        for sub in self.subs_of(q) {
            if sub.sub.consumer.holder() == holder {
                sub.state.lock().waiting.clear();
            }
        }
        self.send(Data::HolderGone {
            q: QueueId::of(q),
            holder,
        });
    }

    fn dispatch(&self, q: &Arc<Queue>) {
        for sub in self.subs_of(q) {
            self.drain(&sub);
        }
    }

    fn get(&self, q: &Queue, holder: Option<Holder>) -> Answer<Got> {
        let req = Request::Get {
            q: QueueId::of(q),
            holder,
        };
        let answer = self.request(req);
        Box::pin(async move {
            match answer.await? {
                Response::Got(None) => Ok(Got::Empty),
                Response::Got(Some((msg, redelivered, seq, remaining))) => Ok(Got::Message {
                    msg: msg.into_message(),
                    redelivered,
                    seq,
                    remaining,
                }),
                other => Err(format!("unexpected answer to a get: {other:?}")),
            }
        })
    }

    fn purge(&self, q: &Queue) -> Answer<u32> {
        let req = Request::Purge(QueueId::of(q));
        let answer = self.request(req);
        Box::pin(async move {
            match answer.await? {
                Response::Purged(n) => Ok(n),
                other => Err(format!("unexpected answer to a purge: {other:?}")),
            }
        })
    }

    fn sync(&self, q: &Queue, start: bool) -> Answer<usize> {
        let answer = self.request(Request::Sync {
            q: QueueId::of(q),
            start,
        });
        Box::pin(async move {
            match answer.await? {
                Response::Index(n) => Ok(n as usize),
                other => Err(format!("unexpected answer to a sync: {other:?}")),
            }
        })
    }

    fn report(&self, q: &Queue) -> Answer<Report> {
        let answer = self.request(Request::Reports(vec![QueueId::of(q)]));
        Box::pin(async move {
            match answer.await? {
                Response::Reports(mut r) if r.len() == 1 => r
                    .pop()
                    .flatten()
                    .ok_or_else(|| "the queue is gone".to_string()),
                other => Err(format!("unexpected answer to a report: {other:?}")),
            }
        })
    }

    fn reports(&self, qs: &[Arc<Queue>]) -> Answer<Vec<Option<Report>>> {
        let n = qs.len();
        let answer = self.request(Request::Reports(
            qs.iter().map(|q| QueueId::of(q)).collect(),
        ));
        Box::pin(async move {
            match answer.await? {
                Response::Reports(r) if r.len() == n => Ok(r),
                other => Err(format!("unexpected answer to reports: {other:?}")),
            }
        })
    }

    fn deleted(&self, q: &Queue) {
        for sub in self.subs_of(q) {
            self.subs.lock().remove(&sub.id);
            sub.sub.consumer.cancelled(&sub.sub.tag);
        }
    }

    fn counts(&self, q: &Queue) -> QueueCounts {
        QueueCounts {
            consumers: self.subs_of(q).len() as u32,
            ..Default::default()
        }
    }

    fn is_congested(&self) -> bool {
        self.links.is_backlogged(self.id)
    }

    fn uncongested(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.links.drained(self.id))
    }
}
