//! Policies and operator policies: a change applies at once to existing queues and
//! exchanges. Policymakers and administrators set policies; only administrators set
//! operator policies.

use super::access::require_tag;
use crate::auth::TAG_ADMINISTRATOR;
use crate::broker::command::{Actor, CommandError, CommandResult, Outcome, PolicySpec};
use crate::broker::policy::Policy;
use crate::broker::Broker;
use crate::store::definitions::PolicyDefinition;
use crate::store::meta_model::Change;

pub(super) const TAG_POLICYMAKER: &str = "policymaker";

fn allowed(actor: &Actor, operator: bool) -> CommandResult<()> {
    if operator {
        require_tag(actor, &[TAG_ADMINISTRATOR], "change operator policies")
    } else {
        require_tag(
            actor,
            &[TAG_ADMINISTRATOR, TAG_POLICYMAKER],
            "change policies",
        )
    }
}

pub(super) fn set(
    broker: &Broker,
    actor: &Actor,
    p: PolicySpec,
    operator: bool,
    changes: &mut Vec<Change>,
) -> CommandResult {
    allowed(actor, operator)?;
    broker
        .vhost(&p.vhost)
        .ok_or_else(|| CommandError::NotFound(format!("no vhost '{}'", p.vhost)))?;
    let make = if operator {
        Policy::new_operator
    } else {
        Policy::new
    };
    let policy = make(
        p.name.as_str(),
        p.vhost.as_str(),
        &p.pattern,
        &p.apply_to,
        p.priority,
        p.definition.clone(),
    )
    .map_err(validation_failed)?;
    {
        let mut policies = broker.policies.write();
        if operator {
            policies.put_operator(policy).map_err(validation_failed)?;
        } else {
            policies.put(policy);
        }
    }
    broker.apply_policies();
    let record = PolicyDefinition {
        vhost: p.vhost,
        name: p.name,
        pattern: p.pattern,
        apply_to: p.apply_to,
        definition: p.definition,
        priority: p.priority,
    };
    changes.push(if operator {
        Change::PutOperatorPolicy(record)
    } else {
        Change::PutPolicy(record)
    });
    Ok(Outcome::Done)
}

pub(super) fn clear(
    broker: &Broker,
    actor: &Actor,
    vhost: String,
    name: String,
    operator: bool,
    changes: &mut Vec<Change>,
) -> CommandResult {
    allowed(actor, operator)?;
    let removed = {
        let mut policies = broker.policies.write();
        if operator {
            policies.delete_operator(&vhost, &name)
        } else {
            policies.delete(&vhost, &name)
        }
    };
    if !removed {
        return Err(CommandError::NotFound(format!(
            "no policy '{name}' in vhost '{vhost}'"
        )));
    }
    broker.apply_policies();
    changes.push(if operator {
        Change::DeleteOperatorPolicy { vhost, name }
    } else {
        Change::DeletePolicy { vhost, name }
    });
    Ok(Outcome::Done)
}

/// A refused policy, worded as RabbitMQ's validation error.
fn validation_failed(problem: String) -> CommandError {
    CommandError::Invalid(format!("Validation failed\n\n{problem}\n"))
}
