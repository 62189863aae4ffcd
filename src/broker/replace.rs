//! Replacing every definition with another set (a cluster node installing a snapshot of the
//! metadata): what the new set lacks is deleted, what it has is put in place, and what is
//! the same in both is left alone, so unchanged queues keep their messages.

use super::command::{Actor, Command, CommandResult};
use super::import::{binding_spec, steps};
use super::Broker;
use crate::store::definitions::Definitions;
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
        changes.extend(extra);
        self.persist(changes);
        Ok(())
    }
}

/// The commands that remove what `current` has and `target` lacks (or has otherwise, for
/// queues and exchanges, which cannot be changed in place), the dependent objects first.
fn removals(current: &Definitions, target: &Definitions) -> Vec<Command> {
    let mut out = Vec::new();
    let bindings: HashSet<String> = target.bindings.iter().map(key).collect();
    for b in current
        .bindings
        .iter()
        .filter(|b| !bindings.contains(&key(b)))
    {
        out.push(Command::Unbind(binding_spec(b)));
    }
    let queues: HashSet<String> = target.queues.iter().map(key).collect();
    for q in current.queues.iter().filter(|q| !queues.contains(&key(q))) {
        out.push(Command::DeleteQueue {
            vhost: q.vhost.clone(),
            name: q.name.clone(),
            if_unused: false,
            if_empty: false,
        });
    }
    let exchanges: HashSet<String> = target.exchanges.iter().map(key).collect();
    for e in current
        .exchanges
        .iter()
        .filter(|e| !exchanges.contains(&key(e)))
    {
        out.push(Command::DeleteExchange {
            vhost: e.vhost.clone(),
            name: e.name.clone(),
            if_unused: false,
        });
    }
    let named = |v: &str, n: &str| format!("{v}\u{0}{n}");
    let policies: HashSet<String> = (target.policies.iter())
        .map(|p| named(&p.vhost, &p.name))
        .collect();
    for p in (current.policies.iter()).filter(|p| !policies.contains(&named(&p.vhost, &p.name))) {
        out.push(Command::ClearPolicy {
            vhost: p.vhost.clone(),
            name: p.name.clone(),
        });
    }
    let ops: HashSet<String> = (target.operator_policies.iter())
        .map(|p| named(&p.vhost, &p.name))
        .collect();
    for p in (current.operator_policies.iter()).filter(|p| !ops.contains(&named(&p.vhost, &p.name)))
    {
        out.push(Command::ClearOperatorPolicy {
            vhost: p.vhost.clone(),
            name: p.name.clone(),
        });
    }
    let params: HashSet<String> = (target.parameters.iter())
        .map(|p| named(&p.vhost, &named(&p.component, &p.name)))
        .collect();
    for p in current.parameters.iter() {
        if !params.contains(&named(&p.vhost, &named(&p.component, &p.name))) {
            out.push(Command::ClearParameter {
                vhost: p.vhost.clone(),
                component: p.component.clone(),
                name: p.name.clone(),
            });
        }
    }
    let topic: HashSet<String> = (target.topic_permissions.iter())
        .map(|t| named(&t.user, &named(&t.vhost, &t.exchange)))
        .collect();
    for t in current.topic_permissions.iter() {
        if !topic.contains(&named(&t.user, &named(&t.vhost, &t.exchange))) {
            out.push(Command::ClearTopicPermissions {
                user: t.user.clone(),
                vhost: t.vhost.clone(),
                exchange: Some(t.exchange.clone()),
            });
        }
    }
    let perms: HashSet<String> = (target.permissions.iter())
        .map(|p| named(&p.user, &p.vhost))
        .collect();
    for p in current
        .permissions
        .iter()
        .filter(|p| !perms.contains(&named(&p.user, &p.vhost)))
    {
        out.push(Command::ClearPermissions {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
        });
    }
    let globals: HashSet<&str> = target
        .global_parameters
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    for g in current
        .global_parameters
        .iter()
        .filter(|g| !globals.contains(g.name.as_str()))
    {
        out.push(Command::ClearGlobalParameter {
            name: g.name.clone(),
        });
    }
    let vhosts: HashSet<&str> = target.vhosts.iter().map(|v| v.name.as_str()).collect();
    for v in current
        .vhosts
        .iter()
        .filter(|v| !vhosts.contains(v.name.as_str()))
    {
        out.push(Command::DeleteVhost {
            name: v.name.clone(),
        });
    }
    let users: HashSet<&str> = target.users.iter().map(|u| u.name.as_str()).collect();
    for u in current
        .users
        .iter()
        .filter(|u| !users.contains(u.name.as_str()))
    {
        out.push(Command::DeleteUser {
            name: u.name.clone(),
        });
    }
    out
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
