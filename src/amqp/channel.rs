//! A channel as its connection's reader sees it: content assembly (method, header, body
//! frames), publisher-confirm and transaction state, and the method dispatch that maps each
//! incoming method to its handler. Delivery state shared with queues is in `channel_shared`.

use super::channel_shared::ChannelShared;
use super::codec::{ContentHeader, Frame, Publish};
use super::conn_shared::ConnShared;
use super::connection::{channel_close_ok, Connection};
use super::error::{AmqpError, AmqpResult};
use crate::message::Message;
use amq_protocol::protocol::{access, channel, AMQPClass};
use amq_protocol::types::FieldTable;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where the channel is in receiving a message's frames.
#[derive(Default)]
pub(crate) enum Content {
    #[default]
    Idle,
    Header(Publish),
    Body {
        publish: Publish,
        header: ContentHeader,
        body: BodyParts,
    },
}

/// A body arriving in frames, kept as slices of the read buffer until the message is
/// assembled (one copy, into the message).
#[derive(Default)]
pub(crate) struct BodyParts {
    pub parts: Vec<Bytes>,
    pub received: u64,
}

impl BodyParts {
    fn push(&mut self, part: Bytes) {
        self.received += part.len() as u64;
        self.parts.push(part);
    }
}

/// A publish held back until `tx.commit`.
pub(crate) struct TxPublish {
    pub mandatory: bool,
    pub msg: Message,
    /// The headers routing sees (`BCC` included).
    pub headers: Option<FieldTable>,
}

/// An ack, nack or reject held back until `tx.commit`.
pub(crate) enum TxAck {
    Ack {
        tag: u64,
        multiple: bool,
    },
    Reject {
        tag: u64,
        multiple: bool,
        requeue: bool,
    },
}

#[derive(Default)]
pub(crate) struct Tx {
    pub publishes: Vec<TxPublish>,
    pub acks: Vec<TxAck>,
}

/// A channel's place in its user's open channels (`max-channels`): given back when the
/// channel goes.
pub(crate) struct ChannelSlot(Arc<AtomicU64>);

impl ChannelSlot {
    pub(crate) fn take(open: &Arc<AtomicU64>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open.clone())
    }
}

impl Drop for ChannelSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct Channel {
    pub shared: Arc<ChannelShared>,
    pub closing: bool,
    pub content: Content,
    pub confirm: bool,
    pub publish_seq: u64,
    pub tx: Option<Tx>,
    pub last_queue: Option<String>,
    /// The exchange of the last publish, with its checks passed (write permission, exists,
    /// not internal): the next publish to it skips the lookups.
    pub publish_target: Option<Arc<crate::broker::exchange::Exchange>>,
    /// `basic.qos global=false`: the prefetch given to consumers started after it.
    pub consumer_prefetch: u16,
    /// Counts the channel against its user's `max-channels`.
    pub slot: Option<ChannelSlot>,
}

impl Channel {
    /// Tells the management API about a change of confirm, tx or prefetch mode.
    pub(crate) fn mode_changed(&self) {
        let tx = self.tx.is_some();
        self.shared
            .set_mode(self.confirm, tx, self.consumer_prefetch);
    }

    pub(crate) fn new(id: u16, conn: Arc<ConnShared>) -> Self {
        Self {
            shared: ChannelShared::new(id, conn),
            closing: false,
            content: Content::Idle,
            confirm: false,
            publish_seq: 0,
            tx: None,
            last_queue: None,
            publish_target: None,
            consumer_prefetch: 0,
            slot: None,
        }
    }
}

impl Connection {
    pub(crate) fn chan(&mut self, ch: u16) -> &mut Channel {
        self.channels
            .get_mut(&ch)
            .expect("handlers run only for open channels")
    }

    /// A frame for an open channel.
    pub(super) fn channel_frame(&mut self, ch: u16, frame: Frame) -> AmqpResult<()> {
        let content = std::mem::take(&mut self.chan(ch).content);
        match (content, frame) {
            (Content::Idle, Frame::Method(_, m)) => {
                let (class_id, method_id) = (m.get_amqp_class_id(), m.get_amqp_method_id());
                self.method(ch, *m).map_err(|e| e.on(class_id, method_id))
            }
            (Content::Idle, Frame::Publish(_, p)) => {
                self.basic_publish(ch, p).map_err(|e| e.on(60, 40))
            }
            (Content::Idle, Frame::Ack(_, tag, multiple)) => {
                self.basic_ack(ch, tag, multiple).map_err(|e| e.on(60, 80))
            }
            (Content::Header(publish), Frame::Header(_, header)) => {
                self.on_header(ch, publish, header)
            }
            (
                Content::Body {
                    publish,
                    header,
                    mut body,
                },
                Frame::Body(_, part),
            ) => {
                let total = header.body_size;
                body.push(part);
                if body.received > total {
                    return Err(AmqpError::unexpected_frame(format!(
                        "received body of {} bytes, header said {total}",
                        body.received
                    )));
                }
                if body.received == total {
                    return self.publish(ch, publish, header, body.parts);
                }
                self.chan(ch).content = Content::Body {
                    publish,
                    header,
                    body,
                };
                Ok(())
            }
            (_, Frame::Heartbeat(_)) => Err(AmqpError::unexpected_frame(format!(
                "heartbeat frame on channel {ch}"
            ))),
            (Content::Idle, Frame::Header(..)) | (Content::Idle, Frame::Body(..)) => Err(
                AmqpError::unexpected_frame("content frame without a preceding basic.publish"),
            ),
            (Content::Header(_), _) => Err(AmqpError::unexpected_frame(
                "expected content header for class 60, got non content header frame instead",
            )
            .on(60, 40)),
            (Content::Body { .. }, _) => Err(AmqpError::unexpected_frame(
                "expected content body, got non content body frame instead",
            )
            .on(60, 40)),
        }
    }

    fn on_header(&mut self, ch: u16, publish: Publish, header: ContentHeader) -> AmqpResult<()> {
        if header.class_id != 60 {
            return Err(AmqpError::unexpected_frame(format!(
                "content header for class {} after basic.publish",
                header.class_id
            ))
            .on(60, 40));
        }
        // Checked on the header, before any body is buffered (RabbitMQ checks the
        // assembled message; the close is the same).
        let max = self.broker.config.amqp.max_message_size.0;
        if header.body_size > max {
            let configured = if max == crate::config::MAX_MESSAGE_SIZE_CEILING {
                ""
            } else {
                "configured "
            };
            return Err(AmqpError::precondition(format!(
                "message size {} is larger than {configured}max size {max}",
                header.body_size
            ))
            .on(60, 40));
        }
        if header.body_size == 0 {
            return self.publish(ch, publish, header, Vec::new());
        }
        self.chan(ch).content = Content::Body {
            publish,
            header,
            body: BodyParts::default(),
        };
        Ok(())
    }

    /// Runs one method on an open channel; exhaustive, so a new method needs a handler.
    fn method(&mut self, ch: u16, m: AMQPClass) -> AmqpResult<()> {
        match m {
            AMQPClass::Channel(m) => self.channel_method(ch, m),
            AMQPClass::Access(access::AMQPMethod::Request(_)) => {
                let ok = access::RequestOk {};
                self.send_method(ch, AMQPClass::Access(access::AMQPMethod::RequestOk(ok)));
                Ok(())
            }
            AMQPClass::Exchange(m) => self.exchange_method(ch, m),
            AMQPClass::Queue(m) => self.queue_method(ch, m),
            AMQPClass::Basic(m) => self.basic_method(ch, m),
            AMQPClass::Confirm(m) => self.confirm_method(ch, m),
            AMQPClass::Tx(m) => self.tx_method(ch, m),
            AMQPClass::Connection(_) | AMQPClass::Access(_) => Err(AmqpError::command_invalid(
                "connection-level method on a channel",
            )),
        }
    }

    fn channel_method(&mut self, ch: u16, m: channel::AMQPMethod) -> AmqpResult<()> {
        match m {
            channel::AMQPMethod::Open(_) => {
                Err(AmqpError::channel_error("second 'channel.open' seen"))
            }
            channel::AMQPMethod::Flow(f) if f.active => {
                let ok = channel::FlowOk { active: true };
                self.send_method(ch, AMQPClass::Channel(channel::AMQPMethod::FlowOk(ok)));
                Ok(())
            }
            channel::AMQPMethod::Flow(_) => Err(AmqpError::not_implemented("active=false")),
            channel::AMQPMethod::Close(_) => {
                self.release_channel(ch);
                self.channels.remove(&ch);
                self.send_method(ch, channel_close_ok());
                Ok(())
            }
            channel::AMQPMethod::CloseOk(_) => Err(AmqpError::command_invalid(
                "channel.close-ok without a channel.close",
            )),
            // Warren never sends channel.flow, so a flow-ok answers nothing (RabbitMQ: 503).
            channel::AMQPMethod::FlowOk(_) => {
                Err(AmqpError::command_invalid("unimplemented method"))
            }
            channel::AMQPMethod::OpenOk(_) => {
                Err(AmqpError::command_invalid("channel.open-ok is server-only"))
            }
        }
    }

    /// Frees a closing channel's resources: cancels its consumers and requeues its unacked
    /// messages in their original order.
    pub(super) fn release_channel(&mut self, ch: u16) {
        let Some(chan) = self.channels.get_mut(&ch) else {
            return;
        };
        chan.content = Content::Idle;
        chan.tx = None;
        let shared = chan.shared.clone();
        self.drop_reply_to(&shared, None);
        let consumers = {
            let mut st = shared.state.lock();
            st.closed = true;
            std::mem::take(&mut st.consumers)
        };
        for (tag, c) in consumers {
            if c.queue.remove_consumer(shared.holder, &tag) {
                self.delete_queue_as_broker(&c.queue, true);
            }
        }
        for q in shared.take_all_unacked() {
            q.holder_gone(shared.holder);
        }
        if let Some(counts) = shared.retire_stats() {
            self.vhost.retired_stats.absorb(&counts);
        }
    }
}
