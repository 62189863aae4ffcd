//! An open connection: the reader loop that decodes frames and runs each method, the
//! channel table, and the closing rules (a soft error closes one channel, a hard error the
//! connection). Owns the reading half; the writer task owns the other.

use super::channel::{Channel, ChannelSlot};
use super::codec::{Frame, FrameReader, ReadError};
use super::conn_shared::ConnShared;
use super::error::AmqpResult;
use super::error::{code, AmqpError};
use super::handshake::Opened;
use super::methods::command_reply::Then;
use super::outbound::Outbound;
use crate::auth::{permissions::Permission, User};
use crate::broker::command::{Actor, Command, Outcome};
use crate::broker::{Broker, Vhost};
use crate::queue::Queue;
use crate::store::meta_log::Ticket;
use ahash::{HashMap, HashMapExt};
use amq_protocol::protocol::{basic, channel, connection, AMQPClass};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncRead;

/// How long a closing side waits for the peer's close-ok.
const CLOSE_OK_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct Connection {
    pub broker: Arc<Broker>,
    pub shared: Arc<ConnShared>,
    pub vhost: Arc<Vhost>,
    pub user: Arc<User>,
    pub permission: Arc<Permission>,
    /// Boxed: a connection's map then costs little while it has few channels.
    pub channels: HashMap<u16, Box<Channel>>,
    pub channel_max: u16,
    pub heartbeat: u16,
    /// Exclusive queues this connection declared; deleted when it closes.
    pub exclusive: Vec<Arc<Queue>>,
    /// Queues this connection published to that were congested: reading waits for them.
    pub congested: Vec<Arc<Queue>>,
    /// Metadata a command just changed, not yet on disk: the replies wait for it (in
    /// `held`), and so does the next frame.
    persisting: Option<Ticket>,
    held: RefCell<Vec<Outbound>>,
    /// A `basic.get` that found its queue's head paged out: asked again once it is read
    /// back, before the next frame.
    pub(crate) pending_get: Option<(u16, basic::Get, Arc<Queue>)>,
    /// A command waiting for the cluster's log, with the channel and reply it is for.
    pub(crate) pending_command: Option<(u16, Command, Then)>,
    /// An operation waiting for the answer of a queue's home on another node (a get, a
    /// subscription): what the answer leads to runs before the next frame.
    pub(crate) pending_remote: Option<(u16, Awaited)>,
    /// Publishes to the last exchange published to, not yet added to its counters.
    pub(crate) exchange_tally: super::exchange_tally::ExchangeTally,
    /// Wakes when a vhost or user is deleted ([`Connection::access_lost`]).
    revoked: tokio::sync::watch::Receiver<u64>,
    /// The connection's place under its vhost's and user's limits.
    admission: crate::broker::clients::Admission,
    /// The user's topic permissions here, as of a broker generation.
    topic_permissions: (u64, Arc<Vec<crate::auth::TopicPermission>>),
}

/// What to do on the connection once a remote answer came.
pub(crate) type AfterRemote = Box<dyn FnOnce(&mut Connection) -> AmqpResult<()> + Send>;
/// A remote answer, turned into what to do with it.
pub(crate) type Awaited = std::pin::Pin<Box<dyn std::future::Future<Output = AfterRemote> + Send>>;

/// How long a publisher waits for a congested queue to drain at all: if it does not, the
/// publisher reads on (a consumer that stopped acking slows publishers, never stops them).
const FLOW_WAIT: Duration = Duration::from_millis(50);
/// ... counted in `FLOW_WAIT` slices without progress (so a consumer that is merely slow, or
/// short of CPU for a moment, is not taken for a stuck one).
const FLOW_STUCK: u32 = 5;

/// How long the socket is still read, and what arrives discarded, after the close-ok to a
/// client's `connection.close`: a client may have publishes in flight when it closes, and
/// closing the socket on unread data would reset it (the client sees EPIPE or RST rather
/// than a clean close). RabbitMQ reads on until the client closes, too.
const DRAIN_AFTER_CLOSE: Duration = Duration::from_secs(3);

/// How the loop ended.
enum End {
    /// The peer went away.
    Done,
    /// The peer asked to close and close-ok is queued: read on until it closes its side.
    PeerClosed,
    /// We sent `connection.close`; wait for close-ok.
    Closing,
}

impl Connection {
    /// Waits (before the next frame) for a queue home's answer, then runs `then` with it.
    pub(crate) fn after_remote<T: Send + 'static>(
        &mut self,
        ch: u16,
        answer: crate::queue::Answer<T>,
        then: impl FnOnce(&mut Connection, Result<T, String>) -> AmqpResult<()> + Send + 'static,
    ) {
        let awaited: Awaited = Box::pin(async move {
            let got = answer.await;
            Box::new(move |conn: &mut Connection| then(conn, got)) as AfterRemote
        });
        self.pending_remote = Some((ch, awaited));
    }

    pub(crate) fn new(broker: Arc<Broker>, shared: Arc<ConnShared>, o: Opened) -> Self {
        let revoked = broker.access_revoked.subscribe();
        let generation = broker.topic_generation.load(Ordering::Acquire);
        let topic = broker.topic_permissions(&o.user.name, &o.vhost.name);
        Self {
            broker,
            shared,
            vhost: o.vhost,
            user: o.user,
            permission: o.permission,
            channels: HashMap::new(),
            channel_max: o.channel_max,
            heartbeat: o.heartbeat,
            exclusive: Vec::new(),
            congested: Vec::new(),
            persisting: None,
            held: RefCell::new(Vec::new()),
            pending_get: None,
            pending_command: None,
            pending_remote: None,
            exchange_tally: Default::default(),
            revoked,
            admission: o.admission,
            topic_permissions: (generation, topic),
        }
    }

    pub(crate) async fn run<R: AsyncRead + Unpin>(&mut self, rd: &mut FrameReader<R>) {
        let end = self.read_loop(rd).await;
        if let End::Closing = end {
            let _ = tokio::time::timeout(CLOSE_OK_WAIT, wait_close_ok(rd)).await;
        }
        self.shared.send(Outbound::Close);
        self.cleanup();
        if let End::PeerClosed = end {
            tokio::select! {
                _ = tokio::time::timeout(DRAIN_AFTER_CLOSE, rd.discard_until_eof()) => {}
                _ = self.broker.shutdown_signal() => {}
            }
        }
    }

    async fn read_loop<R: AsyncRead + Unpin>(&mut self, rd: &mut FrameReader<R>) -> End {
        // A peer silent for two heartbeat intervals is gone.
        let idle = Duration::from_secs(self.heartbeat as u64 * 2);
        let mut last_read = Instant::now();
        let mut ack_check = tokio::time::interval(ack_check_period(self.broker.consumer_timeout));
        loop {
            // Every whole frame already read is handled before the socket and the timers
            // are looked at again.
            loop {
                self.shared.wait_writable().await;
                let frame = match rd.try_decode() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(ReadError::Io(_)) => return End::Done,
                    Err(ReadError::Protocol(e)) => {
                        self.close(e);
                        return End::Closing;
                    }
                };
                if is_publish(&frame) {
                    self.wait_while_blocked().await;
                }
                let mut handled = self.handle(frame);
                while let Some((ch, get, q)) = self.pending_get.take() {
                    q.wait_loaded().await;
                    if let Err(e) = self.basic_get(ch, get) {
                        handled = Err((ch, e));
                    }
                }
                if let Some((ch, cmd, then)) = self.pending_command.take() {
                    let ran = self.broker.run(&self.actor(), cmd).await;
                    if let Err(e) = ran
                        .map_err(AmqpError::from)
                        .and_then(|o| self.command_done(ch, then, o))
                    {
                        let (class, method) = then.method_ids();
                        handled = Err((ch, e.on(class, method)));
                    }
                }
                if let Some((ch, answer)) = self.pending_remote.take() {
                    let then = answer.await;
                    if let Err(e) = then(self) {
                        handled = Err((ch, e));
                    }
                }
                if self.persisting.is_some() {
                    if let Err(e) = self.release_held().await {
                        self.close(e);
                        return End::Closing;
                    }
                }
                match handled {
                    Ok(true) => {}
                    Ok(false) => {
                        self.closed_by_peer().await;
                        return End::PeerClosed;
                    }
                    Err((ch, e)) if e.is_hard() || ch == 0 => {
                        self.close(e);
                        return End::Closing;
                    }
                    Err((ch, e)) => self.close_channel(ch, e),
                }
            }
            self.exchange_tally.flush();
            self.wait_for_congested_queues().await;
            tokio::select! {
                r = rd.fill() => {
                    let Ok(n) = r else {
                        return End::Done;
                    };
                    self.shared.info.received(n);
                    last_read = Instant::now();
                }
                _ = self.shared.info.close_requested.notified() => {
                    let reason = self.shared.info.take_close_reason().unwrap_or_default();
                    self.close(AmqpError::new(code::CONNECTION_FORCED, reason));
                    return End::Closing;
                }
                _ = tokio::time::sleep_until((last_read + idle).into()), if self.heartbeat > 0 => {
                    tracing::info!("connection {}: missed heartbeats, closing", self.shared.id);
                    return End::Done;
                }
                _ = ack_check.tick() => self.check_ack_timeouts(),
                Ok(()) = self.revoked.changed() => {
                    if let Some(reason) = self.access_lost() {
                        self.close(AmqpError::new(code::CONNECTION_FORCED, reason));
                        return End::Closing;
                    }
                }
                _ = self.broker.shutdown_signal() => {
                    self.close(AmqpError::new(
                        code::CONNECTION_FORCED,
                        "broker forced connection closure with reason 'shutdown'",
                    ));
                    return End::Closing;
                }
                _ = self.broker.paused_signal() => {
                    self.close(AmqpError::new(
                        code::CONNECTION_FORCED,
                        "broker forced connection closure with reason 'paused: this node sees a minority of its cluster (pause_minority)'",
                    ));
                    return End::Closing;
                }
            }
        }
    }

    /// Why a publish to `exchange` with `routing_key` is refused by the user's topic
    /// permissions (RabbitMQ checks them on topic exchanges only).
    pub(crate) fn topic_refusal(&mut self, exchange: &str, routing_key: &str) -> Option<String> {
        let generation = self.broker.topic_generation.load(Ordering::Acquire);
        if generation != self.topic_permissions.0 {
            let fresh = self
                .broker
                .topic_permissions(&self.user.name, &self.vhost.name);
            self.topic_permissions = (generation, fresh);
        }
        if self.topic_permissions.1.is_empty() {
            return None;
        }
        let ex = self.vhost.exchange(exchange)?;
        if ex.kind != crate::broker::exchange::ExchangeKind::Topic {
            return None;
        }
        crate::auth::topic::check_topic(
            &self.topic_permissions.1,
            crate::auth::permissions::Access::Write,
            exchange,
            routing_key,
            &self.vhost.name,
            &self.user.name,
        )
        .err()
    }

    /// Why this connection may no longer stay open: its vhost or its user was deleted
    /// (RabbitMQ's texts).
    fn access_lost(&self) -> Option<String> {
        let vhost = self.broker.vhost(&self.vhost.name);
        if !vhost.is_some_and(|v| Arc::ptr_eq(&v, &self.vhost)) {
            return Some(format!("vhost '{}' is down", self.vhost.name));
        }
        if self.broker.user(&self.user.name).is_none() {
            return Some(format!("user '{}' is deleted", self.user.name));
        }
        None
    }

    /// Closes (406) every channel holding a delivery unacked for longer than
    /// `consumer_timeout`, as RabbitMQ does.
    fn check_ack_timeouts(&mut self) {
        let Some(limit) = self.broker.consumer_timeout else {
            return;
        };
        let now = Instant::now();
        let late: Vec<u16> = self
            .channels
            .iter()
            .filter(|(_, c)| !c.closing)
            .filter(|(_, c)| c.shared.oldest_delivery().is_some_and(|t| now - t > limit))
            .map(|(id, _)| *id)
            .collect();
        for ch in late {
            let e = AmqpError::precondition(format!(
                "delivery acknowledgement on channel {ch} timed out. Timeout value used: {} ms. This timeout value can be configured, see consumers doc guide to learn more",
                limit.as_millis()
            ));
            self.close_channel(ch, e);
        }
    }

    /// Handles one frame; `Ok(false)` ends the connection.
    fn handle(&mut self, frame: Frame) -> Result<bool, (u16, AmqpError)> {
        let ch = frame.channel();
        if ch == 0 {
            return self.handle_channel0(frame).map_err(|e| (0, e));
        }
        self.handle_channel_frame(ch, frame)
            .map(|_| true)
            .map_err(|e| (ch, e))
    }

    fn handle_channel0(&mut self, frame: Frame) -> Result<bool, AmqpError> {
        let method = match frame {
            Frame::Heartbeat(_) => return Ok(true),
            Frame::Method(_, m) => *m,
            f => {
                return Err(match f.fast_method_ids() {
                    Some((class, method)) => {
                        AmqpError::channel_error("unexpected method in connection state running")
                            .on(class, method)
                    }
                    None => AmqpError::unexpected_frame("content frame on channel 0"),
                })
            }
        };
        match method {
            // close-ok goes once the exclusive queues are gone (`closed_by_peer`).
            AMQPClass::Connection(connection::AMQPMethod::Close(_)) => Ok(false),
            AMQPClass::Connection(connection::AMQPMethod::UpdateSecret(_)) => {
                // RabbitMQ 3.10's internal auth backend accepts any new secret: the user's
                // permissions do not depend on it.
                self.send0(connection::AMQPMethod::UpdateSecretOk(
                    connection::UpdateSecretOk {},
                ));
                Ok(true)
            }
            m => Err(
                AmqpError::channel_error("unexpected method in connection state running")
                    .on(m.get_amqp_class_id(), m.get_amqp_method_id()),
            ),
        }
    }

    fn handle_channel_frame(&mut self, ch: u16, frame: Frame) -> Result<(), AmqpError> {
        let Some(chan) = self.channels.get_mut(&ch) else {
            return self.open_channel(ch, frame);
        };
        if chan.closing {
            // After we sent channel.close, everything but close/close-ok is dropped.
            if let Frame::Method(_, m) = frame {
                match *m {
                    AMQPClass::Channel(channel::AMQPMethod::CloseOk(_)) => {
                        self.channels.remove(&ch);
                    }
                    AMQPClass::Channel(channel::AMQPMethod::Close(_)) => {
                        self.send_method(ch, channel_close_ok());
                    }
                    _ => {}
                }
            }
            return Ok(());
        }
        self.channel_frame(ch, frame)
    }

    fn open_channel(&mut self, ch: u16, frame: Frame) -> Result<(), AmqpError> {
        match frame {
            Frame::Method(_, m)
                if matches!(*m, AMQPClass::Channel(channel::AMQPMethod::Open(_))) =>
            {
                let limit = self
                    .broker
                    .user(&self.user.name)
                    .and_then(|u| crate::auth::UserLimits::effective(u.limits.max_channels));
                let open = &self.admission.channels;
                if let Some(l) = limit.filter(|l| open.load(Ordering::Relaxed) >= *l) {
                    return Err(AmqpError::not_allowed(format!(
                        "number of channels opened for user '{}' has reached the maximum \
                         allowed user limit of ({l})",
                        self.user.name
                    )));
                }
                // RabbitMQ limits how many channels are open, not their numbers.
                if self.channels.len() >= self.channel_max as usize {
                    return Err(AmqpError::not_allowed(format!(
                        "number of channels opened ({}) has reached the negotiated channel_max ({})",
                        self.channels.len(),
                        self.channel_max
                    ))
                    );
                }
                let mut chan = Box::new(Channel::new(ch, self.shared.clone()));
                chan.slot = Some(ChannelSlot::take(&self.admission.channels));
                self.shared.info.add_channel(&chan.shared);
                self.channels.insert(ch, chan);
                self.send_method(
                    ch,
                    AMQPClass::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})),
                );
                Ok(())
            }
            Frame::Method(_, m) => Err(AmqpError::channel_error(format!(
                "expected 'channel.open' on channel {ch}"
            ))
            .on(m.get_amqp_class_id(), m.get_amqp_method_id())),
            f => {
                let e =
                    AmqpError::channel_error(format!("expected 'channel.open' on channel {ch}"));
                Err(match f.fast_method_ids() {
                    Some((class, method)) => e.on(class, method),
                    None => e,
                })
            }
        }
    }

    /// Sends `channel.close` for a soft error and releases the channel's resources now.
    fn close_channel(&mut self, ch: u16, e: AmqpError) {
        tracing::debug!("channel {ch} error: {e}");
        if let Some(chan) = self.channels.get_mut(&ch) {
            chan.closing = true;
        }
        self.release_channel(ch);
        self.send_method(
            ch,
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: e.code,
                reply_text: super::codec::short(&e.reply_text()),
                class_id: e.class_id,
                method_id: e.method_id,
            })),
        );
    }

    /// Sends `connection.close` for a hard error.
    fn close(&mut self, e: AmqpError) {
        tracing::info!("closing connection {}: {e}", self.shared.id);
        self.send0(connection::AMQPMethod::Close(connection::Close {
            reply_code: e.code,
            reply_text: super::codec::short(&e.reply_text()),
            class_id: e.class_id,
            method_id: e.method_id,
        }));
    }

    /// Sends a method, or holds it while the metadata it answers for is being written.
    pub(crate) fn send_method(&self, ch: u16, m: AMQPClass) {
        let out = Outbound::method(ch, m);
        if self.persisting.is_some() {
            self.held.borrow_mut().push(out);
        } else {
            self.shared.send(out);
        }
    }

    /// Who this connection's commands run as.
    pub(crate) fn actor(&self) -> Actor<'_> {
        Actor {
            user: Some(&self.user),
            permission: Some(&self.permission),
            connection: Some(self.shared.id),
        }
    }

    /// Runs a broker command; replies sent after it wait until its changes are on disk.
    pub(crate) fn command(&mut self, cmd: Command) -> AmqpResult<Outcome> {
        let applied = self.broker.execute(&self.actor(), cmd)?;
        if let Some(t) = applied.persisted {
            self.hold_until(t);
        }
        Ok(applied.outcome)
    }

    /// Holds the replies sent from now on until the ticket resolves (frames are handled one
    /// by one, and each waits for what its handling started).
    pub(crate) fn hold_until(&mut self, t: Ticket) {
        self.persisting = Some(match self.persisting.take() {
            Some(earlier) => earlier.and(t),
            None => t,
        });
    }

    /// The client closed: its exclusive queues are deleted (through the cluster's log on a
    /// cluster node) before close-ok, so whatever the client does next finds them gone.
    async fn closed_by_peer(&mut self) {
        for q in std::mem::take(&mut self.exclusive) {
            if q.is_deleted() {
                continue;
            }
            let cmd = Command::DeleteQueue {
                vhost: self.vhost.name.clone(),
                name: q.name.clone(),
                if_unused: false,
                if_empty: false,
            };
            if let Err(e) = self.broker.run(&Actor::BROKER, cmd).await {
                tracing::debug!("exclusive queue '{}' stays: {e}", q.name);
            }
        }
        self.send0(connection::AMQPMethod::CloseOk(connection::CloseOk {}));
    }

    /// Waits for the metadata write a command started, then sends the replies held for it.
    async fn release_held(&mut self) -> Result<(), AmqpError> {
        let Some(ticket) = self.persisting.take() else {
            return Ok(());
        };
        let written = ticket.written().await;
        let held = std::mem::take(&mut *self.held.borrow_mut());
        if let Err(e) = written {
            return Err(AmqpError::internal(format!("cannot store the change: {e}")));
        }
        for out in held {
            self.shared.send(out);
        }
        Ok(())
    }

    fn send0(&self, m: connection::AMQPMethod) {
        self.send_method(0, AMQPClass::Connection(m));
    }

    /// Pauses reading while queues this connection published to are congested, for as long
    /// as they keep draining.
    async fn wait_for_congested_queues(&mut self) {
        while let Some(q) = self.congested.pop() {
            let mut ready = q.counts().ready;
            let mut idle = 0;
            while tokio::time::timeout(FLOW_WAIT, q.uncongested())
                .await
                .is_err()
            {
                let now = q.counts().ready;
                idle = if now < ready { 0 } else { idle + 1 };
                if idle >= FLOW_STUCK {
                    break;
                }
                ready = now;
            }
        }
    }

    /// While the memory alarm is up, a publishing connection stops reading (and is told so
    /// once with `connection.blocked` if it asked for that).
    async fn wait_while_blocked(&mut self) {
        let Some(reason) = self.broker.alarms.borrow().reason() else {
            return;
        };
        let notify = self.shared.capabilities.connection_blocked;
        if notify {
            self.send0(connection::AMQPMethod::Blocked(connection::Blocked {
                reason: reason.into(),
            }));
        }
        self.shared.info.blocked.store(true, Ordering::Relaxed);
        tokio::select! {
            _ = self.broker.alarms_clear() => {}
            _ = self.broker.shutdown_signal() => {}
        }
        self.shared.info.blocked.store(false, Ordering::Relaxed);
        if notify {
            self.send0(connection::AMQPMethod::Unblocked(connection::Unblocked {}));
        }
    }

    /// Releases everything the connection holds: channels (requeueing their unacked
    /// messages) and exclusive queues.
    fn cleanup(&mut self) {
        self.exchange_tally.flush();
        let ids: Vec<u16> = self.channels.keys().copied().collect();
        for ch in ids {
            self.release_channel(ch);
        }
        self.channels.clear();
        for q in std::mem::take(&mut self.exclusive) {
            self.delete_queue_as_broker(&q, false);
        }
    }
}

/// How often unacked deliveries are checked against `consumer_timeout`.
fn ack_check_period(timeout: Option<Duration>) -> Duration {
    timeout.map_or(Duration::from_secs(3600), |t| {
        (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(10))
    })
}

fn is_publish(frame: &Frame) -> bool {
    matches!(frame, Frame::Publish(..))
}

pub(crate) fn channel_close_ok() -> AMQPClass {
    AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {}))
}

async fn wait_close_ok<R: AsyncRead + Unpin>(rd: &mut FrameReader<R>) {
    while let Ok(frame) = rd.next().await {
        if let Frame::Method(0, m) = frame {
            if matches!(
                *m,
                AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))
                    | AMQPClass::Connection(connection::AMQPMethod::Close(_))
            ) {
                return;
            }
        }
    }
}
