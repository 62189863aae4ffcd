//! Moving definitions between their stored form (RabbitMQ's export format) and the live
//! broker: seeding a new data dir from the config, restoring on boot, exporting to save.

use super::exchange::{Dest, Exchange, ExchangeKind};
use super::Broker;
use crate::auth::password::{hash_password, SHA256_ALGORITHM};
use crate::auth::permissions::Permission;
use crate::auth::User;
use crate::broker::policy::Policy;
use crate::config::Config;
use crate::queue::{Queue, QueueSpec};
use crate::store::definitions::{
    field_table_to_json, json_to_field_table, BindingDefinition, Definitions, DestinationType,
    ExchangeDefinition, PermissionDefinition, PolicyDefinition, QueueDefinition, UserDefinition,
    VhostDefinition,
};

/// Definitions for a new data dir: the config's users, vhosts and permissions, or
/// RabbitMQ's default (vhost `/`, user guest/guest with full permissions) when it names none.
pub fn from_config(config: &Config) -> anyhow::Result<Definitions> {
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

/// Loads definitions into the (empty) broker.
pub fn apply(broker: &std::sync::Arc<Broker>, defs: &Definitions) -> anyhow::Result<()> {
    for v in &defs.vhosts {
        broker.add_vhost(&v.name, &v.description);
    }
    for u in &defs.users {
        broker.put_user(User {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            tags: u.tags.clone(),
        });
    }
    load_policies(broker, defs)?;
    for p in &defs.permissions {
        let perm = Permission::new(&p.configure, &p.write, &p.read)
            .map_err(|e| anyhow::anyhow!("permissions for '{}' in '{}': {e}", p.user, p.vhost))?;
        broker.put_permission(&p.user, &p.vhost, perm);
    }
    for e in &defs.exchanges {
        let (Some(vh), Some(kind)) = (broker.vhost(&e.vhost), ExchangeKind::parse(&e.kind)) else {
            tracing::warn!("skipping stored exchange '{}' in '{}'", e.name, e.vhost);
            continue;
        };
        vh.add_exchange(Exchange::new(
            e.name.clone(),
            kind,
            e.durable,
            e.auto_delete,
            e.internal,
            json_to_field_table(&e.arguments),
        ));
    }
    for q in &defs.queues {
        let Some(vh) = broker.vhost(&q.vhost) else {
            continue;
        };
        let arguments = json_to_field_table(&q.arguments);
        let what = format!("queue '{}' in vhost '{}'", q.name, q.vhost);
        let settings = crate::queue::args::parse(&arguments, &what).unwrap_or_else(|e| {
            tracing::warn!("stored {what}: {e}; its arguments are ignored");
            Default::default()
        });
        let spec = QueueSpec {
            name: q.name.clone(),
            durable: q.durable,
            auto_delete: q.auto_delete,
            exclusive_owner: None,
            arguments,
            args: settings,
        };
        vh.add_queue(Queue::new(broker, &vh, spec));
    }
    for b in &defs.bindings {
        restore_binding(broker, b);
    }
    broker.apply_policies();
    Ok(())
}

/// Policies go in before queues and exchanges, which take their settings from them.
fn load_policies(broker: &Broker, defs: &Definitions) -> anyhow::Result<()> {
    let mut policies = broker.policies.write();
    for p in &defs.policies {
        let policy = Policy::new(
            p.name.as_str(),
            p.vhost.as_str(),
            &p.pattern,
            &p.apply_to,
            p.priority,
            p.definition.clone(),
        )
        .map_err(|e| anyhow::anyhow!("policy '{}' in vhost '{}': {e}", p.name, p.vhost))?;
        policies.put(policy);
    }
    for p in &defs.operator_policies {
        let policy = Policy::new_operator(
            p.name.as_str(),
            p.vhost.as_str(),
            &p.pattern,
            &p.apply_to,
            p.priority,
            p.definition.clone(),
        )
        .and_then(|pol| policies.put_operator(pol))
        .map_err(|e| anyhow::anyhow!("operator policy '{}' in vhost '{}': {e}", p.name, p.vhost));
        policy?;
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
pub fn durable_queue_keys(defs: &Definitions) -> std::collections::HashSet<u64> {
    defs.queues
        .iter()
        .filter(|q| q.durable)
        .map(|q| crate::store::record::queue_key(&q.vhost, &q.name))
        .collect()
}

/// Puts recovered messages back in their queues.
pub fn restore_messages(broker: &Broker, mut recovered: crate::store::messages::Recovered) {
    for vh in broker.vhosts() {
        for q in vh.queues() {
            if let Some(refs) = recovered.queues.remove(&q.key) {
                q.restore(refs);
            }
        }
    }
}

fn restore_binding(broker: &Broker, b: &BindingDefinition) {
    let Some(vh) = broker.vhost(&b.vhost) else {
        return;
    };
    let Some(src) = vh.exchange(&b.source) else {
        return;
    };
    let dest = if b.destination_type == DestinationType::Queue {
        match vh.queue(&b.destination) {
            Some(q) => Dest::Queue(q),
            None => return,
        }
    } else {
        Dest::Exchange(b.destination.clone())
    };
    src.bind(dest, &b.routing_key, &json_to_field_table(&b.arguments));
}

/// The broker's current durable definitions.
pub fn export(broker: &Broker) -> Definitions {
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
    for q in vh.queues().into_iter().filter(|q| q.durable) {
        defs.queues.push(QueueDefinition {
            name: q.name.clone(),
            vhost: vh.name.clone(),
            durable: true,
            auto_delete: q.auto_delete,
            arguments: field_table_to_json(&q.arguments),
        });
    }
    for ex in vh.exchanges() {
        if ex.name.is_empty() || ex.name.starts_with("amq.") || !ex.durable {
            continue;
        }
        defs.exchanges.push(ExchangeDefinition {
            name: ex.name.clone(),
            vhost: vh.name.clone(),
            kind: ex.kind.as_str().to_string(),
            durable: true,
            auto_delete: ex.auto_delete,
            internal: ex.internal,
            arguments: field_table_to_json(&ex.arguments),
        });
    }
    for ex in vh.exchanges() {
        for b in ex.bindings() {
            let durable_dest = match &b.dest {
                Dest::Queue(q) => q.durable,
                Dest::Exchange(n) => vh.exchange(n).is_some_and(|e| e.durable),
            };
            if !ex.durable || !durable_dest {
                continue;
            }
            defs.bindings.push(BindingDefinition {
                source: ex.name.clone(),
                vhost: vh.name.clone(),
                destination: b.dest.name().to_string(),
                destination_type: if b.dest.is_queue() {
                    DestinationType::Queue
                } else {
                    DestinationType::Exchange
                },
                routing_key: b.routing_key.clone(),
                arguments: field_table_to_json(&b.args),
            });
        }
    }
}
