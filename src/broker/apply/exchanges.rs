//! Declaring and deleting exchanges.

use super::{default_exchange_refused, Scope};
use crate::auth::permissions::Access;
use crate::broker::command::{CommandError, CommandResult, ExchangeDecl, Outcome};
use crate::broker::equivalence::{check_args, EXCHANGE_ARGS};
use crate::broker::exchange::{Exchange, ExchangeKind};
use crate::broker::{effective, records, Broker};
use crate::store::meta_model::Change;
use std::sync::Arc;

pub(super) fn declare(
    broker: &Broker,
    s: &Scope,
    d: ExchangeDecl,
    changes: &mut Vec<Change>,
) -> CommandResult {
    if d.name.is_empty() {
        return Err(default_exchange_refused());
    }
    let existing = s.vhost.exchange(&d.name);
    let kind = ExchangeKind::parse(&d.kind)
        .ok_or_else(|| CommandError::Invalid(format!("unknown exchange type '{}'", d.kind)))?;
    if existing.is_none() && d.name.starts_with("amq.") {
        return Err(CommandError::AccessRefused(format!(
            "exchange name '{}' contains reserved prefix 'amq.*'",
            d.name
        )));
    }
    s.check(Access::Configure, "exchange", &d.name)?;
    let ex = match existing {
        Some(ex) => ex,
        None => create(broker, s, &d, kind, changes),
    };
    equivalent(s, &ex, kind, &d)?;
    Ok(Outcome::Done)
}

fn create(
    broker: &Broker,
    s: &Scope,
    d: &ExchangeDecl,
    kind: ExchangeKind,
    changes: &mut Vec<Change>,
) -> Arc<Exchange> {
    let new = Exchange::new(
        d.name.clone(),
        kind,
        d.durable,
        d.auto_delete,
        d.internal,
        d.arguments.clone(),
    );
    let ex = s.vhost.add_exchange(new.clone());
    if !Arc::ptr_eq(&ex, &new) {
        // Declared meanwhile by someone else: theirs stands.
        return ex;
    }
    ex.set_alternate(effective::alternate_exchange(
        &broker.policies.read(),
        &s.vhost.name,
        &ex.name,
        ex.alternate_arg.as_deref(),
    ));
    if ex.durable {
        changes.push(Change::PutExchange(records::exchange(&s.vhost.name, &ex)));
    }
    ex
}

fn equivalent(s: &Scope, ex: &Exchange, kind: ExchangeKind, d: &ExchangeDecl) -> CommandResult<()> {
    let diff = |field: &str, got: &str, cur: &str| {
        CommandError::PreconditionFailed(format!(
            "inequivalent arg '{field}' for exchange '{}' in vhost '{}': received '{got}' but current is '{cur}'",
            ex.name, s.vhost.name
        ))
    };
    let flag = |b: bool| if b { "true" } else { "false" };
    if ex.kind != kind {
        return Err(diff("type", kind.as_str(), ex.kind.as_str()));
    }
    for (field, got, cur) in [
        ("durable", d.durable, ex.durable),
        ("auto_delete", d.auto_delete, ex.auto_delete),
        ("internal", d.internal, ex.internal),
    ] {
        if got != cur {
            return Err(diff(field, flag(got), flag(cur)));
        }
    }
    let what = format!("exchange '{}' in vhost '{}'", ex.name, s.vhost.name);
    check_args(EXCHANGE_ARGS, &d.arguments, &ex.arguments, &what)
}

pub(super) fn delete(
    s: &Scope,
    name: &str,
    if_unused: bool,
    changes: &mut Vec<Change>,
) -> CommandResult {
    if name.is_empty() {
        return Err(default_exchange_refused());
    }
    if name.starts_with("amq.") {
        return Err(CommandError::AccessRefused(format!(
            "deletion of system exchange '{name}' in vhost '{}' not allowed",
            s.vhost.name
        )));
    }
    s.check(Access::Configure, "exchange", name)?;
    if let Some(ex) = s.vhost.exchange(name) {
        if if_unused && ex.has_bindings() {
            return Err(CommandError::PreconditionFailed(format!(
                "exchange '{name}' in vhost '{}' in use",
                s.vhost.name
            )));
        }
        s.vhost.remove_exchange(name, changes);
    }
    Ok(Outcome::Done)
}
