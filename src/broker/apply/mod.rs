//! Running broker commands: each command checks what the actor may do and what the current
//! state allows, in RabbitMQ's order (so the first error is the one RabbitMQ reports),
//! changes the live broker, and records the durable changes it made. `execute` hands those
//! to the metadata log; the caller answers once the ticket resolves.

mod access;
mod bindings;
mod exchanges;
mod mirrors;
mod parameters;
mod policies;
mod queues;
mod topic_access;

use super::command::{Actor, Command, CommandError, CommandResult, Outcome};
use super::{Broker, Vhost};
use crate::auth::permissions::{check_resource, Access};
use crate::auth::{Permission, User, UserLimits};
use crate::store::definitions::TopicPermissionDefinition;
use crate::store::meta_log::Ticket;
use crate::store::meta_model::Change;
use std::sync::Arc;

/// A command's outcome, and the ticket for the durable changes it made, if any.
pub struct Applied {
    pub outcome: Outcome,
    pub persisted: Option<Ticket>,
}

impl Broker {
    /// Runs a command and queues its durable changes for the metadata log.
    pub fn execute(&self, actor: &Actor, cmd: Command) -> CommandResult<Applied> {
        let mut changes = Vec::new();
        let outcome = self.apply(actor, cmd, &mut changes)?;
        Ok(Applied {
            outcome,
            persisted: self.persist(changes),
        })
    }

    /// Checks a purge of queue `name` (permission, exclusivity, a reachable home) and
    /// returns the queue.
    pub(crate) fn purge_target(
        &self,
        actor: &Actor,
        vhost: &str,
        name: &str,
    ) -> CommandResult<Arc<crate::queue::Queue>> {
        queues::purge_target(&self.scope(actor, vhost)?, name)
    }

    /// Checks a deletion of queue `name` (permission, exclusivity, a reachable home) and
    /// returns the queue.
    pub(crate) fn delete_target(
        &self,
        actor: &Actor,
        vhost: &str,
        name: &str,
    ) -> CommandResult<Arc<crate::queue::Queue>> {
        queues::delete_target(&self.scope(actor, vhost)?, name)
    }

    /// Queues durable changes for the metadata log.
    pub(crate) fn persist(&self, changes: Vec<Change>) -> Option<Ticket> {
        (!changes.is_empty()).then(|| self.metadata.append(changes))
    }

    /// As `persist`, for changes a cluster's replicated log already holds durably (see
    /// [`crate::store::meta_log::MetaLog::append_replicated`]).
    pub(crate) fn persist_replicated(&self, changes: Vec<Change>) {
        if !changes.is_empty() {
            self.metadata.append_replicated(changes);
        }
    }

    /// Runs a command, collecting its durable changes in `changes`.
    pub(crate) fn apply(
        &self,
        actor: &Actor,
        cmd: Command,
        changes: &mut Vec<Change>,
    ) -> CommandResult {
        match cmd {
            Command::DeclareExchange(d) => {
                let s = self.scope(actor, &d.vhost)?;
                exchanges::declare(self, &s, d, changes)
            }
            Command::DeleteExchange {
                vhost,
                name,
                if_unused,
            } => exchanges::delete(&self.scope(actor, &vhost)?, &name, if_unused, changes),
            Command::DeclareQueue(d) => {
                let s = self.scope(actor, &d.vhost)?;
                queues::declare(self, &s, d, changes)
            }
            Command::DeleteQueue {
                vhost,
                name,
                if_unused,
                if_empty,
            } => {
                let s = self.scope(actor, &vhost)?;
                queues::delete(self, &s, &name, if_unused, if_empty, changes)
            }
            Command::SetMirrors { vhost, name, nodes } => {
                let s = self.scope(actor, &vhost)?;
                mirrors::set_mirrors(self, &s, &name, nodes, changes)
            }
            Command::SetSynchronised {
                vhost,
                name,
                master,
                nodes,
            } => {
                let s = self.scope(actor, &vhost)?;
                mirrors::set_synchronised(&s, &name, master, nodes, changes)
            }
            Command::PromoteMirror { vhost, name, node } => {
                let s = self.scope(actor, &vhost)?;
                mirrors::promote(self, &s, &name, node, changes)
            }
            Command::PurgeQueue { vhost, name } => {
                let q = queues::purge_target(&self.scope(actor, &vhost)?, &name)?;
                match q.remote() {
                    Some(home) => Err(CommandError::Internal(format!(
                        "queue '{name}' lives on {}: purge it with Broker::run",
                        home.node()
                    ))),
                    None => Ok(Outcome::Messages(q.purge())),
                }
            }
            Command::Bind(b) => bindings::bind(self, &self.scope(actor, &b.vhost)?, b, changes),
            Command::Unbind(b) => bindings::unbind(&self.scope(actor, &b.vhost)?, b, changes),
            Command::PutVhost(def) => access::put_vhost(self, actor, def, changes),
            Command::DeleteVhost { name } => access::delete_vhost(self, actor, &name, changes),
            Command::PutUser {
                name,
                password_hash,
                hashing_algorithm,
                tags,
                limits,
            } => {
                let limits = match limits {
                    Some(l) => UserLimits::from_json(&l).map_err(CommandError::Invalid)?,
                    None => self
                        .user(&name)
                        .map(|u| u.limits.clone())
                        .unwrap_or_default(),
                };
                let user = User {
                    name,
                    password_hash,
                    hashing_algorithm,
                    tags,
                    limits,
                };
                access::put_user(self, actor, user, changes)
            }
            Command::SetUserLimits { user, limits } => {
                access::set_user_limits(self, actor, &user, &limits, changes)
            }
            Command::DeleteUser { name } => access::delete_user(self, actor, &name, changes),
            Command::SetPermissions {
                user,
                vhost,
                configure,
                write,
                read,
            } => {
                let p = [configure, write, read];
                access::set_permissions(self, actor, user, vhost, p, changes)
            }
            Command::ClearPermissions { user, vhost } => {
                access::clear_permissions(self, actor, user, vhost, changes)
            }
            Command::SetTopicPermission {
                user,
                vhost,
                exchange,
                write,
                read,
            } => {
                let def = TopicPermissionDefinition {
                    user,
                    vhost,
                    exchange,
                    write,
                    read,
                };
                topic_access::set(self, actor, def, changes)
            }
            Command::ClearTopicPermissions {
                user,
                vhost,
                exchange,
            } => topic_access::clear(self, actor, &user, &vhost, exchange, changes),
            Command::SetPolicy(p) => policies::set(self, actor, p, false, changes),
            Command::SetOperatorPolicy(p) => policies::set(self, actor, p, true, changes),
            Command::ClearPolicy { vhost, name } => {
                policies::clear(self, actor, vhost, name, false, changes)
            }
            Command::ClearOperatorPolicy { vhost, name } => {
                policies::clear(self, actor, vhost, name, true, changes)
            }
            Command::SetParameter {
                vhost,
                component,
                name,
                value,
            } => parameters::set(self, actor, (vhost, component, name), value, changes),
            Command::ClearParameter {
                vhost,
                component,
                name,
            } => parameters::clear(self, actor, (vhost, component, name), changes),
            Command::SetGlobalParameter { name, value } => {
                parameters::set_global(self, actor, name, value, changes)
            }
            Command::ClearGlobalParameter { name } => {
                parameters::clear_global(self, actor, name, changes)
            }
        }
    }

    /// Finds a queue for an operation on it (consume, get, a passive declare): it must
    /// exist, and an exclusive queue must be the actor's. The caller holds the vhost.
    pub fn find_queue(
        &self,
        actor: &Actor,
        vhost: &Arc<Vhost>,
        name: &str,
    ) -> CommandResult<Arc<crate::queue::Queue>> {
        queues::find(&self.scope_in(actor, vhost.clone()), name)
    }

    /// The vhost a command acts in, with the actor's rights there.
    fn scope<'a>(&self, actor: &'a Actor<'a>, vhost: &str) -> CommandResult<Scope<'a>> {
        let vh = self
            .vhost(vhost)
            .ok_or_else(|| CommandError::NotFound(format!("no vhost '{vhost}'")))?;
        Ok(self.scope_in(actor, vh))
    }

    fn scope_in<'a>(&self, actor: &'a Actor<'a>, vh: Arc<Vhost>) -> Scope<'a> {
        let vhost = vh.name.as_str();
        let permission = match (actor.user, actor.permission) {
            (None, _) => None,
            (Some(_), Some(p)) => Some(Perm::Given(p)),
            (Some(u), None) => Some(
                self.permission(&u.name, vhost)
                    .map_or(Perm::None, Perm::Looked),
            ),
        };
        Scope {
            vhost: vh,
            actor: *actor,
            permission,
        }
    }
}

/// The actor's permission in the scope's vhost.
enum Perm<'a> {
    Given(&'a Permission),
    Looked(Arc<Permission>),
    None,
}

/// A command's vhost and who asks in it.
pub(crate) struct Scope<'a> {
    pub vhost: Arc<Vhost>,
    actor: Actor<'a>,
    /// `None` for the broker itself, which is not checked.
    permission: Option<Perm<'a>>,
}

impl Scope<'_> {
    /// RabbitMQ's resource check (`crate::auth::permissions::check_resource`).
    pub(super) fn check(&self, access: Access, kind: &str, name: &str) -> CommandResult<()> {
        let Some(perm) = &self.permission else {
            return Ok(());
        };
        let p = match perm {
            Perm::Given(p) => Some(*p),
            Perm::Looked(p) => Some(&**p),
            Perm::None => None,
        };
        let user = self.actor.user.map_or("", |u| u.name.as_str());
        check_resource(p, access, kind, name, &self.vhost.name, user)
            .map_err(CommandError::AccessRefused)
    }

    /// The user asking (none when the broker itself does).
    pub(super) fn user(&self) -> Option<&str> {
        self.actor.user.map(|u| u.name.as_str())
    }

    /// True when the broker itself asks (no checks of permissions or exclusivity).
    pub(super) fn is_broker(&self) -> bool {
        self.actor.user.is_none()
    }

    /// The connection asking, for exclusive queues.
    pub(super) fn connection(&self) -> Option<u64> {
        self.actor.connection
    }

    pub(super) fn no_exchange(&self, name: &str) -> CommandError {
        CommandError::no_exchange(&self.vhost.name, name)
    }

    pub(super) fn no_queue(&self, name: &str) -> CommandError {
        CommandError::no_queue(&self.vhost.name, name)
    }
}

/// What RabbitMQ answers to any operation on the default exchange.
pub(crate) fn default_exchange_refused() -> CommandError {
    CommandError::AccessRefused("operation not permitted on the default exchange".into())
}
