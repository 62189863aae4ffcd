//! Moving definitions between their stored form (RabbitMQ's export format) and the live
//! broker: seeding a new data dir from the config, restoring on boot, exporting to save.

use super::command::{
    Actor, BindingSpec, Command, Destination, ExchangeDecl, PolicySpec, QueueDecl,
};
use super::exchange::Dest;
use super::{records, Broker};
use crate::auth::password::{hash_password, SHA256_ALGORITHM};
use crate::broker::policy::Policy;
use crate::config::Config;
use crate::store::definitions::{
    json_to_field_table, Definitions, DestinationType, GlobalParameterDefinition,
    ParameterDefinition, PermissionDefinition, PolicyDefinition, UserDefinition, VhostDefinition,
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
            password_hash,
            tags: u.tags.clone(),
            hashing_algorithm: SHA256_ALGORITHM.to_string(),
        });
    }
    for v in &config.vhosts {
        defs.vhosts.push(VhostDefinition {
            name: v.name.clone(),
            description: v.description.clone().unwrap_or_default(),
        });
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
        defs.vhosts.push(VhostDefinition {
            name: "/".into(),
            description: "Default virtual host".into(),
        });
    }
    if config.users.is_empty() {
        defs.users.push(UserDefinition {
            name: "guest".into(),
            password_hash: hash_password("guest"),
            tags: vec!["administrator".into()],
            hashing_algorithm: SHA256_ALGORITHM.to_string(),
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
/// gone) is skipped with a warning; a policy that does not validate stops the start.
pub(super) fn apply(broker: &Arc<Broker>, defs: &Definitions) -> anyhow::Result<()> {
    // Everything here is already stored: the changes the commands record are dropped.
    let mut stored = Vec::new();
    let mut run = |cmd: Command| broker.apply(&Actor::BROKER, cmd, &mut stored);
    for v in &defs.vhosts {
        run(Command::AddVhost {
            name: v.name.clone(),
            description: v.description.clone(),
        })
        .map_err(|e| anyhow::anyhow!("vhost '{}': {e}", v.name))?;
    }
    for u in &defs.users {
        run(Command::PutUser {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            tags: u.tags.clone(),
        })
        .map_err(|e| anyhow::anyhow!("user '{}': {e}", u.name))?;
    }
    for p in &defs.permissions {
        run(Command::SetPermissions {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
            configure: p.configure.clone(),
            write: p.write.clone(),
            read: p.read.clone(),
        })
        .map_err(|e| anyhow::anyhow!("permissions for '{}' in '{}': {e}", p.user, p.vhost))?;
    }
    // Policies go in before queues and exchanges, which take their settings from them.
    for (p, operator) in (defs.policies.iter().map(|p| (p, false)))
        .chain(defs.operator_policies.iter().map(|p| (p, true)))
    {
        let spec = PolicySpec {
            vhost: p.vhost.clone(),
            name: p.name.clone(),
            pattern: p.pattern.clone(),
            apply_to: p.apply_to.clone(),
            priority: p.priority,
            definition: p.definition.clone(),
        };
        let (cmd, what) = if operator {
            (Command::SetOperatorPolicy(spec), "operator policy")
        } else {
            (Command::SetPolicy(spec), "policy")
        };
        run(cmd).map_err(|e| anyhow::anyhow!("{what} '{}' in vhost '{}': {e}", p.name, p.vhost))?;
    }
    for p in &defs.parameters {
        let cmd = Command::SetParameter {
            vhost: p.vhost.clone(),
            component: p.component.clone(),
            name: p.name.clone(),
            value: p.value.clone(),
        };
        if let Err(err) = run(cmd) {
            tracing::warn!(
                "skipping stored parameter '{}' of '{}' in '{}': {err}",
                p.name,
                p.component,
                p.vhost
            );
        }
    }
    for p in &defs.global_parameters {
        run(Command::SetGlobalParameter {
            name: p.name.clone(),
            value: p.value.clone(),
        })
        .map_err(|e| anyhow::anyhow!("global parameter '{}': {e}", p.name))?;
    }
    for e in &defs.exchanges {
        let cmd = Command::DeclareExchange(ExchangeDecl {
            vhost: e.vhost.clone(),
            name: e.name.clone(),
            kind: e.kind.clone(),
            durable: e.durable,
            auto_delete: e.auto_delete,
            internal: e.internal,
            arguments: json_to_field_table(&e.arguments),
        });
        if let Err(err) = run(cmd) {
            tracing::warn!(
                "skipping stored exchange '{}' in '{}': {err}",
                e.name,
                e.vhost
            );
        }
    }
    for q in &defs.queues {
        let cmd = Command::DeclareQueue(QueueDecl {
            vhost: q.vhost.clone(),
            name: q.name.clone(),
            server_named: q.name.starts_with("amq.gen-"),
            durable: q.durable,
            auto_delete: q.auto_delete,
            exclusive_owner: None,
            arguments: json_to_field_table(&q.arguments),
        });
        if let Err(err) = run(cmd) {
            tracing::warn!("skipping stored queue '{}' in '{}': {err}", q.name, q.vhost);
        }
    }
    for b in &defs.bindings {
        let destination = match b.destination_type {
            DestinationType::Queue => Destination::Queue(b.destination.clone()),
            DestinationType::Exchange => Destination::Exchange(b.destination.clone()),
        };
        let cmd = Command::Bind(BindingSpec {
            vhost: b.vhost.clone(),
            source: b.source.clone(),
            destination,
            routing_key: b.routing_key.clone(),
            arguments: json_to_field_table(&b.arguments),
        });
        if let Err(err) = run(cmd) {
            tracing::warn!(
                "skipping stored binding from '{}' to '{}' in '{}': {err}",
                b.source,
                b.destination,
                b.vhost
            );
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

/// Puts recovered messages back in their queues.
pub(super) fn restore_messages(broker: &Broker, mut recovered: crate::store::messages::Recovered) {
    for vh in broker.vhosts() {
        for q in vh.queues() {
            if let Some(refs) = recovered.queues.remove(&q.key) {
                q.restore(refs);
            }
        }
    }
}

/// The broker's current durable definitions.
pub(super) fn export(broker: &Broker) -> Definitions {
    let mut defs = Definitions::default();
    for u in broker.users() {
        defs.users.push(UserDefinition {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            tags: u.tags.clone(),
            hashing_algorithm: SHA256_ALGORITHM.to_string(),
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
        defs.vhosts.push(VhostDefinition {
            name: vh.name.clone(),
            description: vh.description.clone(),
        });
        export_vhost(&vh, &mut defs);
    }
    defs
}

fn export_vhost(vh: &super::Vhost, defs: &mut Definitions) {
    defs.queues.extend(
        vh.queues()
            .iter()
            .filter_map(|q| records::queue(&vh.name, q)),
    );
    for ex in vh.exchanges() {
        if ex.name.is_empty() || ex.name.starts_with("amq.") || !ex.durable {
            continue;
        }
        defs.exchanges.push(records::exchange(&vh.name, &ex));
    }
    for ex in vh.exchanges().into_iter().filter(|ex| ex.durable) {
        for b in ex.bindings() {
            let durable_dest = match &b.dest {
                Dest::Queue(q) => records::stored(q),
                Dest::Exchange(n) => vh.exchange(n).is_some_and(|e| e.durable),
            };
            if durable_dest {
                defs.bindings.push(records::binding(&vh.name, &ex.name, &b));
            }
        }
    }
}
