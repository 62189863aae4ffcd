//! Moving definitions between their stored form (RabbitMQ's export format) and the live
//! broker: seeding a new data dir from the config, restoring on boot, exporting to save.

use super::command::Actor;
use super::exchange::Dest;
use super::{records, Broker};
use crate::auth::password::{hash_password, SHA256_ALGORITHM};
use crate::broker::policy::Policy;
use crate::config::Config;
use crate::store::definitions::{
    Definitions, GlobalParameterDefinition, ParameterDefinition, PermissionDefinition,
    PolicyDefinition, TopicPermissionDefinition, UserDefinition, VhostDefinition,
};
use std::sync::Arc;

/// Definitions for a new data dir: the config's users, vhosts and permissions, or
/// RabbitMQ's default (vhost `/`, user guest/guest with full permissions) when it names none.
pub(super) fn from_config(config: &Config) -> anyhow::Result<Definitions> {
    let mut defs = Definitions::default();
    for u in &config.users {
        let password_hash = match (&u.password_hash, &u.password) {
            (Some(h), _) => h.clone(),
            (None, Some(p)) => hash_password(p),
            (None, None) => anyhow::bail!("users: user '{}' has no password", u.name),
        };
        defs.users.push(UserDefinition {
            name: u.name.clone(),
            password: None,
            password_hash,
            tags: u.tags.clone(),
            hashing_algorithm: SHA256_ALGORITHM.to_string(),
            limits: Default::default(),
        });
    }
    for v in &config.vhosts {
        defs.vhosts.push(VhostDefinition::named(
            &v.name,
            v.description.as_deref().unwrap_or_default(),
        ));
    }
    for p in &config.permissions {
        defs.permissions.push(PermissionDefinition {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
            configure: p.configure.clone(),
            write: p.write.clone(),
            read: p.read.clone(),
        });
    }
    let policy_def = |p: &crate::config::PolicyDef| PolicyDefinition {
        vhost: p.vhost.clone(),
        name: p.name.clone(),
        pattern: p.pattern.clone(),
        apply_to: p.apply_to.clone(),
        definition: p.definition.clone(),
        priority: p.priority,
    };
    defs.policies = config.policies.iter().map(policy_def).collect();
    defs.operator_policies = config.operator_policies.iter().map(policy_def).collect();
    if defs.vhosts.is_empty() {
        defs.vhosts
            .push(VhostDefinition::named("/", "Default virtual host"));
    }
    if config.users.is_empty() {
        defs.users.push(UserDefinition {
            name: "guest".into(),
            password: None,
            password_hash: hash_password("guest"),
            tags: vec!["administrator".into()],
            hashing_algorithm: SHA256_ALGORITHM.to_string(),
            limits: Default::default(),
        });
        defs.permissions.push(PermissionDefinition {
            user: "guest".into(),
            vhost: "/".into(),
            configure: ".*".into(),
            write: ".*".into(),
            read: ".*".into(),
        });
    }
    Ok(defs)
}

/// Loads stored definitions into the (empty) broker, as the commands that made them. What
/// the broker can no longer take (an exchange of an unknown type, a binding whose end is
/// gone) is skipped with a warning; a vhost, user, permission or policy it refuses stops
/// the start.
pub(super) fn apply(broker: &Arc<Broker>, defs: &Definitions) -> anyhow::Result<()> {
    // Everything here is already stored: the changes the commands record are dropped.
    let mut stored = Vec::new();
    for step in super::import::steps(defs) {
        if let Err(e) = broker.apply(&Actor::BROKER, step.cmd, &mut stored) {
            if step.required {
                anyhow::bail!("{}: {e}", step.what);
            }
            tracing::warn!("skipping stored {}: {e}", step.what);
        }
    }
    Ok(())
}

fn policy_definition(p: &Policy) -> PolicyDefinition {
    PolicyDefinition {
        vhost: p.vhost.clone(),
        name: p.name.clone(),
        pattern: p.pattern_source().to_string(),
        apply_to: p.apply_to_str().to_string(),
        definition: p.definition.clone(),
        priority: p.priority,
    }
}

/// The store keys of the durable queues the definitions name.
pub(super) fn durable_queue_keys(defs: &Definitions) -> std::collections::HashSet<u64> {
    defs.queues
        .iter()
        .filter(|q| q.durable)
        .map(|q| crate::store::record::queue_key(&q.vhost, &q.name))
        .collect()
}

/// Puts recovered messages back in their queues; returns those of queues not declared
/// (a RAM node's, until the cluster declares them).
pub(super) fn restore_messages(
    broker: &Broker,
    mut recovered: crate::store::messages::Recovered,
) -> std::collections::HashMap<u64, Vec<crate::store::messages::Restored>> {
    let here = &broker.config.node_name;
    for vh in broker.vhosts() {
        for q in vh.queues() {
            let Some(refs) = recovered.queues.remove(&q.key) else {
                continue;
            };
            if q.home_node().is_none_or(|h| h == *here) {
                q.restore(refs);
            } else {
                // Homed on another cluster node, it holds nothing here: what this node
                // stored for it (its mirror's copy, or its own as the master before a
                // promotion elsewhere) waits in the copy's pool for the master's sync.
                q.pool_stored(refs);
            }
        }
    }
    recovered.queues
}

/// The broker's definitions, as RabbitMQ exports them.
pub(super) fn export(broker: &Broker) -> Definitions {
    let mut defs = Definitions::default();
    for u in broker.users() {
        defs.users.push(UserDefinition {
            name: u.name.clone(),
            password: None,
            password_hash: u.password_hash.clone(),
            tags: u.tags.clone(),
            hashing_algorithm: u.hashing_algorithm.clone(),
            limits: u.limits.to_json(),
        });
    }
    for (user, vhost, p) in broker.all_topic_permissions() {
        defs.topic_permissions.push(TopicPermissionDefinition {
            user,
            vhost,
            exchange: p.exchange.clone(),
            write: p.write().to_string(),
            read: p.read().to_string(),
        });
    }
    for (user, vhost, p) in broker.permissions() {
        defs.permissions.push(PermissionDefinition {
            user,
            vhost,
            configure: p.configure().to_string(),
            write: p.write().to_string(),
            read: p.read().to_string(),
        });
    }
    {
        let policies = broker.policies.read();
        defs.policies = policies.list().iter().map(policy_definition).collect();
        defs.operator_policies = policies
            .list_operator()
            .iter()
            .map(policy_definition)
            .collect();
    }
    {
        let params = broker.parameters.read();
        defs.parameters = params
            .list()
            .map(|((vhost, component, name), value)| ParameterDefinition {
                value: value.clone(),
                vhost: vhost.clone(),
                component: component.clone(),
                name: name.clone(),
            })
            .collect();
        defs.global_parameters = params
            .list_global()
            .map(|(name, value)| GlobalParameterDefinition {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
    }
    for vh in broker.vhosts() {
        defs.vhosts.push(vh.definition());
        export_vhost(&vh, &mut defs);
    }
    sort(&mut defs);
    defs
}

/// Puts every section in a stable order (users and vhosts by name, objects by vhost and
/// name), so exports of the same state are the same.
fn sort(defs: &mut Definitions) {
    defs.users.sort_by(|a, b| a.name.cmp(&b.name));
    defs.vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    defs.permissions
        .sort_by(|a, b| (&a.user, &a.vhost).cmp(&(&b.user, &b.vhost)));
    defs.queues
        .sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
    defs.exchanges
        .sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
    defs.bindings.sort_by(|a, b| {
        let key = |x: &crate::store::definitions::BindingDefinition| {
            (
                x.vhost.clone(),
                x.source.clone(),
                x.destination.clone(),
                x.routing_key.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// A vhost's queues, exchanges and bindings as RabbitMQ exports them: durable or not, all
/// but exclusive queues (which cannot be restored) and the bindings to them.
fn export_vhost(vh: &super::Vhost, defs: &mut Definitions) {
    let exported = |q: &crate::queue::Queue| q.exclusive_owner.is_none();
    defs.queues.extend(
        vh.queues()
            .iter()
            .filter(|q| exported(q))
            .map(|q| records::definition(&vh.name, q)),
    );
    for ex in vh.exchanges() {
        if ex.name.is_empty() || ex.name.starts_with("amq.") {
            continue;
        }
        defs.exchanges.push(records::exchange(&vh.name, &ex));
    }
    for ex in vh.exchanges() {
        for b in ex.bindings() {
            if let Dest::Queue(q) = &b.dest {
                if !exported(q) {
                    continue;
                }
            }
            defs.bindings.push(records::binding(&vh.name, &ex.name, &b));
        }
    }
}
