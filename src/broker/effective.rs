//! A queue's or exchange's effective settings: its own arguments with the matching user
//! and operator policies applied, with RabbitMQ 3.10's precedence (the rules are listed in
//! [`super::policy`]).
//!
//! [`queue_settings`] and [`alternate_exchange`] are what the broker asks for; they rest on
//! [`effective_queue_values`] and [`effective_alternate_exchange`], which combine arguments
//! with the pair of policies [`Policies`] picks.

use super::policy::{Policies, Policy};
use crate::policy_rules::OPERATOR_KEYS;
use crate::queue::{Overflow, QueueArgs};
use serde_json::{Map, Value};

/// The settings a queue runs with.
pub(crate) fn queue_settings(
    policies: &Policies,
    vhost: &str,
    name: &str,
    args: &QueueArgs,
) -> QueueArgs {
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
        ha_sync_automatic: user.and_then(|p| p.definition.get("ha-sync-mode"))
            == Some(&Value::from("automatic")),
        ha_sync_batch_size: user
            .and_then(|p| p.definition.get("ha-sync-batch-size"))
            .and_then(Value::as_u64),
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
pub(crate) fn alternate_exchange(
    policies: &Policies,
    vhost: &str,
    name: &str,
    arg: Option<&str>,
) -> Option<String> {
    effective_alternate_exchange(arg, policies.for_exchange(vhost, name))
}

// ---------------------------------------------------------------------------
// Arguments combined with policies, in RabbitMQ's precedence
// ---------------------------------------------------------------------------

/// The effective settings of a queue: arguments first, then policy, with operator-policy minimums.
///
/// Numeric limits (`message-ttl`, `expires`, `max-length`,
/// `max-length-bytes`) take the lowest value among the argument, the user
/// policy and the operator policy. The other settings take the argument if
/// set, else the user policy's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QueuePolicyValues {
    /// `x-message-ttl` / `message-ttl`, in ms.
    pub message_ttl: Option<u64>,
    /// `x-expires` / `expires`, in ms.
    pub expires: Option<u64>,
    /// `x-dead-letter-exchange` / `dead-letter-exchange`.
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key` / `dead-letter-routing-key`.
    pub dead_letter_routing_key: Option<String>,
    /// `x-max-length` / `max-length`, in messages.
    pub max_length: Option<u64>,
    /// `x-max-length-bytes` / `max-length-bytes`.
    pub max_length_bytes: Option<u64>,
    /// `x-overflow` / `overflow`.
    pub overflow: Option<String>,
    /// `x-queue-mode` / `queue-mode`.
    pub queue_mode: Option<String>,
}

/// Combines a queue's own arguments with the policies that apply to it
/// (normally the pair returned by [`Policies::for_queue`]).
pub(crate) fn effective_queue_values(
    args: &QueuePolicyValues,
    user: Option<&Policy>,
    operator: Option<&Policy>,
) -> QueuePolicyValues {
    let number = |key: &str, arg: Option<u64>| {
        let from_policies = lowest(
            user.and_then(|p| p.number(key)),
            operator.and_then(|p| p.number(key)),
        );
        lowest(arg, from_policies)
    };
    let text = |key: &str, arg: &Option<String>| {
        arg.clone()
            .or_else(|| user.and_then(|p| p.text(key)))
            .or_else(|| operator.and_then(|p| p.text(key)))
    };
    QueuePolicyValues {
        message_ttl: number("message-ttl", args.message_ttl),
        expires: number("expires", args.expires),
        dead_letter_exchange: text("dead-letter-exchange", &args.dead_letter_exchange),
        dead_letter_routing_key: text("dead-letter-routing-key", &args.dead_letter_routing_key),
        max_length: number("max-length", args.max_length),
        max_length_bytes: number("max-length-bytes", args.max_length_bytes),
        overflow: text("overflow", &args.overflow),
        queue_mode: text("queue-mode", &args.queue_mode),
    }
}

/// The exchange's alternate exchange: its `alternate-exchange` argument if
/// set, else the policy's.
pub(crate) fn effective_alternate_exchange(
    arg: Option<&str>,
    policy: Option<&Policy>,
) -> Option<String> {
    arg.map(str::to_owned)
        .or_else(|| policy.and_then(|p| p.text("alternate-exchange")))
}

fn lowest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The merged definition RabbitMQ reports as `effective_policy_definition`
/// (`rabbit_policy:merge_operator_definitions/2`): the union of both
/// definitions, the lower value where both set a numeric limit, otherwise
/// the operator policy's value for booleans and the user policy's for the rest.
pub(crate) fn effective_definition(
    user: Option<&Policy>,
    operator: Option<&Policy>,
) -> Map<String, Value> {
    let mut merged = user.map(|p| p.definition.clone()).unwrap_or_default();
    for (key, op_value) in operator.map(|p| &p.definition).into_iter().flatten() {
        let value = match merged.get(key) {
            None => op_value.clone(),
            Some(v) => merge_value(key, v, op_value),
        };
        merged.insert(key.clone(), value);
    }
    merged
}

fn merge_value(key: &str, user: &Value, operator: &Value) -> Value {
    match (user.as_u64(), operator.as_u64()) {
        (Some(u), Some(o)) if OPERATOR_KEYS.contains(&key) => Value::from(u.min(o)),
        _ if user.is_boolean() && operator.is_boolean() => operator.clone(),
        _ => user.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::policy::test_support::{op_policy, policy};
    use serde_json::json;

    #[test]
    fn arguments_win_for_text_settings() {
        let user = policy(
            "u",
            ".*",
            "queues",
            0,
            json!({"dead-letter-exchange": "pol-dlx", "dead-letter-routing-key": "pol-rk",
                   "overflow": "reject-publish", "queue-mode": "lazy"}),
        );
        let none = QueuePolicyValues::default();
        let from_policy = effective_queue_values(&none, Some(&user), None);
        assert_eq!(from_policy.dead_letter_exchange.as_deref(), Some("pol-dlx"));
        assert_eq!(
            from_policy.dead_letter_routing_key.as_deref(),
            Some("pol-rk")
        );
        assert_eq!(from_policy.overflow.as_deref(), Some("reject-publish"));
        assert_eq!(from_policy.queue_mode.as_deref(), Some("lazy"));

        let args = QueuePolicyValues {
            dead_letter_exchange: Some(String::new()),
            dead_letter_routing_key: Some("arg-rk".into()),
            overflow: Some("drop-head".into()),
            queue_mode: Some("default".into()),
            ..QueuePolicyValues::default()
        };
        assert_eq!(effective_queue_values(&args, Some(&user), None), args);
        assert_eq!(effective_queue_values(&args, None, None), args);
        assert_eq!(effective_queue_values(&none, None, None), none);
    }

    #[test]
    fn numeric_limits_take_the_lowest_of_argument_and_policies() {
        type Field = fn(&QueuePolicyValues) -> Option<u64>;
        type Setter = fn(&mut QueuePolicyValues, u64);
        let fields: [(&str, Field, Setter); 4] = [
            (
                "message-ttl",
                |v| v.message_ttl,
                |v, n| v.message_ttl = Some(n),
            ),
            ("expires", |v| v.expires, |v, n| v.expires = Some(n)),
            (
                "max-length",
                |v| v.max_length,
                |v, n| v.max_length = Some(n),
            ),
            (
                "max-length-bytes",
                |v| v.max_length_bytes,
                |v, n| v.max_length_bytes = Some(n),
            ),
        ];
        for (key, get, set) in fields {
            let user = |n: u64| policy("u", ".*", "queues", 0, json!({ key: n }));
            let op = |n: u64| op_policy("o", ".*", json!({ key: n }));
            let arg = |n: u64| {
                let mut a = QueuePolicyValues::default();
                set(&mut a, n);
                a
            };
            let none = QueuePolicyValues::default();
            let eff = |a: &QueuePolicyValues, u: Option<&Policy>, o: Option<&Policy>| {
                get(&effective_queue_values(a, u, o))
            };
            // One source alone.
            assert_eq!(eff(&arg(30), None, None), Some(30), "{key}");
            assert_eq!(eff(&none, Some(&user(20)), None), Some(20), "{key}");
            assert_eq!(eff(&none, None, Some(&op(10))), Some(10), "{key}");
            // Argument and user policy: the lower wins (RabbitMQ's res_min).
            assert_eq!(eff(&arg(30), Some(&user(20)), None), Some(20), "{key}");
            assert_eq!(eff(&arg(5), Some(&user(20)), None), Some(5), "{key}");
            // Operator policy: a minimum over both.
            assert_eq!(
                eff(&arg(30), Some(&user(20)), Some(&op(10))),
                Some(10),
                "{key}"
            );
            assert_eq!(
                eff(&arg(30), Some(&user(20)), Some(&op(50))),
                Some(20),
                "{key}"
            );
            assert_eq!(
                eff(&arg(3), Some(&user(20)), Some(&op(10))),
                Some(3),
                "{key}"
            );
            assert_eq!(eff(&arg(30), None, Some(&op(10))), Some(10), "{key}");
            assert_eq!(eff(&arg(7), None, Some(&op(10))), Some(7), "{key}");
            assert_eq!(
                eff(&none, Some(&user(20)), Some(&op(50))),
                Some(20),
                "{key}"
            );
        }
        // Zero is a real limit, not "unset".
        let op = op_policy("o", ".*", json!({"max-length": 0, "message-ttl": 0}));
        let args = QueuePolicyValues {
            max_length: Some(100),
            ..QueuePolicyValues::default()
        };
        let v = effective_queue_values(&args, None, Some(&op));
        assert_eq!((v.max_length, v.message_ttl), (Some(0), Some(0)));
    }

    #[test]
    fn alternate_exchange_argument_wins() {
        let p = policy(
            "ae",
            ".*",
            "exchanges",
            0,
            json!({"alternate-exchange": "pol-ae"}),
        );
        assert_eq!(
            effective_alternate_exchange(Some("arg-ae"), Some(&p)).as_deref(),
            Some("arg-ae")
        );
        assert_eq!(
            effective_alternate_exchange(None, Some(&p)).as_deref(),
            Some("pol-ae")
        );
        assert_eq!(
            effective_alternate_exchange(Some("arg-ae"), None).as_deref(),
            Some("arg-ae")
        );
        assert_eq!(effective_alternate_exchange(None, None), None);
        let other = policy("o", ".*", "exchanges", 0, json!({"max-length": 1}));
        assert_eq!(effective_alternate_exchange(None, Some(&other)), None);
    }

    #[test]
    fn effective_definition_merges_like_rabbitmq() {
        let user = policy(
            "u",
            ".*",
            "queues",
            0,
            json!({"max-length": 5, "overflow": "reject-publish"}),
        );
        let op = op_policy("o", ".*", json!({"max-length": 50, "expires": 100000}));
        assert_eq!(
            Value::Object(effective_definition(Some(&user), Some(&op))),
            json!({"expires": 100000, "max-length": 5, "overflow": "reject-publish"})
        );
        let op = op_policy("o", ".*", json!({"max-length": 2}));
        assert_eq!(
            effective_definition(Some(&user), Some(&op))["max-length"],
            json!(2)
        );
        assert_eq!(effective_definition(None, Some(&op)), op.definition);
        assert_eq!(effective_definition(Some(&user), None), user.definition);
        assert!(effective_definition(None, None).is_empty());
    }
}
