//! Definitions (RabbitMQ's export format) as the broker commands that make them, in the
//! order they must run: vhosts, users, permissions, policies (before the queues and
//! exchanges that take settings from them), parameters, exchanges, queues, bindings. The
//! broker's boot and the management API's import both run these.

use super::command::{BindingSpec, Command, Destination, ExchangeDecl, PolicySpec, QueueDecl};
use crate::auth::password::{hash_password, SHA256_ALGORITHM};
use crate::store::definitions::{json_to_field_table, Definitions, DestinationType};

/// One command, what it makes (for messages), and whether a refusal must stop the load
/// (an exchange of an unknown type or a binding whose end is gone can be skipped).
pub(crate) struct Step {
    pub cmd: Command,
    pub what: String,
    pub required: bool,
}

pub(crate) fn steps(defs: &Definitions) -> Vec<Step> {
    let mut out = Vec::new();
    let mut push = |cmd, what: String, required| {
        out.push(Step {
            cmd,
            what,
            required,
        })
    };
    for v in &defs.vhosts {
        push(
            Command::PutVhost(v.clone()),
            format!("vhost '{}'", v.name),
            true,
        );
    }
    for u in &defs.users {
        let (password_hash, hashing_algorithm) = match &u.password {
            Some(p) if u.password_hash.is_empty() => (hash_password(p), SHA256_ALGORITHM.into()),
            _ => (u.password_hash.clone(), u.hashing_algorithm.clone()),
        };
        let cmd = Command::PutUser {
            name: u.name.clone(),
            password_hash,
            hashing_algorithm,
            tags: u.tags.clone(),
            limits: Some(u.limits.clone()),
        };
        push(cmd, format!("user '{}'", u.name), true);
    }
    for p in &defs.permissions {
        let cmd = Command::SetPermissions {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
            configure: p.configure.clone(),
            write: p.write.clone(),
            read: p.read.clone(),
        };
        let what = format!("permissions for '{}' in '{}'", p.user, p.vhost);
        push(cmd, what, true);
    }
    for p in &defs.topic_permissions {
        let cmd = Command::SetTopicPermission {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
            exchange: p.exchange.clone(),
            write: p.write.clone(),
            read: p.read.clone(),
        };
        let what = format!(
            "topic permissions for '{}' in '{}' on '{}'",
            p.user, p.vhost, p.exchange
        );
        push(cmd, what, true);
    }
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
        let (cmd, kind) = if operator {
            (Command::SetOperatorPolicy(spec), "operator policy")
        } else {
            (Command::SetPolicy(spec), "policy")
        };
        push(
            cmd,
            format!("{kind} '{}' in vhost '{}'", p.name, p.vhost),
            true,
        );
    }
    for p in &defs.parameters {
        let cmd = Command::SetParameter {
            vhost: p.vhost.clone(),
            component: p.component.clone(),
            name: p.name.clone(),
            value: p.value.clone(),
        };
        let what = format!(
            "parameter '{}' of '{}' in '{}'",
            p.name, p.component, p.vhost
        );
        push(cmd, what, false);
    }
    for p in &defs.global_parameters {
        let cmd = Command::SetGlobalParameter {
            name: p.name.clone(),
            value: p.value.clone(),
        };
        push(cmd, format!("global parameter '{}'", p.name), true);
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
        push(
            cmd,
            format!("exchange '{}' in '{}'", e.name, e.vhost),
            false,
        );
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
            home: q.home.clone(),
        });
        push(cmd, format!("queue '{}' in '{}'", q.name, q.vhost), false);
        if !q.mirrors.is_empty() {
            let cmd = Command::SetMirrors {
                vhost: q.vhost.clone(),
                name: q.name.clone(),
                nodes: q.mirrors.clone(),
            };
            push(
                cmd,
                format!("mirrors of queue '{}' in '{}'", q.name, q.vhost),
                false,
            );
        }
        if !q.synchronised.is_empty() {
            let cmd = Command::SetSynchronised {
                vhost: q.vhost.clone(),
                name: q.name.clone(),
                master: None,
                nodes: q.synchronised.clone(),
            };
            let what = format!(
                "synchronised mirrors of queue '{}' in '{}'",
                q.name, q.vhost
            );
            push(cmd, what, false);
        }
    }
    for b in &defs.bindings {
        let cmd = Command::Bind(binding_spec(b));
        let what = format!(
            "binding from '{}' to '{}' in '{}'",
            b.source, b.destination, b.vhost
        );
        push(cmd, what, false);
    }
    out
}

/// A stored binding as the spec of a bind or unbind command.
pub(crate) fn binding_spec(b: &crate::store::definitions::BindingDefinition) -> BindingSpec {
    let destination = match b.destination_type {
        DestinationType::Queue => Destination::Queue(b.destination.clone()),
        DestinationType::Exchange => Destination::Exchange(b.destination.clone()),
    };
    BindingSpec {
        vhost: b.vhost.clone(),
        source: b.source.clone(),
        destination,
        routing_key: b.routing_key.clone(),
        arguments: json_to_field_table(&b.arguments),
    }
}
