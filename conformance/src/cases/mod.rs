//! The cases, one module per group.

use crate::runner::Case;

pub mod basic;
pub mod basic_flow;
pub mod channel;
pub mod client_idioms;
pub mod confirm;
pub mod connection;
pub mod errors;
pub mod errors_frames;
pub mod exchange;
pub mod exchange_lifecycle;
pub mod extensions;
pub mod limits;
pub mod mgmt;
pub mod odd_input;
pub mod queue;
pub mod queue_args;
pub mod queue_lifecycle;
pub mod routing;
pub mod routing_headers;
pub mod routing_topic;
pub mod tx;

/// All cases in group order.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(connection::cases());
    v.extend(channel::cases());
    v.extend(exchange::cases());
    v.extend(exchange_lifecycle::cases());
    v.extend(queue::cases());
    v.extend(queue_lifecycle::cases());
    v.extend(queue_args::cases());
    v.extend(basic::cases());
    v.extend(basic_flow::cases());
    v.extend(confirm::cases());
    v.extend(tx::cases());
    v.extend(routing_topic::cases());
    v.extend(routing_headers::cases());
    v.extend(routing::cases());
    v.extend(client_idioms::cases());
    v.extend(odd_input::cases());
    v.extend(errors::cases());
    v.extend(errors_frames::cases());
    v.extend(limits::cases());
    v.extend(extensions::cases());
    v.extend(mgmt::cases());
    v
}
