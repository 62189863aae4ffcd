//! The policy store: [`Policies`] holds a broker's user policies and operator policies
//! for all vhosts, and picks the one of each that applies to a queue or exchange
//! (the highest priority; on a tie, the first name).

use std::collections::BTreeMap;

use super::{Kind, Policy};
use crate::policy_rules::validate_operator_definition;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::policy::test_support::{def, op_policy, policy};
    use crate::policy_rules::OPERATOR_KEYS;
    use serde_json::json;

    fn names<'a>(
        pair: (Option<&'a Policy>, Option<&'a Policy>),
    ) -> (Option<&'a str>, Option<&'a str>) {
        (
            pair.0.map(|p| p.name.as_str()),
            pair.1.map(|p| p.name.as_str()),
        )
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
}
