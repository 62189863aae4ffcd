//! Policies for the unit tests of the policy store and of effective values.

use super::Policy;
use serde_json::{Map, Value};

pub(in crate::broker) fn def(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub(in crate::broker) fn policy(
    name: &str,
    pattern: &str,
    apply_to: &str,
    priority: i32,
    d: Value,
) -> Policy {
    Policy::new(name, "/", pattern, apply_to, priority, def(d)).expect("valid policy")
}

pub(in crate::broker) fn op_policy(name: &str, pattern: &str, d: Value) -> Policy {
    Policy::new_operator(name, "/", pattern, "queues", 0, def(d)).expect("valid operator policy")
}
