//! The durable metadata as data: a change record per durable object put or deleted, and the
//! model those changes apply to (every stored user, vhost, permission, policy, exchange,
//! queue and binding, indexed by identity). The metadata log appends changes and writes the
//! model out as a snapshot in RabbitMQ's definitions format.
//!
//! Applying a change is idempotent (a put replaces, a delete of what is absent does
//! nothing), so replaying a log over a snapshot that already holds some of it is harmless.
//! Deleting a vhost, user, queue or exchange also drops what cannot outlive it (its
//! objects, permissions, bindings), each through an index, so no change costs a scan.

use super::definitions::{
    BindingDefinition, Definitions, DestinationType, ExchangeDefinition, GlobalParameterDefinition,
    ParameterDefinition, PermissionDefinition, PolicyDefinition, QueueDefinition,
    TopicPermissionDefinition, UserDefinition, VhostDefinition,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One change to the durable metadata.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    PutUser(UserDefinition),
    DeleteUser {
        name: String,
    },
    PutVhost(VhostDefinition),
    DeleteVhost {
        name: String,
    },
    PutPermission(PermissionDefinition),
    DeletePermission {
        user: String,
        vhost: String,
    },
    PutTopicPermission(TopicPermissionDefinition),
    DeleteTopicPermission {
        user: String,
        vhost: String,
        exchange: String,
    },
    PutPolicy(PolicyDefinition),
    DeletePolicy {
        vhost: String,
        name: String,
    },
    PutOperatorPolicy(PolicyDefinition),
    DeleteOperatorPolicy {
        vhost: String,
        name: String,
    },
    PutParameter(ParameterDefinition),
    DeleteParameter {
        vhost: String,
        component: String,
        name: String,
    },
    PutGlobalParameter(GlobalParameterDefinition),
    DeleteGlobalParameter {
        name: String,
    },
    PutExchange(ExchangeDefinition),
    DeleteExchange {
        vhost: String,
        name: String,
    },
    PutQueue(QueueDefinition),
    DeleteQueue {
        vhost: String,
        name: String,
    },
    PutBinding(BindingDefinition),
    DeleteBinding(BindingDefinition),
    /// A cluster node's Raft state machine position, written with the changes it covers.
    PutCluster(serde_json::Value),
}

/// (vhost, name): the identity of a policy, exchange or queue.
type Named = (String, String);

/// A binding's identity: vhost, source, destination type and name, routing key and the
/// arguments as canonical JSON (serde_json keeps object keys sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct BindingKey {
    vhost: String,
    source: String,
    dest_is_queue: bool,
    dest: String,
    routing_key: String,
    args: String,
}

impl BindingKey {
    fn of(b: &BindingDefinition) -> Self {
        Self {
            vhost: b.vhost.clone(),
            source: b.source.clone(),
            dest_is_queue: b.destination_type == DestinationType::Queue,
            dest: b.destination.clone(),
            routing_key: b.routing_key.clone(),
            args: serde_json::Value::Object(b.arguments.clone()).to_string(),
        }
    }

    /// The index entry that finds the binding by its destination.
    fn by_dest(&self) -> (String, bool, String, BindingKey) {
        (
            self.vhost.clone(),
            self.dest_is_queue,
            self.dest.clone(),
            self.clone(),
        )
    }
}

/// Every stored definition, indexed for changes.
#[derive(Default, Debug, Clone)]
pub(crate) struct Model {
    rabbit_version: String,
    users: BTreeMap<String, UserDefinition>,
    vhosts: BTreeMap<String, VhostDefinition>,
    /// Keyed (user, vhost).
    permissions: BTreeMap<Named, PermissionDefinition>,
    /// Keyed (user, vhost, exchange).
    topic_permissions: BTreeMap<(String, String, String), TopicPermissionDefinition>,
    policies: BTreeMap<Named, PolicyDefinition>,
    operator_policies: BTreeMap<Named, PolicyDefinition>,
    /// Keyed (vhost, component, name).
    parameters: BTreeMap<(String, String, String), ParameterDefinition>,
    global_parameters: BTreeMap<String, GlobalParameterDefinition>,
    exchanges: BTreeMap<Named, ExchangeDefinition>,
    queues: BTreeMap<Named, QueueDefinition>,
    /// Bindings by source; `by_dest` finds them by destination.
    bindings: BTreeMap<BindingKey, BindingDefinition>,
    by_dest: BTreeSet<(String, bool, String, BindingKey)>,
    cluster: Option<serde_json::Value>,
}

impl Model {
    pub(crate) fn from_definitions(defs: Definitions) -> Self {
        let mut m = Model {
            rabbit_version: defs.rabbit_version,
            cluster: defs.cluster,
            ..Default::default()
        };
        let changes = (defs.users.into_iter().map(Change::PutUser))
            .chain(defs.vhosts.into_iter().map(Change::PutVhost))
            .chain(defs.permissions.into_iter().map(Change::PutPermission))
            .chain((defs.topic_permissions.into_iter()).map(Change::PutTopicPermission))
            .chain(defs.policies.into_iter().map(Change::PutPolicy))
            .chain(
                defs.operator_policies
                    .into_iter()
                    .map(Change::PutOperatorPolicy),
            )
            .chain(defs.parameters.into_iter().map(Change::PutParameter))
            .chain((defs.global_parameters.into_iter()).map(Change::PutGlobalParameter))
            .chain(defs.exchanges.into_iter().map(Change::PutExchange))
            .chain(defs.queues.into_iter().map(Change::PutQueue))
            .chain(defs.bindings.into_iter().map(Change::PutBinding));
        for c in changes {
            m.apply(c);
        }
        m
    }

    /// The model in RabbitMQ's definitions format, each section in a stable order.
    pub(crate) fn to_definitions(&self) -> Definitions {
        let mut defs = Definitions::default();
        if !self.rabbit_version.is_empty() {
            defs.rabbit_version = self.rabbit_version.clone();
        }
        defs.users = self.users.values().cloned().collect();
        defs.vhosts = self.vhosts.values().cloned().collect();
        defs.permissions = self.permissions.values().cloned().collect();
        defs.topic_permissions = self.topic_permissions.values().cloned().collect();
        defs.policies = self.policies.values().cloned().collect();
        defs.operator_policies = self.operator_policies.values().cloned().collect();
        defs.parameters = self.parameters.values().cloned().collect();
        defs.global_parameters = self.global_parameters.values().cloned().collect();
        defs.exchanges = self.exchanges.values().cloned().collect();
        defs.queues = self.queues.values().cloned().collect();
        defs.bindings = self.bindings.values().cloned().collect();
        defs.cluster = self.cluster.clone();
        defs
    }

    pub(crate) fn apply(&mut self, change: Change) {
        match change {
            Change::PutCluster(v) => self.cluster = Some(v),
            Change::PutUser(u) => {
                self.users.insert(u.name.clone(), u);
            }
            Change::DeleteUser { name } => {
                self.users.remove(&name);
                let keys = range_keys(&self.permissions, &name);
                for k in keys {
                    self.permissions.remove(&k);
                }
                self.topic_permissions.retain(|(u, _, _), _| *u != name);
            }
            Change::PutVhost(v) => {
                self.vhosts.insert(v.name.clone(), v);
            }
            Change::DeleteVhost { name } => self.delete_vhost(&name),
            Change::PutPermission(p) => {
                self.permissions
                    .insert((p.user.clone(), p.vhost.clone()), p);
            }
            Change::DeletePermission { user, vhost } => {
                self.permissions.remove(&(user, vhost));
            }
            Change::PutTopicPermission(p) => {
                let key = (p.user.clone(), p.vhost.clone(), p.exchange.clone());
                self.topic_permissions.insert(key, p);
            }
            Change::DeleteTopicPermission {
                user,
                vhost,
                exchange,
            } => {
                self.topic_permissions.remove(&(user, vhost, exchange));
            }
            Change::PutPolicy(p) => {
                self.policies.insert((p.vhost.clone(), p.name.clone()), p);
            }
            Change::DeletePolicy { vhost, name } => {
                self.policies.remove(&(vhost, name));
            }
            Change::PutOperatorPolicy(p) => {
                self.operator_policies
                    .insert((p.vhost.clone(), p.name.clone()), p);
            }
            Change::DeleteOperatorPolicy { vhost, name } => {
                self.operator_policies.remove(&(vhost, name));
            }
            Change::PutParameter(p) => {
                let key = (p.vhost.clone(), p.component.clone(), p.name.clone());
                self.parameters.insert(key, p);
            }
            Change::DeleteParameter {
                vhost,
                component,
                name,
            } => {
                self.parameters.remove(&(vhost, component, name));
            }
            Change::PutGlobalParameter(p) => {
                self.global_parameters.insert(p.name.clone(), p);
            }
            Change::DeleteGlobalParameter { name } => {
                self.global_parameters.remove(&name);
            }
            Change::PutExchange(e) => {
                self.exchanges.insert((e.vhost.clone(), e.name.clone()), e);
            }
            Change::DeleteExchange { vhost, name } => {
                self.drop_bindings_from(&vhost, &name);
                self.drop_bindings_to(&vhost, false, &name);
                self.exchanges.remove(&(vhost, name));
            }
            Change::PutQueue(q) => {
                self.queues.insert((q.vhost.clone(), q.name.clone()), q);
            }
            Change::DeleteQueue { vhost, name } => {
                self.drop_bindings_to(&vhost, true, &name);
                self.queues.remove(&(vhost, name));
            }
            Change::PutBinding(b) => {
                let key = BindingKey::of(&b);
                self.by_dest.insert(key.by_dest());
                self.bindings.insert(key, b);
            }
            Change::DeleteBinding(b) => self.remove_binding(&BindingKey::of(&b)),
        }
    }

    fn remove_binding(&mut self, key: &BindingKey) {
        self.bindings.remove(key);
        self.by_dest.remove(&key.by_dest());
    }

    fn drop_bindings_from(&mut self, vhost: &str, source: &str) {
        let from = BindingKey {
            vhost: vhost.to_string(),
            source: source.to_string(),
            ..BindingKey::default()
        };
        let keys: Vec<BindingKey> = self
            .bindings
            .range(from..)
            .take_while(|(k, _)| k.vhost == vhost && k.source == source)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.remove_binding(&k);
        }
    }

    fn drop_bindings_to(&mut self, vhost: &str, is_queue: bool, dest: &str) {
        let from = (
            vhost.to_string(),
            is_queue,
            dest.to_string(),
            BindingKey::default(),
        );
        let keys: Vec<BindingKey> = self
            .by_dest
            .range(from..)
            .take_while(|(v, q, d, _)| v == vhost && *q == is_queue && d == dest)
            .map(|(_, _, _, k)| k.clone())
            .collect();
        for k in keys {
            self.remove_binding(&k);
        }
    }

    /// A vhost goes with everything in it.
    fn delete_vhost(&mut self, name: &str) {
        self.vhosts.remove(name);
        self.permissions.retain(|(_, v), _| v != name);
        self.topic_permissions.retain(|(_, v, _), _| v != name);
        for map in [&mut self.policies, &mut self.operator_policies] {
            for k in range_keys(map, name) {
                map.remove(&k);
            }
        }
        self.parameters.retain(|(v, _, _), _| v != name);
        for k in range_keys(&self.exchanges, name) {
            self.exchanges.remove(&k);
        }
        for k in range_keys(&self.queues, name) {
            self.queues.remove(&k);
        }
        let from = BindingKey {
            vhost: name.to_string(),
            ..BindingKey::default()
        };
        let keys: Vec<BindingKey> = self
            .bindings
            .range(from..)
            .take_while(|(k, _)| k.vhost == name)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.remove_binding(&k);
        }
    }
}

/// The keys of a map keyed (first, second) whose first part is `first`.
fn range_keys<V>(map: &BTreeMap<Named, V>, first: &str) -> Vec<Named> {
    map.range((first.to_string(), String::new())..)
        .take_while(|((f, _), _)| f == first)
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn queue(vhost: &str, name: &str) -> QueueDefinition {
        QueueDefinition {
            name: name.into(),
            vhost: vhost.into(),
            durable: true,
            auto_delete: false,
            arguments: Map::new(),
            home: None,
            mirrors: Vec::new(),
            synchronised: Vec::new(),
        }
    }

    fn exchange(vhost: &str, name: &str) -> ExchangeDefinition {
        ExchangeDefinition {
            name: name.into(),
            vhost: vhost.into(),
            kind: "topic".into(),
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: Map::new(),
        }
    }

    fn binding(vhost: &str, src: &str, dest: &str, queue: bool, rk: &str) -> BindingDefinition {
        BindingDefinition {
            source: src.into(),
            vhost: vhost.into(),
            destination: dest.into(),
            destination_type: if queue {
                DestinationType::Queue
            } else {
                DestinationType::Exchange
            },
            routing_key: rk.into(),
            arguments: Map::new(),
        }
    }

    fn binding_names(m: &Model) -> Vec<(String, String, String)> {
        m.to_definitions()
            .bindings
            .into_iter()
            .map(|b| (b.source, b.destination, b.routing_key))
            .collect()
    }

    fn s(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn deleting_a_queue_or_exchange_drops_its_bindings_only() {
        let mut m = Model::default();
        for c in [
            Change::PutExchange(exchange("/", "x")),
            Change::PutExchange(exchange("/", "y")),
            Change::PutQueue(queue("/", "q1")),
            Change::PutQueue(queue("/", "q2")),
            Change::PutBinding(binding("/", "x", "q1", true, "a")),
            Change::PutBinding(binding("/", "x", "q1", true, "b")),
            Change::PutBinding(binding("/", "x", "q2", true, "a")),
            Change::PutBinding(binding("/", "y", "x", false, "")),
            Change::PutBinding(binding("/", "x", "y", false, "z")),
        ] {
            m.apply(c);
        }
        m.apply(Change::DeleteQueue {
            vhost: "/".into(),
            name: "q1".into(),
        });
        assert_eq!(
            binding_names(&m),
            vec![s("x", "y", "z"), s("x", "q2", "a"), s("y", "x", "")]
        );
        m.apply(Change::DeleteExchange {
            vhost: "/".into(),
            name: "x".into(),
        });
        assert!(binding_names(&m).is_empty());
        assert_eq!(m.to_definitions().exchanges.len(), 1);
    }

    #[test]
    fn replaying_changes_is_idempotent() {
        let changes = vec![
            Change::PutVhost(VhostDefinition::named("v", "")),
            Change::PutQueue(queue("v", "q")),
            Change::PutExchange(exchange("v", "x")),
            Change::PutBinding(binding("v", "x", "q", true, "k")),
            Change::DeleteVhost { name: "v".into() },
            Change::PutVhost(VhostDefinition::named("v", "again")),
            Change::PutQueue(queue("v", "q2")),
        ];
        let mut once = Model::default();
        for c in changes.clone() {
            once.apply(c);
        }
        let mut twice = once.clone();
        for c in changes {
            twice.apply(c);
        }
        assert_eq!(once.to_definitions(), twice.to_definitions());
        let d = once.to_definitions();
        assert_eq!(d.queues.len(), 1);
        assert_eq!(d.vhosts[0].description, "again");
        assert!(d.bindings.is_empty() && d.exchanges.is_empty());
    }

    #[test]
    fn deleting_a_user_drops_its_permissions() {
        let mut m = Model::default();
        for (user, vhost) in [("a", "/"), ("a", "v"), ("b", "/")] {
            m.apply(Change::PutPermission(PermissionDefinition {
                user: user.into(),
                vhost: vhost.into(),
                configure: ".*".into(),
                write: ".*".into(),
                read: ".*".into(),
            }));
        }
        m.apply(Change::DeleteUser { name: "a".into() });
        let left: Vec<String> = m
            .to_definitions()
            .permissions
            .into_iter()
            .map(|p| p.user)
            .collect();
        assert_eq!(left, vec!["b".to_string()]);
    }

    /// Every section of a RabbitMQ export survives the model unchanged.
    #[test]
    fn definitions_round_trip_through_the_model() {
        let defs = crate::store::definitions::tests::sample();
        let back = Model::from_definitions(defs.clone()).to_definitions();
        let sorted = |mut d: Definitions| {
            d.permissions
                .sort_by(|a, b| (&a.user, &a.vhost).cmp(&(&b.user, &b.vhost)));
            d
        };
        assert_eq!(sorted(back), sorted(defs));
    }

    #[test]
    fn changes_serialize_with_an_op_tag() {
        let c = Change::DeleteQueue {
            vhost: "/".into(),
            name: "q".into(),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"op":"delete_queue","vhost":"/","name":"q"}"#);
        let back: Change = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let b = Change::PutBinding(binding("/", "x", "q", true, "k"));
        let back: Change = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }
}
