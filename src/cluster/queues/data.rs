//! Queue traffic between nodes: messages to a queue's home, deliveries from it to consumers
//! on other nodes, and their acks and credit. Encoded with postcard (binary, compact) in the
//! link's data frames; in order on the link, so a channel's operations on a queue arrive in
//! the order it made them.

use crate::message::props::Props;
use crate::message::Message;
use crate::queue::Settle;
use serde::{Deserialize, Serialize};

/// A queue, by vhost and name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueId {
    pub vhost: String,
    pub name: String,
}

impl QueueId {
    pub(crate) fn of(q: &crate::queue::Queue) -> Self {
        QueueId {
            vhost: q.vhost.clone(),
            name: q.name.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Data {
    /// To the home: a message for a queue; `confirm` (non-zero) names the publisher's
    /// confirm, answered with `Confirmed`.
    Publish {
        q: QueueId,
        msg: Carried,
        confirm: u64,
    },
    /// To the home: subscribe consumer `id` of the sender; `window` is the credit it starts
    /// with. Answered with `Consumed`.
    Consume {
        id: u64,
        q: QueueId,
        holder: u64,
        tag: String,
        no_ack: bool,
        exclusive: bool,
        priority: i32,
        window: u32,
    },
    /// To the home: consumer `id` took `n` more deliveries.
    Credit {
        id: u64,
        n: u32,
    },
    /// To the home: consumer `id` is cancelled; `returned` are the deliveries it received
    /// but never handed to its client.
    Cancel {
        id: u64,
        returned: Vec<u64>,
    },
    Settle {
        q: QueueId,
        holder: u64,
        seqs: Vec<u64>,
        how: Settle,
    },
    HolderGone {
        q: QueueId,
        holder: u64,
    },
    /// From the home: whether consumer `id` is subscribed.
    Consumed {
        id: u64,
        refused: Option<String>,
    },
    Deliver {
        id: u64,
        seq: u64,
        redelivered: bool,
        msg: Carried,
    },
    /// From the home: consumer `id` ended (its queue was deleted).
    Cancelled {
        id: u64,
    },
    /// From the home: the cancel of consumer `id` is done (an auto-delete queue it left
    /// without consumers is deleted); nothing more comes for it.
    CancelOk {
        id: u64,
    },
    /// From the home: queue `q` is congested (publishers pause) or no longer.
    Congested {
        q: QueueId,
        on: bool,
    },
    /// From the home: the publish with this confirm was taken (stored) or refused.
    Confirmed {
        id: u64,
        ok: bool,
    },
    /// From a mirrored queue's master to a mirror: what operations did to its messages.
    Mirror {
        q: QueueId,
        ops: Vec<MirrorOp>,
    },
    /// From a mirror to its master: it holds the messages at these positions.
    MirrorHas {
        q: QueueId,
        seqs: Vec<u64>,
    },
    /// From a mirror to its master: of the batch offered from position `from`, it holds
    /// these identically.
    MirrorMatches {
        q: QueueId,
        from: u64,
        seqs: Vec<u64>,
    },
    /// From a mirror to its master: it took the resume numbered `id`.
    MirrorResumed {
        q: QueueId,
        id: u64,
    },
    /// From a mirror's node to the master: it did not take operations (it knows another
    /// master, or not the queue yet, or could not store them).
    MirrorRefused {
        q: QueueId,
    },
}

/// A mirrored queue's operation as it travels (see `queue::mirror::MirrorOp`).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) enum MirrorOp {
    Enqueue {
        seq: u64,
        msg: Carried,
    },
    Delivered {
        seqs: Vec<u64>,
    },
    Gone {
        seqs: Vec<u64>,
    },
    /// `at`: the index of the last log entry the master had applied (the mirror takes it
    /// once it has applied as much).
    Resume {
        id: u64,
        #[serde(default)]
        at: u64,
    },
    Trim {
        below: u64,
    },
    Offer {
        from: u64,
        to: u64,
        digests: Vec<(u64, crate::queue::mirror::Digest)>,
    },
    Fill {
        from: u64,
        to: u64,
        msgs: Vec<(u64, Carried, bool)>,
        #[serde(default)]
        kept: Vec<(u64, bool)>,
    },
}

impl MirrorOp {
    /// `op` as it travels, from a master that has applied the log up to `applied`.
    pub(crate) fn of(op: &crate::queue::mirror::MirrorOp, applied: u64) -> Self {
        use crate::queue::mirror::MirrorOp as Op;
        match op {
            Op::Enqueue { seq, msg } => MirrorOp::Enqueue {
                seq: *seq,
                msg: Carried::of(msg),
            },
            Op::Delivered { seqs } => MirrorOp::Delivered { seqs: seqs.clone() },
            Op::Gone { seqs } => MirrorOp::Gone { seqs: seqs.clone() },
            Op::Resume { id } => MirrorOp::Resume {
                id: *id,
                at: applied,
            },
            Op::Trim { below } => MirrorOp::Trim { below: *below },
            Op::Offer { from, to, digests } => MirrorOp::Offer {
                from: *from,
                to: *to,
                digests: digests.clone(),
            },
            Op::Fill {
                from,
                to,
                msgs,
                kept,
            } => MirrorOp::Fill {
                from: *from,
                to: *to,
                msgs: (msgs.iter())
                    .map(|(seq, m, delivered)| (*seq, Carried::of(m), *delivered))
                    .collect(),
                kept: kept.clone(),
            },
        }
    }

    pub(crate) fn into_op(self) -> crate::queue::mirror::MirrorOp {
        use crate::queue::mirror::MirrorOp as Op;
        match self {
            MirrorOp::Enqueue { seq, msg } => Op::Enqueue {
                seq,
                msg: msg.into_message(),
            },
            MirrorOp::Delivered { seqs } => Op::Delivered { seqs },
            MirrorOp::Gone { seqs } => Op::Gone { seqs },
            MirrorOp::Resume { id, .. } => Op::Resume { id },
            MirrorOp::Trim { below } => Op::Trim { below },
            MirrorOp::Offer { from, to, digests } => Op::Offer { from, to, digests },
            MirrorOp::Fill {
                from,
                to,
                msgs,
                kept,
            } => Op::Fill {
                from,
                to,
                msgs: (msgs.into_iter())
                    .map(|(seq, m, delivered)| (seq, m.into_message(), delivered))
                    .collect(),
                kept,
            },
        }
    }
}

/// A message as it travels: routing, properties as published, body, and when it was
/// first published (for TTL).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Carried {
    exchange: String,
    routing_key: String,
    #[serde(with = "serde_bytes")]
    properties: Vec<u8>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    published_ms: u64,
}

impl Carried {
    pub(crate) fn of(msg: &Message) -> Self {
        Carried {
            exchange: msg.exchange().to_string(),
            routing_key: msg.routing_key().to_string(),
            properties: msg.raw_properties().to_vec(),
            body: msg.body().to_vec(),
            published_ms: msg.published_ms(),
        }
    }

    pub(crate) fn into_message(self) -> Message {
        let props = Props::parse(&self.properties).unwrap_or_default();
        Message::restored(
            &self.exchange,
            &self.routing_key,
            &self.properties,
            &props,
            &self.body,
            self.published_ms,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_crosses_unchanged() {
        // content-type "text/plain"
        let props = b"\x80\x00\x0atext/plain";
        let msg = Message::new("ex", "rk", props, b"body");
        let d = Data::Deliver {
            id: 7,
            seq: 9,
            redelivered: true,
            msg: Carried::of(&msg),
        };
        let bytes = postcard::to_stdvec(&d).unwrap();
        let Data::Deliver { msg: back, .. } = postcard::from_bytes(&bytes).unwrap() else {
            panic!("not a delivery");
        };
        let back = back.into_message();
        assert_eq!(back.exchange(), "ex");
        assert_eq!(back.routing_key(), "rk");
        assert_eq!(back.raw_properties(), msg.raw_properties());
        assert_eq!(back.body(), b"body");
        assert_eq!(back.published_ms(), msg.published_ms());
    }
}
