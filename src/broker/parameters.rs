//! Runtime parameters: named JSON values per vhost and component (`vhost-limits` today;
//! plugins will register theirs), and global ones (`cluster_name`, ...). A component
//! validates its values as RabbitMQ 3.10 does, with its error texts.

use crate::erlang::{ascii_binary, json};
use serde_json::Value;
use std::collections::BTreeMap;

/// (vhost, component, name).
pub(crate) type ParameterKey = (String, String, String);

#[derive(Default)]
pub struct Parameters {
    vhost: BTreeMap<ParameterKey, Value>,
    global: BTreeMap<String, Value>,
}

impl Parameters {
    pub fn put(&mut self, key: ParameterKey, value: Value) {
        self.vhost.insert(key, value);
    }

    /// False if there was no such parameter.
    pub fn delete(&mut self, key: &ParameterKey) -> bool {
        self.vhost.remove(key).is_some()
    }

    /// Every parameter, ordered by vhost, component and name.
    pub fn list(&self) -> impl Iterator<Item = (&ParameterKey, &Value)> {
        self.vhost.iter()
    }

    /// Drops a deleted vhost's parameters.
    /// A vhost's limit (`max-connections`, `max-queues`) in force: negative means none.
    pub(crate) fn vhost_limit(&self, vhost: &str, key: &str) -> Option<u64> {
        let k = (
            vhost.to_string(),
            "vhost-limits".to_string(),
            "limits".to_string(),
        );
        let n = self.vhost.get(&k)?.get(key)?.as_i64()?;
        u64::try_from(n).ok()
    }

    pub fn remove_vhost(&mut self, vhost: &str) {
        self.vhost.retain(|(v, _, _), _| v != vhost);
    }

    pub fn put_global(&mut self, name: String, value: Value) {
        self.global.insert(name, value);
    }

    pub fn delete_global(&mut self, name: &str) -> bool {
        self.global.remove(name).is_some()
    }

    pub fn list_global(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.global.iter()
    }
}

/// Checks a value for a component; the error is RabbitMQ's text.
pub(crate) fn validate(component: &str, value: &Value) -> Result<(), String> {
    let problem = match component {
        "vhost-limits" => vhost_limits(value).err(),
        other => Some(format!("component {other} not found")),
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(format!("Validation failed\n\n{p}\n")),
    }
}

/// The limits RabbitMQ 3.10 knows; each an integer (negative: no limit).
const LIMITS: &[&str] = &["max-connections", "max-queues"];

fn vhost_limits(value: &Value) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("limits not a list {value}"));
    };
    let unknown: Vec<String> = map
        .iter()
        .filter(|(k, _)| !LIMITS.contains(&k.as_str()))
        .map(|(k, v)| format!("{{{},{}}}", ascii_binary(k), json(v)))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "Unrecognised terms [{}] in limits",
            unknown.join(",")
        ));
    }
    for (k, v) in map {
        if v.as_i64().is_none() {
            return Err(format!("{k} should be a number, actually was {}", json(v)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vhost_limits_are_validated_with_rabbitmq_texts() {
        assert!(validate("vhost-limits", &json!({"max-connections": 5})).is_ok());
        let err = |c: &str, v: Value| validate(c, &v).unwrap_err();
        assert_eq!(
            err("vhost-limits", json!({"max-connections": "x"})),
            "Validation failed\n\nmax-connections should be a number, actually was <<\"x\">>\n"
        );
        assert_eq!(
            err("vhost-limits", json!({"foo": 1})),
            "Validation failed\n\nUnrecognised terms [{<<\"foo\">>,1}] in limits\n"
        );
        assert_eq!(
            err("vhost-limits", json!(5)),
            "Validation failed\n\nlimits not a list 5\n"
        );
        assert_eq!(
            err("nosuch", json!({"a": 1})),
            "Validation failed\n\ncomponent nosuch not found\n"
        );
    }
}
