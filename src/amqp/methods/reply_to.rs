//! Direct reply-to: a channel consumes from the pseudo-queue `amq.rabbitmq.reply-to` (no-ack),
//! its requests carry `reply-to: amq.rabbitmq.reply-to`, which the broker rewrites to a
//! per-channel address; replies published to that address on the default exchange go straight
//! to the channel, without a queue.

use super::queue::generated_name;
use crate::amqp::channel_shared::ChannelShared;
use crate::amqp::codec::{self, ContentHeader};
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::message::props::{encode_properties, Props};
use crate::message::Message;
use amq_protocol::protocol::{basic, AMQPClass};
use std::sync::Arc;

pub(crate) const PSEUDO_QUEUE: &str = "amq.rabbitmq.reply-to";
const ADDRESS_PREFIX: &str = "amq.rabbitmq.reply-to.";

pub(crate) fn is_reply_address(name: &str) -> bool {
    // The first byte rules out almost every name without a libc call: this runs per publish.
    name.len() > ADDRESS_PREFIX.len()
        && name.as_bytes()[0] == b'a'
        && name.starts_with(ADDRESS_PREFIX)
}

impl Connection {
    /// `basic.consume` on the pseudo-queue.
    pub(crate) fn consume_reply_to(&mut self, ch: u16, c: &basic::Consume) -> AmqpResult<()> {
        if !c.no_ack {
            return Err(AmqpError::precondition("reply consumer cannot acknowledge"));
        }
        let shared = self.chan(ch).shared.clone();
        let tag: Arc<str> = if c.consumer_tag.as_str().is_empty() {
            generated_name("amq.ctag-").into()
        } else {
            c.consumer_tag.as_str().into()
        };
        let address: Arc<str> = {
            let mut st = shared.state.lock();
            let address = st
                .reply_address
                .clone()
                .unwrap_or_else(|| generated_name(ADDRESS_PREFIX).into());
            st.reply_address = Some(address.clone());
            st.reply_tag = Some(tag.clone());
            address
        };
        let consumer: Arc<dyn crate::queue::Consumer> = shared;
        self.vhost
            .reply_channels
            .write()
            .insert(address, Arc::downgrade(&consumer));
        if !c.nowait {
            let ok = basic::ConsumeOk {
                consumer_tag: codec::short(&tag),
            };
            self.send_method(ch, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)));
        }
        Ok(())
    }

    /// Forgets the channel's reply address (cancel or channel close); true if it had one
    /// under `tag` (or any tag when `tag` is `None`).
    pub(crate) fn drop_reply_to(&self, shared: &ChannelShared, tag: Option<&str>) -> bool {
        let address = {
            let mut st = shared.state.lock();
            if tag.is_some() && st.reply_tag.as_deref() != tag {
                return false;
            }
            st.reply_tag = None;
            st.reply_address.take()
        };
        match address {
            Some(a) => self.vhost.reply_channels.write().remove(&a).is_some(),
            None => false,
        }
    }

    /// Rewrites `reply-to: amq.rabbitmq.reply-to` to the channel's reply address.
    pub(crate) fn rewrite_reply_to(
        &mut self,
        ch: u16,
        header: &mut ContentHeader,
    ) -> AmqpResult<()> {
        if header.props.reply_to() != Some(PSEUDO_QUEUE) {
            return Ok(());
        }
        let address = self.chan(ch).shared.state.lock().reply_address.clone();
        let Some(address) = address else {
            return Err(AmqpError::precondition(
                "fast reply consumer does not exist",
            ));
        };
        let props = Props::decode_full(&header.raw_properties)
            .unwrap_or_default()
            .with_reply_to(codec::short(&address));
        header.raw_properties = encode_properties(&props);
        header.props.set_reply_to(address.to_string());
        Ok(())
    }

    /// Delivers a reply to the consumer behind a reply address; dropped if it is gone.
    pub(crate) fn deliver_reply(&self, msg: &Message) {
        let target = self
            .vhost
            .reply_channels
            .read()
            .get(msg.routing_key())
            .and_then(|w| w.upgrade());
        if let Some(target) = target {
            target.deliver_direct(msg);
        }
    }

    /// A passive declare of a reply address: 0 messages and 1 consumer while it exists.
    pub(crate) fn declare_reply_address(&self, name: &str) -> Option<(u32, u32)> {
        let alive = self
            .vhost
            .reply_channels
            .read()
            .get(name)
            .is_some_and(|w| w.strong_count() > 0);
        alive.then_some((0, 1))
    }
}
