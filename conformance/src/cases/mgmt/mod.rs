//! The management HTTP API (RabbitMQ 3.10's `rabbitmq_management`): every
//! case needs `--mgmt-url` and skips without it. The cases check status codes,
//! error bodies, the JSON shape (keys and types) and the values that must
//! match (names, counts, booleans), never what legitimately differs between
//! brokers (node names, versions, hashes, timestamps, rates). Statistics
//! RabbitMQ only shows after its next emission (every 5 s) are polled for.
//!
//! Each case works in vhosts and users of its own, deleted afterwards.

use crate::runner::Case;

mod access;
mod config;
mod conns;
mod input;
mod listing;
mod node;
mod objects;
mod util;

/// The management cases, in group order.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(access::cases());
    v.extend(node::cases());
    v.extend(objects::cases());
    v.extend(config::cases());
    v.extend(conns::cases());
    v.extend(listing::cases());
    v.extend(input::cases());
    v
}
