//! A queue's or exchange's effective settings: its own arguments with the matching user
//! and operator policies applied (RabbitMQ 3.10's precedence, in `policy`).

use super::policy::{
    effective_alternate_exchange, effective_queue_values, Policies, QueuePolicyValues,
};
use crate::queue::{Overflow, QueueArgs};

/// The settings a queue runs with.
pub fn queue_settings(policies: &Policies, vhost: &str, name: &str, args: &QueueArgs) -> QueueArgs {
    let (user, operator) = policies.for_queue(vhost, name);
    if user.is_none() && operator.is_none() {
        return args.clone();
    }
    let v = effective_queue_values(&values(args), user, operator);
    QueueArgs {
        message_ttl: v.message_ttl,
        expires: v.expires,
        dead_letter_exchange: v.dead_letter_exchange,
        dead_letter_routing_key: v.dead_letter_routing_key,
        max_length: v.max_length,
        max_length_bytes: v.max_length_bytes,
        overflow: v.overflow.as_deref().and_then(Overflow::parse),
        lazy: v.queue_mode.as_deref() == Some("lazy"),
        max_priority: args.max_priority,
        single_active_consumer: args.single_active_consumer,
    }
}

fn values(a: &QueueArgs) -> QueuePolicyValues {
    QueuePolicyValues {
        message_ttl: a.message_ttl,
        expires: a.expires,
        dead_letter_exchange: a.dead_letter_exchange.clone(),
        dead_letter_routing_key: a.dead_letter_routing_key.clone(),
        max_length: a.max_length,
        max_length_bytes: a.max_length_bytes,
        overflow: a.overflow.map(|o| {
            match o {
                Overflow::DropHead => "drop-head",
                Overflow::RejectPublish => "reject-publish",
                Overflow::RejectPublishDlx => "reject-publish-dlx",
            }
            .to_string()
        }),
        queue_mode: a.lazy.then(|| "lazy".to_string()),
    }
}

/// The alternate exchange in force for an exchange.
pub fn alternate_exchange(
    policies: &Policies,
    vhost: &str,
    name: &str,
    arg: Option<&str>,
) -> Option<String> {
    effective_alternate_exchange(arg, policies.for_exchange(vhost, name))
}
