//! Binding and unbinding queues and exchanges. As in RabbitMQ, unbinding what is not there
//! (either end missing, or no such binding) succeeds: clean-up code relies on it.

use super::queues::{check_exclusive, find};
use super::{default_exchange_refused, Scope};
use crate::auth::permissions::Access;
use crate::auth::topic::check_topic;
use crate::broker::command::{BindingSpec, CommandError, CommandResult, Destination, Outcome};
use crate::broker::exchange::{Binding, Dest, Exchange, ExchangeKind};
use crate::broker::records;
use crate::broker::Broker;
use crate::store::meta_model::Change;
use std::sync::Arc;

/// Checks the ends' names and the actor's rights: write on the destination, read on the
/// source; neither end may be the default exchange.
fn allowed(s: &Scope, b: &BindingSpec) -> CommandResult<()> {
    match &b.destination {
        Destination::Queue(q) => {
            if b.source.is_empty() {
                return Err(default_exchange_refused());
            }
            s.check(Access::Write, "queue", q)?;
        }
        Destination::Exchange(d) => {
            if b.source.is_empty() || d.is_empty() {
                return Err(default_exchange_refused());
            }
            s.check(Access::Write, "exchange", d)?;
        }
    }
    s.check(Access::Read, "exchange", &b.source)
}

pub(super) fn bind(
    broker: &Broker,
    s: &Scope,
    b: BindingSpec,
    changes: &mut Vec<Change>,
) -> CommandResult {
    allowed(s, &b)?;
    let (dest, dest_durable, source) = match &b.destination {
        Destination::Queue(name) => {
            let q = find(s, name)?;
            let source = exchange(s, &b.source)?;
            let durable = records::stored(&q);
            (Dest::Queue(q), durable, source)
        }
        Destination::Exchange(name) => {
            let source = exchange(s, &b.source)?;
            let d = exchange(s, name)?;
            (Dest::Exchange(name.clone()), d.durable, source)
        }
    };
    if let (ExchangeKind::Topic, Some(user)) = (source.kind, s.user()) {
        let perms = broker.topic_permissions(user, &s.vhost.name);
        let (vhost, rk) = (s.vhost.name.as_str(), b.routing_key.as_str());
        check_topic(&perms, Access::Read, &source.name, rk, vhost, user)
            .map_err(CommandError::AccessRefused)?;
    }
    if source.kind == ExchangeKind::Headers {
        crate::broker::headers::validate_binding_args(&b.arguments)
            .map_err(CommandError::PreconditionFailed)?;
    }
    let binding = Binding {
        dest,
        routing_key: b.routing_key,
        args: b.arguments,
    };
    if source.bind(binding.dest.clone(), &binding.routing_key, &binding.args)
        && source.durable
        && dest_durable
    {
        let r = records::binding(&s.vhost.name, &source.name, &binding);
        changes.push(Change::PutBinding(r));
    }
    Ok(Outcome::Done)
}

pub(super) fn unbind(s: &Scope, b: BindingSpec, changes: &mut Vec<Change>) -> CommandResult {
    allowed(s, &b)?;
    let ends = match &b.destination {
        Destination::Queue(name) => {
            let q = s.vhost.queue(name);
            if let Some(q) = &q {
                check_exclusive(s, q)?;
            }
            q.map(|q| {
                let durable = records::stored(&q);
                (Dest::Queue(q), durable)
            })
        }
        Destination::Exchange(name) => s
            .vhost
            .exchange(name)
            .map(|d| (Dest::Exchange(name.clone()), d.durable)),
    };
    let (Some((dest, dest_durable)), Some(source)) = (ends, s.vhost.exchange(&b.source)) else {
        return Ok(Outcome::Done);
    };
    if source.unbind(&dest, &b.routing_key, &b.arguments) {
        if source.durable && dest_durable {
            let binding = Binding {
                dest,
                routing_key: b.routing_key,
                args: b.arguments,
            };
            let r = records::binding(&s.vhost.name, &source.name, &binding);
            changes.push(Change::DeleteBinding(r));
        }
        s.vhost.auto_delete_exchange(&source, changes);
    }
    Ok(Outcome::Done)
}

fn exchange(s: &Scope, name: &str) -> CommandResult<Arc<Exchange>> {
    s.vhost.exchange(name).ok_or_else(|| s.no_exchange(name))
}
