//! Declaring, purging and deleting queues. An exclusive queue is usable only from the
//! connection that owns it, which RabbitMQ checks before anything else about the queue.

use super::Scope;
use crate::auth::permissions::Access;
use crate::broker::command::{CommandError, CommandResult, Outcome, QueueDecl};
use crate::broker::equivalence::{check_args, QUEUE_ARGS};
use crate::broker::{records, Broker};
use crate::queue::{Queue, QueueSpec};
use crate::store::meta_model::Change;
use std::sync::Arc;

pub(super) fn declare(
    broker: &Broker,
    s: &Scope,
    d: QueueDecl,
    changes: &mut Vec<Change>,
) -> CommandResult {
    if d.name.starts_with("amq.") && !d.server_named {
        return Err(CommandError::AccessRefused(format!(
            "queue name '{}' contains reserved prefix 'amq.*'",
            d.name
        )));
    }
    s.check(Access::Configure, "queue", &d.name)?;
    let (queue, created) = match s.vhost.queue(&d.name) {
        Some(q) => {
            check_exclusive_redeclare(s, &q, d.exclusive_owner.is_some())?;
            if let Some(reason) = q.home_down().filter(|_| !s.is_broker()) {
                return Err(CommandError::NotFound(reason));
            }
            equivalent(s, &q, &d)?;
            (q, false)
        }
        None => {
            let limit = broker
                .parameters
                .read()
                .vhost_limit(&s.vhost.name, "max-queues");
            if let Some(l) = limit.filter(|l| !s.is_broker() && s.vhost.queue_count() >= *l) {
                return Err(CommandError::PreconditionFailed(format!(
                    "cannot declare queue '{}': queue limit in vhost '{}' ({l}) is reached",
                    d.name, s.vhost.name
                )));
            }
            let what = format!("queue '{}' in vhost '{}'", d.name, s.vhost.name);
            let args = match crate::queue::args::parse(&d.arguments, &what) {
                Ok(args) => args,
                // A stored queue is loaded whatever its arguments have become, with its messages.
                Err(e) if s.is_broker() => {
                    tracing::warn!("{what}: {e}; its arguments are ignored");
                    Default::default()
                }
                Err(e) => return Err(CommandError::PreconditionFailed(e)),
            };
            let spec = QueueSpec {
                name: d.name,
                durable: d.durable,
                auto_delete: d.auto_delete,
                exclusive_owner: d.exclusive_owner,
                arguments: d.arguments,
                args,
                home_node: d.home.clone(),
            };
            let settings = broker.queue_settings(&s.vhost.name, &spec.name, &spec.args);
            let owner: std::sync::Weak<dyn crate::queue::QueueOwner> = broker.this.clone();
            let remote = d.home.as_deref().and_then(|node| broker.remote_home(node));
            let new = Queue::new(
                owner,
                broker.store.clone(),
                &s.vhost.name,
                spec,
                settings,
                remote,
            );
            let q = s.vhost.add_queue(new.clone());
            let created = Arc::ptr_eq(&q, &new);
            if created {
                if let Some(r) = records::queue(&s.vhost.name, &q) {
                    changes.push(Change::PutQueue(r));
                }
                broker.claim_recovered(&q);
            } else {
                // Declared meanwhile by another connection: it must match, as a redeclare.
                check_exclusive_redeclare(s, &q, new.exclusive_owner.is_some())?;
            }
            (q, created)
        }
    };
    queue.touch();
    Ok(Outcome::Queue { queue, created })
}

/// Only the owning connection may use an exclusive queue.
pub(crate) fn check_exclusive(s: &Scope, q: &Queue) -> CommandResult<()> {
    match q.exclusive_owner {
        Some(owner) if !s.is_broker() && s.connection() != Some(owner) => Err(locked(s, q)),
        _ => Ok(()),
    }
}

/// A redeclare must also match the queue's exclusivity, checked before the other
/// properties: RabbitMQ answers a mismatch either way with 405, not 406.
fn check_exclusive_redeclare(s: &Scope, q: &Queue, exclusive: bool) -> CommandResult<()> {
    check_exclusive(s, q)?;
    if q.exclusive_owner.is_some() != exclusive {
        return Err(locked(s, q));
    }
    Ok(())
}

fn locked(s: &Scope, q: &Queue) -> CommandError {
    CommandError::ResourceLocked(format!(
        "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
        q.name, s.vhost.name
    ))
}

fn equivalent(s: &Scope, q: &Queue, d: &QueueDecl) -> CommandResult<()> {
    for (field, got, cur) in [
        ("durable", d.durable, q.durable),
        ("auto_delete", d.auto_delete, q.auto_delete),
    ] {
        if got != cur {
            return Err(CommandError::PreconditionFailed(format!(
                "inequivalent arg '{field}' for queue '{}' in vhost '{}': received '{got}' but current is '{cur}'",
                q.name, s.vhost.name
            )));
        }
    }
    let what = format!("queue '{}' in vhost '{}'", q.name, s.vhost.name);
    check_args(QUEUE_ARGS, &d.arguments, &q.arguments, &what)
}

/// Looks a queue up for an operation on it, checking exclusivity.
pub(crate) fn find(s: &Scope, name: &str) -> CommandResult<Arc<Queue>> {
    let q = s.vhost.queue(name).ok_or_else(|| s.no_queue(name))?;
    check_exclusive(s, &q)?;
    if let Some(reason) = q.home_down() {
        return Err(CommandError::NotFound(reason));
    }
    Ok(q)
}

/// The queue a purge empties, once the actor may (the purge itself may take a trip to
/// the queue's home).
pub(super) fn purge_target(s: &Scope, name: &str) -> CommandResult<Arc<Queue>> {
    s.check(Access::Read, "queue", name)?;
    find(s, name)
}

/// The queue a deletion removes, once the actor may (for a queue homed on another node).
pub(super) fn delete_target(s: &Scope, name: &str) -> CommandResult<Arc<Queue>> {
    s.check(Access::Configure, "queue", name)?;
    find(s, name)
}

pub(super) fn delete(
    broker: &Broker,
    s: &Scope,
    name: &str,
    if_unused: bool,
    if_empty: bool,
    changes: &mut Vec<Change>,
) -> CommandResult {
    s.check(Access::Configure, "queue", name)?;
    let Some(q) = s.vhost.queue(name) else {
        return Ok(Outcome::Messages(0));
    };
    check_exclusive(s, &q)?;
    let c = q.counts();
    if if_unused && c.consumers > 0 {
        return Err(CommandError::PreconditionFailed(format!(
            "queue '{name}' in vhost '{}' in use",
            s.vhost.name
        )));
    }
    if if_empty && c.ready > 0 {
        return Err(CommandError::PreconditionFailed(format!(
            "queue '{name}' in vhost '{}' not empty",
            s.vhost.name
        )));
    }
    Ok(Outcome::Messages(
        broker.delete_queue(&s.vhost, &q, changes),
    ))
}
