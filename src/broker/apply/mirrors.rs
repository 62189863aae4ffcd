//! Mirrored queues' metadata, applied on every node in log order: where the mirrors are,
//! which of them hold everything the master holds, and a mirror made master. Each node then
//! does its part: the master streams its operations to the mirrors, a mirror keeps its
//! copy, the promoted mirror takes over and an old master steps down.

use super::Scope;
use crate::auth::permissions::Access;
use crate::broker::command::{CommandError, CommandResult, Outcome};
use crate::broker::{records, Broker};
use crate::queue::mirror::MirrorLinks;
use crate::queue::Queue;
use crate::store::meta_model::Change;
use std::sync::Arc;

/// This node's name and, in a cluster, the way to mirrors.
fn context(broker: &Broker) -> (String, Option<Arc<dyn MirrorLinks>>) {
    match broker.replicator.get() {
        Some(r) => (r.node().to_string(), Some(r.mirror_links())),
        None => (broker.config.node_name.clone(), None),
    }
}

fn find(s: &Scope, name: &str) -> CommandResult<Arc<Queue>> {
    s.check(Access::Configure, "queue", name)?;
    s.vhost.queue(name).ok_or_else(|| s.no_queue(name))
}

fn record(s: &Scope, q: &Queue, changes: &mut Vec<Change>) {
    if let Some(r) = records::queue(&s.vhost.name, q) {
        changes.push(Change::PutQueue(r));
    }
}

/// Places a queue's mirrors. Exclusive queues are never mirrored.
pub(super) fn set_mirrors(
    broker: &Broker,
    s: &Scope,
    name: &str,
    nodes: Vec<String>,
    changes: &mut Vec<Change>,
) -> CommandResult {
    let q = find(s, name)?;
    if q.exclusive_owner.is_some() && !nodes.is_empty() {
        return Err(CommandError::PreconditionFailed(format!(
            "exclusive queue '{name}' in vhost '{}' cannot be mirrored",
            s.vhost.name
        )));
    }
    if q.mirrors() != nodes {
        let (here, links) = context(broker);
        q.set_mirrors(nodes, &here, links);
        record(s, &q, changes);
    }
    Ok(Outcome::Done)
}

/// Records which mirrors hold everything the master holds (of those placed), as the
/// master says; what a node that is no longer the master says is ignored.
pub(super) fn set_synchronised(
    s: &Scope,
    name: &str,
    master: Option<String>,
    nodes: Vec<String>,
    changes: &mut Vec<Change>,
) -> CommandResult {
    let q = find(s, name)?;
    if master.is_some_and(|m| q.home_node().is_some_and(|h| h != m)) {
        return Ok(Outcome::Done);
    }
    let placed = q.mirrors();
    let nodes: Vec<String> = nodes.into_iter().filter(|n| placed.contains(n)).collect();
    if q.synchronised() != nodes {
        q.set_synchronised(nodes);
        record(s, &q, changes);
    }
    Ok(Outcome::Done)
}

/// Makes the mirror on `node` the queue's master; the other mirrors stay (and start over).
pub(super) fn promote(
    broker: &Broker,
    s: &Scope,
    name: &str,
    node: String,
    changes: &mut Vec<Change>,
) -> CommandResult {
    let q = find(s, name)?;
    let mirrors = q.mirrors();
    if !mirrors.contains(&node) {
        return Err(CommandError::PreconditionFailed(format!(
            "'{node}' holds no mirror of queue '{name}' in vhost '{}'",
            s.vhost.name
        )));
    }
    let rest: Vec<String> = mirrors.into_iter().filter(|n| *n != node).collect();
    let (here, links) = context(broker);
    if node == here {
        q.become_master(&node, rest, links);
    } else {
        q.rehome(&node, broker.remote_home(&node), rest);
    }
    record(s, &q, changes);
    Ok(Outcome::Done)
}
