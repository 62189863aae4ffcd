//! Replacing every definition with another set (a cluster node installing a snapshot of the
//! metadata): what the new set lacks is deleted, what it has is put in place, and what is
//! the same in both is left alone, so unchanged queues keep their messages.

use super::command::{Actor, Command, CommandResult};
use super::import::{binding_spec, steps};
use super::Broker;
use crate::store::definitions::{
    Definitions, GlobalParameterDefinition, ParameterDefinition, PermissionDefinition,
    PolicyDefinition, QueueDefinition, TopicPermissionDefinition,
};
use crate::store::meta_model::Change;
use std::collections::HashSet;

impl Broker {
    /// Makes the broker's definitions `target`'s, and writes `extra` with the changes.
    pub fn replace_definitions(
        &self,
        target: &Definitions,
        extra: Vec<Change>,
    ) -> CommandResult<()> {
        let current = self.export_definitions();
        let mut changes = Vec::new();
        for cmd in removals(&current, target) {
            // A removal can find its object gone already (a vhost's queues go with it).
            let _ = self.apply(&Actor::BROKER, cmd, &mut changes);
        }
        for step in steps(target) {
            if let Err(e) = self.apply(&Actor::BROKER, step.cmd, &mut changes) {
                tracing::warn!("metadata snapshot: {}: {e}", step.what);
            }
        }
        // The steps place mirrors; queues that have none lose those they had.
        for q in target.queues.iter().filter(|q| q.mirrors.is_empty()) {
            let clear = Command::SetMirrors {
                vhost: q.vhost.clone(),
                name: q.name.clone(),
                nodes: Vec::new(),
            };
            let _ = self.apply(&Actor::BROKER, clear, &mut changes);
        }
        changes.extend(extra);
        self.persist(changes);
        Ok(())
    }
}

/// The commands that remove what `current` has and `target` lacks (or has otherwise, for
/// queues and exchanges, which cannot be changed in place), the dependent objects first.
fn removals(current: &Definitions, target: &Definitions) -> Vec<Command> {
    let named = |parts: &[&str]| parts.join("\u{0}");
    let mut out = Vec::new();
    for b in missing(&current.bindings, &target.bindings, key) {
        out.push(Command::Unbind(binding_spec(b)));
    }
    // A queue whose mirrors moved is the same queue: the steps place them.
    let queue_key = |q: &QueueDefinition| {
        key(&QueueDefinition {
            mirrors: Vec::new(),
            synchronised: Vec::new(),
            ..q.clone()
        })
    };
    for q in missing(&current.queues, &target.queues, queue_key) {
        out.push(Command::DeleteQueue {
            vhost: q.vhost.clone(),
            name: q.name.clone(),
            if_unused: false,
            if_empty: false,
        });
    }
    for e in missing(&current.exchanges, &target.exchanges, key) {
        out.push(Command::DeleteExchange {
            vhost: e.vhost.clone(),
            name: e.name.clone(),
            if_unused: false,
        });
    }
    let policy = |p: &PolicyDefinition| named(&[&p.vhost, &p.name]);
    for p in missing(&current.policies, &target.policies, policy) {
        let (vhost, name) = (p.vhost.clone(), p.name.clone());
        out.push(Command::ClearPolicy { vhost, name });
    }
    for p in missing(
        &current.operator_policies,
        &target.operator_policies,
        policy,
    ) {
        let (vhost, name) = (p.vhost.clone(), p.name.clone());
        out.push(Command::ClearOperatorPolicy { vhost, name });
    }
    let param = |p: &ParameterDefinition| named(&[&p.vhost, &p.component, &p.name]);
    for p in missing(&current.parameters, &target.parameters, param) {
        out.push(Command::ClearParameter {
            vhost: p.vhost.clone(),
            component: p.component.clone(),
            name: p.name.clone(),
        });
    }
    let topic = |t: &TopicPermissionDefinition| named(&[&t.user, &t.vhost, &t.exchange]);
    for t in missing(&current.topic_permissions, &target.topic_permissions, topic) {
        out.push(Command::ClearTopicPermissions {
            user: t.user.clone(),
            vhost: t.vhost.clone(),
            exchange: Some(t.exchange.clone()),
        });
    }
    let perm = |p: &PermissionDefinition| named(&[&p.user, &p.vhost]);
    for p in missing(&current.permissions, &target.permissions, perm) {
        let (user, vhost) = (p.user.clone(), p.vhost.clone());
        out.push(Command::ClearPermissions { user, vhost });
    }
    let global = |g: &GlobalParameterDefinition| g.name.clone();
    for g in missing(
        &current.global_parameters,
        &target.global_parameters,
        global,
    ) {
        let name = g.name.clone();
        out.push(Command::ClearGlobalParameter { name });
    }
    for v in missing(&current.vhosts, &target.vhosts, |v| v.name.clone()) {
        let name = v.name.clone();
        out.push(Command::DeleteVhost { name });
    }
    for u in missing(&current.users, &target.users, |u| u.name.clone()) {
        let name = u.name.clone();
        out.push(Command::DeleteUser { name });
    }
    out
}

/// The items of `current` whose identity (`id`) none of `target`'s has.
fn missing<'a, T>(
    current: &'a [T],
    target: &[T],
    id: impl Fn(&T) -> String,
) -> impl Iterator<Item = &'a T> {
    let kept: HashSet<String> = target.iter().map(&id).collect();
    current.iter().filter(move |x| !kept.contains(&id(x)))
}

/// An object's identity and everything that cannot change in place, as one string.
fn key(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::definitions::{QueueDefinition, VhostDefinition};

    fn vhost(name: &str) -> VhostDefinition {
        serde_json::from_value(serde_json::json!({"name": name})).expect("vhost")
    }

    fn queue(vhost: &str, name: &str, durable: bool) -> QueueDefinition {
        QueueDefinition {
            name: name.into(),
            vhost: vhost.into(),
            durable,
            auto_delete: false,
            arguments: Default::default(),
            home: None,
            mirrors: Vec::new(),
            synchronised: Vec::new(),
        }
    }

    #[test]
    fn only_what_differs_is_removed() {
        let current = Definitions {
            vhosts: vec![vhost("/"), vhost("gone")],
            queues: vec![queue("/", "same", true), queue("/", "changed", true)],
            ..Definitions::default()
        };
        let target = Definitions {
            vhosts: vec![vhost("/")],
            queues: vec![queue("/", "same", true), queue("/", "changed", false)],
            ..Definitions::default()
        };
        let cmds = removals(&current, &target);
        assert_eq!(
            cmds,
            vec![
                Command::DeleteQueue {
                    vhost: "/".into(),
                    name: "changed".into(),
                    if_unused: false,
                    if_empty: false
                },
                Command::DeleteVhost {
                    name: "gone".into()
                },
            ]
        );
    }
}
