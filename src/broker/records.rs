//! Live exchanges, queues and bindings as the durable records the metadata log stores
//! (RabbitMQ's definitions format).

use super::exchange::{Binding, Exchange};
use crate::queue::Queue;
use crate::store::definitions::{
    field_table_to_json, BindingDefinition, DestinationType, ExchangeDefinition, QueueDefinition,
};

pub(crate) fn exchange(vhost: &str, ex: &Exchange) -> ExchangeDefinition {
    ExchangeDefinition {
        name: ex.name.clone(),
        vhost: vhost.to_string(),
        kind: ex.kind.as_str().to_string(),
        durable: ex.durable,
        auto_delete: ex.auto_delete,
        internal: ex.internal,
        arguments: field_table_to_json(&ex.arguments),
    }
}

/// Whether a queue outlives a restart: durable and not exclusive (an exclusive queue goes
/// with its connection, which a restart closes).
pub(crate) fn stored(q: &Queue) -> bool {
    q.durable && q.exclusive_owner.is_none()
}

/// The record of a queue that outlives a restart (see `stored`).
pub(crate) fn queue(vhost: &str, q: &Queue) -> Option<QueueDefinition> {
    stored(q).then(|| definition(vhost, q))
}

/// The definition of any queue, durable or not.
pub(crate) fn definition(vhost: &str, q: &Queue) -> QueueDefinition {
    QueueDefinition {
        name: q.name.clone(),
        vhost: vhost.to_string(),
        durable: q.durable,
        auto_delete: q.auto_delete,
        arguments: field_table_to_json(&q.arguments),
        home: q.home_node(),
        mirrors: q.mirrors(),
        synchronised: q.synchronised(),
    }
}

pub(crate) fn binding(vhost: &str, source: &str, b: &Binding) -> BindingDefinition {
    BindingDefinition {
        source: source.to_string(),
        vhost: vhost.to_string(),
        destination: b.dest.name().to_string(),
        destination_type: if b.dest.is_queue() {
            DestinationType::Queue
        } else {
            DestinationType::Exchange
        },
        routing_key: b.routing_key.clone(),
        arguments: field_table_to_json(&b.args),
    }
}
