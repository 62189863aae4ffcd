//! basic.publish (validation, routing, mandatory returns, confirms) and basic.get, qos.

use crate::amqp::channel::{Content, TxPublish};
use crate::amqp::codec::{self, ContentHeader, Publish};
use crate::amqp::connection::Connection;
use crate::amqp::error::{code, AmqpError, AmqpResult};
use crate::amqp::outbound::Outbound;
use crate::auth::permissions::Access;
use crate::broker::publish::Confirm;
use crate::message::checks::{check_expiration, check_routing_headers};
use crate::message::props::{encode_properties, Props};
use crate::message::Message;
use crate::queue::{Got, Queue};
use crate::stats::Stat;
use amq_protocol::protocol::{basic, AMQPClass};
use amq_protocol::types::FieldTable;
use bytes::Bytes;
use smallvec::SmallVec;
use std::sync::Arc;

impl Connection {
    pub(crate) fn basic_method(&mut self, ch: u16, m: basic::AMQPMethod) -> AmqpResult<()> {
        match m {
            basic::AMQPMethod::Publish(p) => self.basic_publish(ch, p.into()),
            basic::AMQPMethod::Get(g) => self.basic_get(ch, g),
            basic::AMQPMethod::Qos(q) => self.basic_qos(ch, q),
            basic::AMQPMethod::Consume(c) => self.basic_consume(ch, c),
            basic::AMQPMethod::Cancel(c) => self.basic_cancel(ch, c),
            basic::AMQPMethod::Ack(a) => self.basic_ack(ch, a.delivery_tag, a.multiple),
            basic::AMQPMethod::Nack(n) => {
                self.basic_reject(ch, n.delivery_tag, n.multiple, n.requeue)
            }
            basic::AMQPMethod::Reject(r) => self.basic_reject(ch, r.delivery_tag, false, r.requeue),
            basic::AMQPMethod::Recover(r) => self.basic_recover(ch, r.requeue, true),
            basic::AMQPMethod::RecoverAsync(r) => self.basic_recover(ch, r.requeue, false),
            _ => Err(AmqpError::command_invalid("server-only basic method")),
        }
    }

    /// The method frame of a publish: checks what can be checked before the content comes.
    pub(crate) fn basic_publish(&mut self, ch: u16, p: Publish) -> AmqpResult<()> {
        if p.immediate {
            return Err(AmqpError::not_implemented("immediate=true"));
        }
        let name = p.exchange.as_str();
        if self.cached_exchange(ch, name).is_none() {
            self.check(Access::Write, "exchange", name)?;
            let ex = self
                .vhost
                .exchange(name)
                .ok_or_else(|| self.no_exchange(name))?;
            if ex.internal {
                return Err(AmqpError::access_refused(format!(
                    "cannot publish to internal exchange '{name}' in vhost '{}'",
                    self.vhost.name
                )));
            }
            self.chan(ch).publish_target = Some(ex);
        }
        self.chan(ch).content = Content::Header(p);
        Ok(())
    }

    /// A complete message (method, header, body) arrived.
    pub(crate) fn publish(
        &mut self,
        ch: u16,
        publish: Publish,
        mut header: ContentHeader,
        body: Vec<Bytes>,
    ) -> AmqpResult<()> {
        self.rewrite_reply_to(ch, &mut header)?;
        if let Some(exp) = header.props.expiration() {
            check_expiration(exp).map_err(|d| {
                let text = format!("invalid expiration '{exp}': ");
                let term = crate::erlang::pretty_tuple(text.len(), &d);
                AmqpError::precondition(format!("{text}{term}")).on(60, 40)
            })?;
        }
        if let Some(uid) = header.props.user_id() {
            if uid != self.user.name && !self.user.is_impersonator() {
                return Err(AmqpError::precondition(format!(
                    "user_id property set to '{uid}' but authenticated user was '{}'",
                    self.user.name
                ))
                .on(60, 40));
            }
        }
        if let Some(h) = header.props.headers() {
            check_routing_headers(h).map_err(|e| AmqpError::precondition(e).on(60, 40))?;
        }
        if let Some(refusal) =
            self.topic_refusal(publish.exchange.as_str(), publish.routing_key.as_str())
        {
            return Err(AmqpError::access_refused(refusal).on(60, 40));
        }
        let (msg, headers) = make_message(&publish, header, &body);
        let chan = self.chan(ch);
        if chan.confirm {
            chan.publish_seq += 1;
        }
        let seq = chan.publish_seq;
        if let Some(tx) = chan.tx.as_mut() {
            tx.publishes.push(TxPublish {
                mandatory: publish.mandatory,
                msg,
                headers,
            });
            return Ok(());
        }
        let confirm = (seq > 0).then_some(Confirmed::Seq(seq));
        self.route_publish(ch, publish.mandatory, msg, headers.as_ref(), confirm);
        Ok(())
    }

    /// Routes a message to its queues; returns it if mandatory and unroutable; confirms it.
    pub(crate) fn route_publish(
        &mut self,
        ch: u16,
        mandatory: bool,
        msg: Message,
        headers: Option<&FieldTable>,
        confirm: Option<Confirmed>,
    ) {
        let mut queues = Vec::new();
        self.chan(ch).shared.stats.inc(Stat::Publish);
        if msg.exchange().is_empty() && super::reply_to::is_reply_address(msg.routing_key()) {
            self.deliver_reply(&msg);
        } else if let Some(ex) = self.publish_exchange(ch, msg.exchange()) {
            self.vhost
                .route(&ex, msg.routing_key(), headers, &mut queues);
            self.exchange_tally.count(&ex, !queues.is_empty());
        }
        if queues.is_empty() {
            self.chan(ch).shared.stats.inc(if mandatory {
                Stat::ReturnUnroutable
            } else {
                Stat::DropUnroutable
            });
        }
        // A reply to a direct reply-to address is delivered but still counts as unroutable
        // for `mandatory`, as in RabbitMQ.
        if queues.is_empty() && mandatory {
            let ret = basic::Return {
                reply_code: code::NO_ROUTE,
                reply_text: "NO_ROUTE".into(),
                exchange: msg.exchange().into(),
                routing_key: msg.routing_key().into(),
            };
            let m = AMQPClass::Basic(basic::AMQPMethod::Return(ret));
            self.shared.send(Outbound::content(ch, m, msg.clone()));
        }
        if queues.is_empty() {
            self.confirm_now(ch, confirm, true);
            return;
        }
        self.enqueue(ch, confirm, msg, &queues);
    }

    /// The exchange a message is routed through: the channel's cached one if it is that one
    /// and still exists.
    fn publish_exchange(
        &mut self,
        ch: u16,
        name: &str,
    ) -> Option<Arc<crate::broker::exchange::Exchange>> {
        self.cached_exchange(ch, name)
            .or_else(|| self.vhost.exchange(name))
    }

    /// The channel's last publish exchange (its checks passed), if it is `name` and exists.
    fn cached_exchange(
        &mut self,
        ch: u16,
        name: &str,
    ) -> Option<Arc<crate::broker::exchange::Exchange>> {
        self.chan(ch)
            .publish_target
            .as_ref()
            .filter(|ex| same_name(&ex.name, name) && !ex.is_deleted())
            .cloned()
    }

    /// Puts a routed message in its queues (see `broker::publish`) and confirms it now, or
    /// once the store has it on disk.
    fn enqueue(
        &mut self,
        ch: u16,
        confirm: Option<Confirmed>,
        msg: Message,
        queues: &[Arc<Queue>],
    ) {
        let (on_synced, confirm) = match confirm {
            Some(Confirmed::Seq(seq)) => {
                (Some(self.confirm_later(ch, seq)), Some(Confirmed::Seq(seq)))
            }
            // Run by the store once synced, or here if the publish is settled at once.
            Some(Confirmed::Then(f)) => {
                let once = crate::broker::publish::Joint::new(1, f);
                (Some(once.part()), Some(Confirmed::Then(once.part())))
            }
            None => (None, None),
        };
        match crate::broker::publish::enqueue(&self.broker, msg, queues, on_synced) {
            Confirm::AckNow => self.confirm_now(ch, confirm, true),
            Confirm::NackNow => self.confirm_now(ch, confirm, false),
            Confirm::Deferred => {}
        }
        for q in queues {
            if q.is_congested() && !self.congested.iter().any(|c| Arc::ptr_eq(c, q)) {
                self.congested.push(q.clone());
            }
        }
    }

    /// Confirms a publish now: `basic.ack` (or `nack`) for its sequence number, or its
    /// callback run.
    fn confirm_now(&self, ch: u16, confirm: Option<Confirmed>, ok: bool) {
        let seq = match confirm {
            None => return,
            Some(Confirmed::Then(f)) => return f(ok),
            Some(Confirmed::Seq(seq)) => seq,
        };
        if ok {
            if let Some(c) = self.channels.get(&ch) {
                c.shared.stats.inc(Stat::Confirm);
            }
        }
        self.shared.send(Outbound::Confirm {
            channel: ch,
            tag: seq,
            ok,
        });
    }

    /// A callback that confirms publish `seq` once the store has it on disk.
    fn confirm_later(&mut self, ch: u16, seq: u64) -> crate::store::messages::OnSynced {
        let chan = self.chan(ch).shared.clone();
        Box::new(move |ok| {
            if chan.state.lock().closed {
                return;
            }
            if ok {
                chan.stats.inc(Stat::Confirm);
            }
            chan.conn.send(Outbound::Confirm {
                channel: chan.id,
                tag: seq,
                ok,
            });
        })
    }

    pub(crate) fn basic_get(&mut self, ch: u16, g: basic::Get) -> AmqpResult<()> {
        let name = self.queue_name(ch, g.queue.as_str())?;
        self.check(Access::Read, "queue", &name)?;
        let q = self.find_queue(&name)?;
        let shared = self.chan(ch).shared.clone();
        let holder = (!g.no_ack).then_some(shared.holder);
        if let Some(home) = q.remote() {
            let answer = home.get(&q, holder);
            self.after_remote(ch, answer, move |conn, got| {
                let got = got.map_err(|e| AmqpError::not_found(e).on(60, 70))?;
                conn.got(ch, g.no_ack, &q, got);
                Ok(())
            });
            return Ok(());
        }
        match q.get(holder) {
            Got::Loading => {
                // The head is paged out: the next frame waits until it is read back and
                // the get is asked again.
                self.pending_get = Some((ch, g, q));
            }
            got => self.got(ch, g.no_ack, &q, got),
        }
        Ok(())
    }

    /// Answers a `basic.get` with what the queue gave.
    fn got(&mut self, ch: u16, no_ack: bool, q: &Arc<Queue>, got: Got) {
        let Some(shared) = self.channels.get(&ch).map(|c| c.shared.clone()) else {
            return;
        };
        let (msg, redelivered, seq, message_count) = match got {
            Got::Empty | Got::Loading => {
                shared.stats.inc(Stat::GetEmpty);
                let empty = basic::GetEmpty {};
                self.send_method(ch, AMQPClass::Basic(basic::AMQPMethod::GetEmpty(empty)));
                return;
            }
            Got::Message {
                msg,
                redelivered,
                seq,
                remaining,
            } => (msg, redelivered, seq, remaining),
        };
        shared
            .stats
            .inc(if no_ack { Stat::GetNoAck } else { Stat::Get });
        if redelivered {
            shared.stats.inc(Stat::Redeliver);
        }
        let delivery_tag = shared.record_get(q, (!no_ack).then_some(seq));
        let ok = basic::GetOk {
            delivery_tag,
            redelivered,
            exchange: codec::short(msg.exchange()),
            routing_key: codec::short(msg.routing_key()),
            message_count,
        };
        let m = AMQPClass::Basic(basic::AMQPMethod::GetOk(ok));
        self.shared.send(Outbound::content(ch, m, msg));
    }

    fn basic_qos(&mut self, ch: u16, q: basic::Qos) -> AmqpResult<()> {
        let chan = self.chan(ch);
        if q.global {
            chan.shared.state.lock().global_prefetch = q.prefetch_count;
        } else {
            chan.consumer_prefetch = q.prefetch_count;
            chan.mode_changed();
        }
        let shared = chan.shared.clone();
        self.send_method(
            ch,
            AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})),
        );
        for queue in shared.consumed_queues() {
            queue.dispatch();
        }
        Ok(())
    }
}

/// How a publish is confirmed once its queues have it.
pub(crate) enum Confirmed {
    /// To the client: `basic.ack` of this sequence number (confirm mode).
    Seq(u64),
    /// To the broker: this runs (a transaction's commit waits for its publishes).
    Then(crate::store::messages::OnSynced),
}

/// Name equality on the publish path, without a libc call for the default exchange's "".
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Builds the stored message and the headers routing sees. `BCC` is removed before
/// delivery (re-encoding the properties only in that case); otherwise the publisher's bytes
/// are kept as they are.
fn make_message(
    publish: &Publish,
    header: ContentHeader,
    body: &[Bytes],
) -> (Message, Option<FieldTable>) {
    let parts: SmallVec<[&[u8]; 2]> = body.iter().map(|b| &b[..]).collect();
    let (exchange, routing_key) = (publish.exchange.as_str(), publish.routing_key.as_str());
    let mut header = header;
    let headers = header.props.take_headers();
    let has_bcc = headers.as_ref().is_some_and(|h| h.contains_key("BCC"));
    let stripped = has_bcc
        .then(|| Props::decode_full(&header.raw_properties))
        .flatten()
        .map(|p| {
            let mut inner = p.headers().clone().unwrap_or_default().inner().clone();
            inner.remove("BCC");
            encode_properties(&p.with_headers(inner.into()))
        });
    let msg = match stripped {
        Some(raw) => Message::with_routing_props(
            exchange,
            routing_key,
            &raw,
            &header.props,
            &parts,
            Some(&header.raw_properties),
        ),
        None => Message::with_routing_props(
            exchange,
            routing_key,
            &header.raw_properties,
            &header.props,
            &parts,
            None,
        ),
    };
    (msg, headers)
}
