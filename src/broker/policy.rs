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
//! * Effective queue settings ([`effective_queue_values`]): for
//!   `message-ttl`, `expires`, `max-length` and `max-length-bytes` the lowest
//!   of the queue argument, the user policy and the operator policy wins
//!   (RabbitMQ's `res_min`: a policy can lower an argument's limit too). For
//!   the other keys the argument wins over the policy (`res_arg`).
//! * For exchanges the `alternate-exchange` argument wins over the policy.

use std::collections::BTreeMap;

use crate::policy_rules::{
    compile_pattern, validate_definition, validate_operator_definition, ApplyTo, OPERATOR_KEYS,
};
use regex::Regex;
use serde_json::{Map, Value};

/// Definition keys Warren acts on; other recognised keys are stored only.
pub const EFFECTIVE_KEYS: &[&str] = &[
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
    /// may only use [`OPERATOR_KEYS`].
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

    fn number(&self, key: &str) -> Option<u64> {
        self.definition.get(key).and_then(Value::as_u64)
    }

    fn text(&self, key: &str) -> Option<String> {
        self.definition
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

// ---------------------------------------------------------------------------
// The policy store
// ---------------------------------------------------------------------------

/// All user policies and operator policies of a broker, by vhost and name.
#[derive(Debug, Default, Clone)]
pub struct Policies {
    user: BTreeMap<String, BTreeMap<String, Policy>>,
    operator: BTreeMap<String, BTreeMap<String, Policy>>,
}

impl Policies {
    /// Adds or replaces a user policy (same vhost and name).
    pub fn put(&mut self, p: Policy) {
        insert(&mut self.user, p);
    }

    /// Removes a user policy; false if there was none.
    pub fn delete(&mut self, vhost: &str, name: &str) -> bool {
        remove(&mut self.user, vhost, name)
    }

    /// Adds or replaces an operator policy. Fails, with RabbitMQ's message,
    /// if its definition uses keys operator policies do not accept.
    pub fn put_operator(&mut self, p: Policy) -> Result<(), String> {
        validate_operator_definition(&p.definition)?;
        insert(&mut self.operator, p);
        Ok(())
    }

    /// Removes an operator policy; false if there was none.
    pub fn delete_operator(&mut self, vhost: &str, name: &str) -> bool {
        remove(&mut self.operator, vhost, name)
    }

    /// Removes every policy and operator policy of a vhost (when it is
    /// deleted); returns how many were removed.
    pub fn remove_vhost(&mut self, vhost: &str) -> usize {
        let count = |m: Option<BTreeMap<String, Policy>>| m.map_or(0, |m| m.len());
        count(self.user.remove(vhost)) + count(self.operator.remove(vhost))
    }

    /// User policies, ordered like RabbitMQ lists them: by priority
    /// (ascending), then vhost and name.
    pub fn list(&self) -> Vec<Policy> {
        sorted_list(&self.user)
    }

    /// Operator policies, in the same order as [`Policies::list`].
    pub fn list_operator(&self) -> Vec<Policy> {
        sorted_list(&self.operator)
    }

    /// The user policy and the operator policy that apply to a queue.
    pub fn for_queue(&self, vhost: &str, name: &str) -> (Option<&Policy>, Option<&Policy>) {
        (
            best_match(&self.user, vhost, name, Kind::Queue),
            best_match(&self.operator, vhost, name, Kind::Queue),
        )
    }

    /// The user policy that applies to an exchange (operator policies have
    /// no exchange settings).
    pub fn for_exchange(&self, vhost: &str, name: &str) -> Option<&Policy> {
        best_match(&self.user, vhost, name, Kind::Exchange)
    }
}

type PolicyMap = BTreeMap<String, BTreeMap<String, Policy>>;

fn insert(map: &mut PolicyMap, p: Policy) {
    map.entry(p.vhost.clone())
        .or_default()
        .insert(p.name.clone(), p);
}

fn remove(map: &mut PolicyMap, vhost: &str, name: &str) -> bool {
    let Some(policies) = map.get_mut(vhost) else {
        return false;
    };
    let removed = policies.remove(name).is_some();
    if policies.is_empty() {
        map.remove(vhost);
    }
    removed
}

fn sorted_list(map: &PolicyMap) -> Vec<Policy> {
    let mut all: Vec<Policy> = map.values().flat_map(|m| m.values().cloned()).collect();
    // Stable: equal priorities keep (vhost, name) order.
    all.sort_by_key(|p| p.priority);
    all
}

/// The matching policy with the highest priority; on a tie, the first by
/// name (the inner map iterates in name order and only a strictly higher
/// priority replaces the current pick).
fn best_match<'a>(map: &'a PolicyMap, vhost: &str, name: &str, kind: Kind) -> Option<&'a Policy> {
    let mut best: Option<&Policy> = None;
    for p in map.get(vhost)?.values() {
        if p.matches(vhost, name, kind) && best.is_none_or(|b| p.priority > b.priority) {
            best = Some(p);
        }
    }
    best
}

// ---------------------------------------------------------------------------
// Effective values
// ---------------------------------------------------------------------------

/// The effective settings of a queue: arguments first, then policy, with operator-policy minimums.
///
/// Numeric limits (`message-ttl`, `expires`, `max-length`,
/// `max-length-bytes`) take the lowest value among the argument, the user
/// policy and the operator policy. The other settings take the argument if
/// set, else the user policy's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueuePolicyValues {
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
pub fn effective_queue_values(
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
pub fn effective_alternate_exchange(arg: Option<&str>, policy: Option<&Policy>) -> Option<String> {
    arg.map(str::to_owned)
        .or_else(|| policy.and_then(|p| p.text("alternate-exchange")))
}

/// The merged definition RabbitMQ reports as `effective_policy_definition`
/// (`rabbit_policy:merge_operator_definitions/2`): the union of both
/// definitions, the lower value where both set a numeric limit, otherwise
/// the operator policy's value for booleans and the user policy's for the rest.
pub fn effective_definition(
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

fn lowest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn policy(name: &str, pattern: &str, apply_to: &str, priority: i32, d: Value) -> Policy {
        Policy::new(name, "/", pattern, apply_to, priority, def(d)).expect("valid policy")
    }

    fn op_policy(name: &str, pattern: &str, d: Value) -> Policy {
        Policy::new_operator(name, "/", pattern, "queues", 0, def(d))
            .expect("valid operator policy")
    }

    fn new_err(pattern: &str, apply_to: &str, d: Value) -> String {
        match Policy::new("p", "/", pattern, apply_to, 0, def(d)) {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    fn names<'a>(
        pair: (Option<&'a Policy>, Option<&'a Policy>),
    ) -> (Option<&'a str>, Option<&'a str>) {
        (
            pair.0.map(|p| p.name.as_str()),
            pair.1.map(|p| p.name.as_str()),
        )
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
    fn pattern_is_unanchored_and_apply_to_filters() {
        let mut ps = Policies::default();
        ps.put(policy(
            "q-only",
            "orders",
            "queues",
            0,
            json!({"max-length": 1}),
        ));
        ps.put(policy(
            "x-only",
            "orders",
            "exchanges",
            0,
            json!({"alternate-exchange": "ae"}),
        ));
        assert_eq!(
            names(ps.for_queue("/", "new-orders-eu")),
            (Some("q-only"), None)
        );
        assert_eq!(
            ps.for_exchange("/", "orders.x").map(|p| p.name.as_str()),
            Some("x-only")
        );
        assert!(ps.for_queue("/", "invoices").0.is_none());
        assert!(
            ps.for_queue("other", "orders").0.is_none(),
            "vhost must match"
        );

        ps.put(policy("all", "^inv", "all", 0, json!({"max-length": 1})));
        assert_eq!(names(ps.for_queue("/", "invoices")), (Some("all"), None));
        assert_eq!(
            ps.for_exchange("/", "invoices").map(|p| p.name.as_str()),
            Some("all")
        );
        assert!(ps.for_exchange("/", "x-invoices").is_none(), "^ anchors");

        // The empty pattern matches everything, as re:run does.
        ps.put(policy(
            "everything",
            "",
            "all",
            -1,
            json!({"max-length": 1}),
        ));
        assert_eq!(
            ps.for_queue("/", "zzz").0.map(|p| p.name.as_str()),
            Some("everything")
        );
    }

    #[test]
    fn highest_priority_wins_and_ties_go_to_first_name() {
        let mut ps = Policies::default();
        ps.put(policy("low", ".*", "all", 1, json!({"max-length": 1})));
        ps.put(policy("high", "^a", "all", 10, json!({"max-length": 2})));
        ps.put(policy(
            "negative",
            ".*",
            "all",
            -5,
            json!({"max-length": 3}),
        ));
        assert_eq!(
            ps.for_queue("/", "abc").0.map(|p| p.name.as_str()),
            Some("high")
        );
        assert_eq!(
            ps.for_queue("/", "bcd").0.map(|p| p.name.as_str()),
            Some("low")
        );

        // Ties: the name that sorts first wins, whatever the insertion order.
        for order in [["zeta", "alpha"], ["alpha", "zeta"]] {
            let mut ps = Policies::default();
            for n in order {
                ps.put(policy(n, "^t", "all", 7, json!({"max-length": 1})));
            }
            assert_eq!(
                ps.for_queue("/", "tq").0.map(|p| p.name.as_str()),
                Some("alpha")
            );
            assert_eq!(
                ps.for_exchange("/", "tx").map(|p| p.name.as_str()),
                Some("alpha")
            );
        }
    }

    #[test]
    fn put_replaces_and_delete_removes() {
        let mut ps = Policies::default();
        ps.put(policy("p", "^a", "all", 0, json!({"max-length": 1})));
        ps.put(policy("p", "^b", "all", 0, json!({"max-length": 2})));
        assert_eq!(ps.list().len(), 1);
        assert!(ps.for_queue("/", "a").0.is_none());
        assert!(ps.for_queue("/", "b").0.is_some());
        assert!(ps.delete("/", "p"));
        assert!(!ps.delete("/", "p"));
        assert!(!ps.delete("nope", "p"));
        assert!(ps.list().is_empty());

        ps.put_operator(op_policy("o", ".*", json!({"expires": 10})))
            .unwrap();
        assert_eq!(names(ps.for_queue("/", "q")), (None, Some("o")));
        assert!(ps.delete_operator("/", "o"));
        assert!(!ps.delete_operator("/", "o"));
    }

    #[test]
    fn list_orders_by_priority_then_vhost_and_name() {
        let mut ps = Policies::default();
        let mut other = policy("a", ".*", "all", 0, json!({"max-length": 1}));
        other.vhost = "v2".into();
        ps.put(other);
        ps.put(policy("b", ".*", "all", 0, json!({"max-length": 1})));
        ps.put(policy("c", ".*", "all", -2, json!({"max-length": 1})));
        ps.put(policy("a", ".*", "all", 5, json!({"max-length": 1})));
        let listed: Vec<_> = ps
            .list()
            .iter()
            .map(|p| (p.vhost.clone(), p.name.clone()))
            .collect();
        let expect = [("/", "c"), ("/", "b"), ("v2", "a"), ("/", "a")];
        assert_eq!(listed, expect.map(|(v, n)| (v.to_owned(), n.to_owned())));
        assert_eq!(ps.remove_vhost("/"), 3);
        assert_eq!(ps.list().len(), 1);
        assert!(ps.list_operator().is_empty());
    }

    #[test]
    fn operator_policies_are_separate_and_honour_apply_to() {
        let mut ps = Policies::default();
        ps.put(policy("user", ".*", "all", 0, json!({"max-length": 10})));
        ps.put_operator(op_policy("op-low", ".*", json!({"max-length": 5})))
            .unwrap();
        let mut high = op_policy("op-high", "^q", json!({"max-length": 7}));
        high.priority = 3;
        ps.put_operator(high).unwrap();
        assert_eq!(
            names(ps.for_queue("/", "q1")),
            (Some("user"), Some("op-high"))
        );
        assert_eq!(
            names(ps.for_queue("/", "x1")),
            (Some("user"), Some("op-low"))
        );
        assert_eq!(
            ps.for_exchange("/", "q1").map(|p| p.name.as_str()),
            Some("user")
        );
        // RabbitMQ accepts apply-to "exchanges" on an operator policy; it then matches no queue.
        let xs = Policy::new_operator("xs", "/", ".*", "exchanges", 9, def(json!({"expires": 1})))
            .unwrap();
        ps.put_operator(xs).unwrap();
        assert_eq!(
            ps.for_queue("/", "q1").1.map(|p| p.name.as_str()),
            Some("op-high")
        );
        assert_eq!(ps.list_operator().len(), 3);
    }

    #[test]
    fn put_operator_rejects_non_operator_keys() {
        let mut ps = Policies::default();
        let p = policy(
            "o",
            ".*",
            "queues",
            0,
            json!({"max-length": 1, "overflow": "drop-head"}),
        );
        assert_eq!(
            ps.put_operator(p),
            Err("[{<<\"overflow\">>,<<\"drop-head\">>}] are not recognised policy settings".into())
        );
        assert!(ps.list_operator().is_empty());
        for key in ["dead-letter-exchange", "queue-mode", "alternate-exchange"] {
            let err = Policy::new_operator("o", "/", ".*", "all", 0, def(json!({ key: "x" })))
                .unwrap_err();
            assert_eq!(
                err,
                format!("[{{<<\"{key}\">>,<<\"x\">>}}] are not recognised policy settings")
            );
        }
        for key in OPERATOR_KEYS {
            let p = Policy::new_operator("o", "/", ".*", "all", 0, def(json!({ *key: 5 })));
            assert!(p.is_ok(), "{key}");
        }
        let err =
            Policy::new_operator("o", "/", ".*", "all", 0, def(json!({"expires": 0}))).unwrap_err();
        assert_eq!(err, "0 is not a valid queue expiry");
    }

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
