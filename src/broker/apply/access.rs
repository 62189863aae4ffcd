//! Vhosts, users and permissions. Only the broker itself and administrators change them.

use crate::auth::password::HASHING_ALGORITHMS;
use crate::auth::{Permission, User, UserLimits, TAG_ADMINISTRATOR};
use crate::broker::command::{Actor, CommandError, CommandResult, Outcome};
use crate::broker::Broker;
use crate::store::definitions::{PermissionDefinition, UserDefinition, VhostDefinition};
use crate::store::meta_model::Change;

/// Refuses a user without one of `tags` (the broker itself passes).
pub(super) fn require_tag(actor: &Actor, tags: &[&str], what: &str) -> CommandResult<()> {
    match actor.user {
        None => Ok(()),
        Some(u) if u.tags.iter().any(|t| tags.contains(&t.as_str())) => Ok(()),
        Some(u) => Err(CommandError::AccessRefused(format!(
            "user '{}' may not {what}: it needs the tag '{}'",
            u.name,
            tags.join("' or '")
        ))),
    }
}

pub(super) fn require_admin(actor: &Actor, what: &str) -> CommandResult<()> {
    require_tag(actor, &[TAG_ADMINISTRATOR], what)
}

pub(super) fn no_vhost(name: &str) -> CommandError {
    CommandError::NotFound(format!("no vhost '{name}'"))
}

pub(super) fn no_user(name: &str) -> CommandError {
    CommandError::NotFound(format!("no user '{name}'"))
}

/// Adds a vhost or updates an existing one's description, tags and tracing.
pub(super) fn put_vhost(
    broker: &Broker,
    actor: &Actor,
    def: VhostDefinition,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "add vhosts")?;
    if def.name.is_empty() {
        return Err(CommandError::Invalid("a vhost needs a name".into()));
    }
    let existing = broker.vhost(&def.name);
    let vh = existing
        .clone()
        .unwrap_or_else(|| broker.add_vhost(&def.name));
    if existing.is_none() || vh.definition() != def {
        vh.set_definition(&def);
        changes.push(Change::PutVhost(def));
    }
    Ok(Outcome::Done)
}

/// Deletes a vhost with its queues (their consumers are told), exchanges, permissions and
/// policies.
pub(super) fn delete_vhost(
    broker: &Broker,
    actor: &Actor,
    name: &str,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "delete vhosts")?;
    let vh = broker
        .vhosts
        .write()
        .remove(name)
        .ok_or_else(|| no_vhost(name))?;
    // The vhost's own record covers everything in it.
    let mut inner = Vec::new();
    for q in vh.queues() {
        broker.delete_queue(&vh, &q, &mut inner);
    }
    for ex in vh.exchanges() {
        vh.remove_exchange(&ex.name, &mut inner);
    }
    broker.permissions.write().retain(|(_, v), _| v != name);
    broker.drop_topic_permissions(None, Some(name));
    broker.policies.write().remove_vhost(name);
    broker.parameters.write().remove_vhost(name);
    changes.push(Change::DeleteVhost {
        name: name.to_string(),
    });
    // Its connections close (320), as RabbitMQ closes them.
    broker.access_revoked.send_modify(|n| *n += 1);
    Ok(Outcome::Done)
}

pub(super) fn put_user(
    broker: &Broker,
    actor: &Actor,
    user: User,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "change users")?;
    if user.name.is_empty() {
        return Err(CommandError::Invalid("a user needs a name".into()));
    }
    if !HASHING_ALGORITHMS.contains(&user.hashing_algorithm.as_str()) {
        return Err(CommandError::Invalid(format!(
            "unsupported hashing algorithm '{}': use {}",
            user.hashing_algorithm,
            HASHING_ALGORITHMS.join(" or ")
        )));
    }
    changes.push(Change::PutUser(UserDefinition {
        name: user.name.clone(),
        password: None,
        password_hash: user.password_hash.clone(),
        hashing_algorithm: user.hashing_algorithm.clone(),
        tags: user.tags.clone(),
        limits: user.limits.to_json(),
    }));
    broker.put_user(user);
    Ok(Outcome::Done)
}

pub(super) fn set_user_limits(
    broker: &Broker,
    actor: &Actor,
    name: &str,
    limits: &serde_json::Map<String, serde_json::Value>,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "change user limits")?;
    let mut user = (*broker.user(name).ok_or_else(|| no_user(name))?).clone();
    user.limits = UserLimits::from_json(limits).map_err(CommandError::Invalid)?;
    put_user(broker, actor, user, changes)
}

pub(super) fn delete_user(
    broker: &Broker,
    actor: &Actor,
    name: &str,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "delete users")?;
    broker
        .users
        .write()
        .remove(name)
        .ok_or_else(|| no_user(name))?;
    broker.permissions.write().retain(|(u, _), _| u != name);
    broker.drop_topic_permissions(Some(name), None);
    changes.push(Change::DeleteUser {
        name: name.to_string(),
    });
    broker.access_revoked.send_modify(|n| *n += 1);
    Ok(Outcome::Done)
}

pub(super) fn set_permissions(
    broker: &Broker,
    actor: &Actor,
    user: String,
    vhost: String,
    [configure, write, read]: [String; 3],
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "set permissions")?;
    broker.vhost(&vhost).ok_or_else(|| no_vhost(&vhost))?;
    broker.user(&user).ok_or_else(|| no_user(&user))?;
    let p = Permission::new(&configure, &write, &read)
        .map_err(|e| CommandError::Invalid(format!("invalid permission pattern: {e}")))?;
    broker.put_permission(&user, &vhost, p);
    changes.push(Change::PutPermission(PermissionDefinition {
        user,
        vhost,
        configure,
        write,
        read,
    }));
    Ok(Outcome::Done)
}

pub(super) fn clear_permissions(
    broker: &Broker,
    actor: &Actor,
    user: String,
    vhost: String,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "clear permissions")?;
    let key = (user, vhost);
    if broker.permissions.write().remove(&key).is_some() {
        let (user, vhost) = key;
        changes.push(Change::DeletePermission { user, vhost });
    }
    Ok(Outcome::Done)
}
