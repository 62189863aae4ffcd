//! Topic permissions: only administrators set them; a change reaches open connections at
//! their next publish (they check the broker's generation counter).

use super::access::{no_user, no_vhost, require_admin};
use crate::auth::TopicPermission;
use crate::broker::command::{Actor, CommandError, CommandResult, Outcome};
use crate::broker::Broker;
use crate::store::definitions::TopicPermissionDefinition;
use crate::store::meta_model::Change;

pub(super) fn set(
    broker: &Broker,
    actor: &Actor,
    def: TopicPermissionDefinition,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "change topic permissions")?;
    broker.user(&def.user).ok_or_else(|| no_user(&def.user))?;
    broker
        .vhost(&def.vhost)
        .ok_or_else(|| no_vhost(&def.vhost))?;
    let p = TopicPermission::new(&def.exchange, &def.write, &def.read, &def.user, &def.vhost)
        .map_err(|e| CommandError::Invalid(format!("invalid regular expression: {e}")))?;
    let mut perms = (*broker.topic_permissions(&def.user, &def.vhost)).clone();
    perms.retain(|q| q.exchange != def.exchange);
    perms.push(p);
    broker.set_topic_permissions(&def.user, &def.vhost, perms);
    changes.push(Change::PutTopicPermission(def));
    Ok(Outcome::Done)
}

pub(super) fn clear(
    broker: &Broker,
    actor: &Actor,
    user: &str,
    vhost: &str,
    exchange: Option<String>,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_admin(actor, "change topic permissions")?;
    let mut perms = (*broker.topic_permissions(user, vhost)).clone();
    let before = perms.len();
    let mut gone = Vec::new();
    perms.retain(|p| {
        let keep = exchange.as_ref().is_some_and(|x| *x != p.exchange);
        if !keep {
            gone.push(p.exchange.clone());
        }
        keep
    });
    if perms.len() == before {
        return Err(CommandError::NotFound(format!(
            "no topic permissions for user '{user}' in vhost '{vhost}'"
        )));
    }
    broker.set_topic_permissions(user, vhost, perms);
    for exchange in gone {
        changes.push(Change::DeleteTopicPermission {
            user: user.to_string(),
            vhost: vhost.to_string(),
            exchange,
        });
    }
    Ok(Outcome::Done)
}
