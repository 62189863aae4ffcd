//! Policies and operator policies: RabbitMQ's way of applying optional
//! arguments to queues and exchanges in bulk, by name pattern.
//!
//! A [`Policy`] has a name, a vhost, a regex `pattern` matched (unanchored,
//! like Erlang's `re:run`) against queue or exchange names, an `apply-to`
//! ([`ApplyTo`]), an integer `priority` and a `definition` (a JSON object of
//! settings). [`Policies`] holds a broker's user policies and operator
//! policies for all vhosts and picks the one of each that applies to an object.
//!
//! Behaviour follows RabbitMQ 3.10.8 (`rabbit_policy.erl`, `rabbit_policies.erl`,
//! `rabbit_amqqueue_process:process_args_policy/1`, checked on a live node):
//!
//! * Only one user policy applies to an object: the matching one with the
//!   highest priority. RabbitMQ breaks ties by Mnesia table order, which is a
//!   hash order (independent of creation order, not alphabetical); its
//!   maintainers call equal priorities unsupported. Warren makes ties
//!   deterministic: the policy whose name sorts first (byte order) wins.
//!   Operator policies are chosen the same way, separately.
//! * Definitions are validated like RabbitMQ does, with its messages: every
//!   key RabbitMQ 3.10 core recognises is accepted (so exports load), even
//!   those Warren does not act on ([`Policy::ignored_keys`]); other keys are
//!   "not recognised policy settings". Operator policies accept only
//!   [`OPERATOR_KEYS`].
//! * Effective queue settings ([`effective_queue_values`], in [`super::effective`]): for
//!   `message-ttl`, `expires`, `max-length` and `max-length-bytes` the lowest
//!   of the queue argument, the user policy and the operator policy wins
//!   (RabbitMQ's `res_min`: a policy can lower an argument's limit too). For
//!   the other keys the argument wins over the policy (`res_arg`).
//! * For exchanges the `alternate-exchange` argument wins over the policy.
//!
//! This module owns a single [`Policy`]; the store that picks among them is [`Policies`]
//! (in `store`), and the values they give a queue or exchange are worked out in
//! [`super::effective`].
//!
//! [`effective_queue_values`]: super::effective::effective_queue_values
//! [`OPERATOR_KEYS`]: crate::policy_rules::OPERATOR_KEYS

mod store;
#[cfg(test)]
pub(super) mod test_support;

pub(crate) use store::Policies;

use crate::policy_rules::{
    compile_pattern, validate_definition, validate_operator_definition, ApplyTo,
};
use regex::Regex;
use serde_json::{Map, Value};

/// Definition keys Warren acts on; other recognised keys are stored only.
pub(crate) const EFFECTIVE_KEYS: &[&str] = &[
    "alternate-exchange",
    "dead-letter-exchange",
    "dead-letter-routing-key",
    "expires",
    "max-length",
    "max-length-bytes",
    "message-ttl",
    "overflow",
    "queue-mode",
];

/// Whether a policy applying to `apply_to` covers objects of `kind`.
fn covers(apply_to: ApplyTo, kind: Kind) -> bool {
    matches!(
        (apply_to, kind),
        (ApplyTo::All, _) | (ApplyTo::Queues, Kind::Queue) | (ApplyTo::Exchanges, Kind::Exchange)
    )
}

/// The kind of object being matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Queue,
    Exchange,
}

/// One policy (or operator policy), validated.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Policy name, unique per vhost (and per kind: user or operator).
    pub name: String,
    /// The vhost whose objects it applies to.
    pub vhost: String,
    /// The compiled `pattern`, matched unanchored against object names.
    pub pattern: Regex,
    /// Which objects it applies to.
    pub apply_to: ApplyTo,
    /// Higher wins; ties go to the name that sorts first.
    pub priority: i32,
    /// The settings, e.g. `{"max-length": 10}`.
    pub definition: Map<String, Value>,
    pattern_source: String,
}

impl Policy {
    /// A validated user policy. On failure, the error lists every problem,
    /// one per line, in RabbitMQ's order and words (definition, apply-to,
    /// pattern), e.g. `0 is not a valid queue expiry`.
    pub fn new(
        name: impl Into<String>,
        vhost: impl Into<String>,
        pattern: &str,
        apply_to: &str,
        priority: i32,
        definition: Map<String, Value>,
    ) -> Result<Self, String> {
        let check = validate_definition(&definition);
        Self::build(name, vhost, pattern, apply_to, priority, definition, check)
    }

    /// A validated operator policy: like [`Policy::new`] but the definition
    /// may only use [`OPERATOR_KEYS`](crate::policy_rules::OPERATOR_KEYS).
    pub fn new_operator(
        name: impl Into<String>,
        vhost: impl Into<String>,
        pattern: &str,
        apply_to: &str,
        priority: i32,
        definition: Map<String, Value>,
    ) -> Result<Self, String> {
        let check = validate_operator_definition(&definition);
        Self::build(name, vhost, pattern, apply_to, priority, definition, check)
    }

    fn build(
        name: impl Into<String>,
        vhost: impl Into<String>,
        pattern: &str,
        apply_to: &str,
        priority: i32,
        definition: Map<String, Value>,
        definition_check: Result<(), String>,
    ) -> Result<Self, String> {
        // RabbitMQ reports every failing field, definition first.
        match (
            definition_check,
            ApplyTo::parse(apply_to),
            compile_pattern(pattern),
        ) {
            (Ok(()), Ok(apply_to), Ok(regex)) => Ok(Policy {
                name: name.into(),
                vhost: vhost.into(),
                pattern: regex,
                apply_to,
                priority,
                definition,
                pattern_source: pattern.to_owned(),
            }),
            (definition, apply_to, regex) => {
                let errors = [definition.err(), apply_to.err(), regex.err()];
                Err(errors.into_iter().flatten().collect::<Vec<_>>().join("\n"))
            }
        }
    }

    /// The pattern as given.
    pub fn pattern_source(&self) -> &str {
        &self.pattern_source
    }

    /// `queues`, `exchanges` or `all`.
    pub fn apply_to_str(&self) -> &str {
        self.apply_to.as_str()
    }

    /// Definition keys that RabbitMQ recognises but Warren does not act on
    /// (mirroring, quorum and stream settings, ...), for a warning.
    pub fn ignored_keys(&self) -> Vec<&str> {
        self.definition
            .keys()
            .map(String::as_str)
            .filter(|k| !EFFECTIVE_KEYS.contains(k))
            .collect()
    }

    fn matches(&self, vhost: &str, name: &str, kind: Kind) -> bool {
        self.vhost == vhost && covers(self.apply_to, kind) && self.pattern.is_match(name)
    }

    pub(super) fn number(&self, key: &str) -> Option<u64> {
        self.definition.get(key).and_then(Value::as_u64)
    }

    pub(super) fn text(&self, key: &str) -> Option<String> {
        self.definition
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{def, policy};
    use super::*;
    use serde_json::json;

    fn new_err(pattern: &str, apply_to: &str, d: Value) -> String {
        match Policy::new("p", "/", pattern, apply_to, 0, def(d)) {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn accessors_and_defaults() {
        let p = policy("ttl", "^q\\.", "queues", 3, json!({"message-ttl": 5}));
        assert_eq!(p.pattern_source(), "^q\\.");
        assert_eq!(p.apply_to_str(), "queues");
        assert_eq!(p.apply_to, ApplyTo::Queues);
        assert_eq!(
            (p.name.as_str(), p.vhost.as_str(), p.priority),
            ("ttl", "/", 3)
        );
        for (s, a) in [
            ("queues", ApplyTo::Queues),
            ("exchanges", ApplyTo::Exchanges),
            ("all", ApplyTo::All),
        ] {
            assert_eq!(ApplyTo::parse(s), Ok(a));
            assert_eq!(a.as_str(), s);
        }
    }

    #[test]
    fn ignored_keys_are_reported() {
        let p = policy(
            "p",
            ".*",
            "all",
            0,
            json!({"ha-mode": "all", "max-length": 1, "queue-version": 2, "alternate-exchange": "a"}),
        );
        assert_eq!(p.ignored_keys(), vec!["ha-mode", "queue-version"]);
    }

    /// Error texts as RabbitMQ 3.10.8 returns them (inside its
    /// "Validation failed\n\n...\n" HTTP reason).
    #[test]
    fn validation_errors_read_like_rabbitmq() {
        let cases = [
            (json!({"expires": 0}), "0 is not a valid queue expiry"),
            (json!({"expires": 1.0}), "1.0 is not a valid queue expiry"),
            (json!({"expires": null}), "null is not a valid queue expiry"),
            (json!({"message-ttl": -1}), "-1 is not a valid message TTL"),
            (json!({"message-ttl": "10"}), "<<\"10\">> is not a valid message TTL"),
            (json!({"max-length": -1}), "-1 is not a valid maximum length"),
            (json!({"max-length-bytes": 1.5}), "1.5 is not a valid maximum length in bytes"),
            (json!({"overflow": "x"}), "<<\"x\">> is not a valid overflow value"),
            (json!({"queue-mode": "x"}), "<<\"x\">> is not a valid queue-mode value"),
            (json!({"alternate-exchange": 1}), "1 is not a valid alternate exchange name"),
            (json!({"dead-letter-exchange": 1}), "1 is not a valid dead letter exchange name"),
            (json!({"dead-letter-routing-key": true}), "true is not a valid dead letter routing key"),
            (json!({"queue-version": 3}), "3 is not a valid queue-version value"),
            (json!({"max-age": "10"}), "<<\"10\">> is not a valid max age"),
            (json!({"max-in-memory-length": -1}), "-1 is not a valid maximum memory in bytes"),
            (json!({"stream-max-segment-size-bytes": 3_000_000_001u64}), "3000000001 is not a valid segment size"),
            (json!({}), "no policy provided"),
            (json!({"foo": 1}), "[{<<\"foo\">>,1}] are not recognised policy settings"),
            (
                json!({"foo": 1, "bar": 2}),
                "[{<<\"bar\">>,2},{<<\"foo\">>,1}] are not recognised policy settings",
            ),
            (
                json!({"max-length": 1, "x": [1, {"a": null}], "y": "s", "z": 2.5}),
                "[{<<\"x\">>,[1,#{<<\"a\">> => null}]},{<<\"y\">>,<<\"s\">>},{<<\"z\">>,2.5}] are not recognised policy settings",
            ),
            // Value errors come before unknown keys; the first bad key (in key order) is reported.
            (json!({"max-length": -1, "zzz": 1}), "-1 is not a valid maximum length"),
            (json!({"expires": 0, "max-length": -1}), "0 is not a valid queue expiry"),
            (json!({"ha-mode": "bogus", "expires": 0}), "0 is not a valid queue expiry"),
            (json!({"ha-mode": "exactly"}), "ha-mode=\"exactly\" takes an integer, none given"),
            (json!({"ha-mode": "bogus"}), "<<\"bogus\">> is not a valid ha-mode value"),
            (json!({"ha-mode": "all", "ha-params": 2}), "ha-mode=\"all\" does not take parameters"),
            (json!({"ha-mode": "nodes", "ha-params": []}), "ha-mode=\"nodes\" list must be non-empty"),
            (json!({"ha-mode": "nodes", "ha-params": "n"}), "ha-mode=\"nodes\" takes a list, <<\"n\">> given"),
            (
                json!({"ha-params": 2}),
                "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown",
            ),
            (
                json!({"ha-mode": "all", "ha-sync-mode": "x"}),
                "ha-sync-mode must be \"manual\" or \"automatic\", got <<\"x\">>",
            ),
            (json!({"queue-master-locator": "x"}), "<<\"x\">> invalid queue-master-locator value"),
            (json!({"federation-upstream-set": "all"}), "[{<<\"federation-upstream-set\">>,<<\"all\">>}] are not recognised policy settings"),
        ];
        for (d, expected) in cases {
            assert_eq!(new_err(".*", "all", d.clone()), expected, "{d}");
        }
    }

    #[test]
    fn every_field_is_reported_in_rabbitmq_order() {
        assert_eq!(
            new_err("(", "foo", json!({"expires": 0})),
            "0 is not a valid queue expiry\n\
             apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n\
             pattern should be regular expression but is invalid: {\"unclosed group\"}"
        );
        assert_eq!(
            new_err("^a", "foo", json!({"max-length": 1})),
            "apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'"
        );
        let bad_pattern = new_err("a{2,1}", "all", json!({"max-length": 1}));
        assert!(
            bad_pattern.starts_with("pattern should be regular expression but is invalid: {\""),
            "{bad_pattern}"
        );
    }

    #[test]
    fn valid_definitions_rabbitmq_accepts() {
        let ok = [
            json!({"expires": 9_999_999_999_999u64}),
            json!({"dead-letter-exchange": ""}),
            json!({"message-ttl": 0, "max-length": 0, "max-length-bytes": 0}),
            json!({"overflow": "reject-publish-dlx", "queue-mode": "default"}),
            json!({"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"}),
            json!({"ha-mode": "nodes", "ha-params": ["rabbit@a"], "ha-promote-on-failure": "always"}),
            json!({"queue-master-locator": "min-masters", "queue-version": 2}),
            json!({"max-age": "7D", "delivery-limit": 3, "dead-letter-strategy": "at-least-once"}),
            json!({"queue-leader-locator": "balanced", "initial-cluster-size": 3}),
        ];
        for d in ok {
            assert!(
                Policy::new("p", "/", ".*", "all", 0, def(d.clone())).is_ok(),
                "{d}"
            );
        }
    }
}
