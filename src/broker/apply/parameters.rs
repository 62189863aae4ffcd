//! Runtime parameters: policymakers and administrators set a vhost's; only administrators
//! set global ones.

use super::access::require_tag;
use crate::auth::TAG_ADMINISTRATOR;
use crate::broker::command::{Actor, CommandError, CommandResult, Outcome};
use crate::broker::parameters::{validate, ParameterKey};
use crate::broker::Broker;
use crate::store::definitions::{GlobalParameterDefinition, ParameterDefinition};
use crate::store::meta_model::Change;
use serde_json::Value;

fn allowed(actor: &Actor) -> CommandResult<()> {
    require_tag(
        actor,
        &[TAG_ADMINISTRATOR, super::policies::TAG_POLICYMAKER],
        "change parameters",
    )
}

pub(super) fn set(
    broker: &Broker,
    actor: &Actor,
    key: ParameterKey,
    value: Value,
    changes: &mut Vec<Change>,
) -> CommandResult {
    allowed(actor)?;
    let (vhost, component, name) = &key;
    broker
        .vhost(vhost)
        .ok_or_else(|| CommandError::NotFound(format!("no vhost '{vhost}'")))?;
    validate(component, &value).map_err(CommandError::Invalid)?;
    changes.push(Change::PutParameter(ParameterDefinition {
        value: value.clone(),
        vhost: vhost.clone(),
        component: component.clone(),
        name: name.clone(),
    }));
    broker.parameters.write().put(key, value);
    Ok(Outcome::Done)
}

pub(super) fn clear(
    broker: &Broker,
    actor: &Actor,
    key: ParameterKey,
    changes: &mut Vec<Change>,
) -> CommandResult {
    allowed(actor)?;
    if !broker.parameters.write().delete(&key) {
        let (vhost, component, name) = key;
        return Err(CommandError::NotFound(format!(
            "no parameter '{name}' of component '{component}' in vhost '{vhost}'"
        )));
    }
    let (vhost, component, name) = key;
    changes.push(Change::DeleteParameter {
        vhost,
        component,
        name,
    });
    Ok(Outcome::Done)
}

pub(super) fn set_global(
    broker: &Broker,
    actor: &Actor,
    name: String,
    value: Value,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_tag(actor, &[TAG_ADMINISTRATOR], "change global parameters")?;
    changes.push(Change::PutGlobalParameter(GlobalParameterDefinition {
        name: name.clone(),
        value: value.clone(),
    }));
    broker.parameters.write().put_global(name, value);
    Ok(Outcome::Done)
}

pub(super) fn clear_global(
    broker: &Broker,
    actor: &Actor,
    name: String,
    changes: &mut Vec<Change>,
) -> CommandResult {
    require_tag(actor, &[TAG_ADMINISTRATOR], "change global parameters")?;
    if !broker.parameters.write().delete_global(&name) {
        return Err(CommandError::NotFound(format!(
            "no global parameter '{name}'"
        )));
    }
    changes.push(Change::DeleteGlobalParameter { name });
    Ok(Outcome::Done)
}
