//! A minimal AMQP 0-9-1 client for the control path: handshake (PLAIN, tune-ok echoing the
//! server's limits, heartbeats off), channel.open, declarations, qos, consume, confirm.select,
//! and clean closing. The data path (producer/consumer) reuses its socket halves and buffer.

use crate::frame::{self, FrameBuf, FRAME_HEARTBEAT, FRAME_METHOD, PROTOCOL_HEADER};
use crate::tls::{write_out, Reader, Writer};
use crate::uri::Uri;
use amq_protocol::protocol::{basic, channel, confirm, connection, exchange, queue, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use std::time::Duration;
use tokio::net::TcpStream;

/// How long a connection attempt and handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a clean close may take (a busy broker may still be working through what was
/// sent before the close).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a control round trip may take.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// The error for a connection the server dropped without a connection.close.
pub const EOF_MSG: &str = "the server closed the connection (end of stream)";

/// An open AMQP connection.
pub struct Conn {
    /// Socket read half (TCP or TLS).
    pub rd: Reader,
    /// Socket write half (TCP or TLS): write with [`write_out`].
    pub wr: Writer,
    /// Receive buffer (may hold frames already received).
    pub fb: FrameBuf,
    /// Negotiated frame_max (0 = unlimited).
    pub frame_max: u32,
    /// "product version" as the server announced itself.
    pub server: String,
    out: Vec<u8>,
}

/// Formats a connection.close / channel.close from the server.
pub fn describe_close(what: &str, code: u16, text: &str, class_id: u16, method_id: u16) -> String {
    let mut s = format!("the server closed the {what}: {code} {text}");
    if class_id != 0 {
        s.push_str(&format!(" (in reply to method {class_id}.{method_id})"));
    }
    s
}

/// The error message for a connection.close or channel.close method, if `m` is one.
pub fn server_close_message(ch: u16, m: &AMQPClass) -> Option<String> {
    match m {
        AMQPClass::Connection(connection::AMQPMethod::Close(c)) => Some(describe_close(
            "connection",
            c.reply_code,
            c.reply_text.as_str(),
            c.class_id,
            c.method_id,
        )),
        AMQPClass::Channel(channel::AMQPMethod::Close(c)) => Some(describe_close(
            &format!("channel {ch}"),
            c.reply_code,
            c.reply_text.as_str(),
            c.class_id,
            c.method_id,
        )),
        _ => None,
    }
}

fn io_err(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e}")
}

fn text_of(v: Option<&AMQPValue>) -> String {
    match v {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_string(),
        _ => String::new(),
    }
}

fn method_name(m: &AMQPClass) -> String {
    format!("{m:?}").chars().take(120).collect()
}

impl Conn {
    /// Connects and runs the handshake; `name` is shown by the broker's management tools.
    pub async fn open(uri: &Uri, name: &str) -> Result<Conn, String> {
        match tokio::time::timeout(CONNECT_TIMEOUT, Self::open_inner(uri, name)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "connecting to {}:{}: no complete handshake within {:?}",
                uri.host, uri.port, CONNECT_TIMEOUT
            )),
        }
    }

    async fn open_inner(uri: &Uri, name: &str) -> Result<Conn, String> {
        let addr = format!("{}:{}", uri.host, uri.port);
        let sock = TcpStream::connect((uri.host.as_str(), uri.port))
            .await
            .map_err(|e| io_err(&format!("cannot connect to {addr}"), e))?;
        let _ = sock.set_nodelay(true);
        let (rd, wr) = crate::tls::wrap(sock, uri.tls.as_ref())
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let mut c = Conn {
            rd,
            wr,
            fb: FrameBuf::new(4096),
            frame_max: 0,
            server: String::new(),
            out: Vec::with_capacity(512),
        };
        write_out(&mut c.wr, PROTOCOL_HEADER)
            .await
            .map_err(|e| io_err(&format!("writing to {addr}"), e))?;
        let start = match c.recv_method().await? {
            (0, AMQPClass::Connection(connection::AMQPMethod::Start(s))) => s,
            (_, m) => {
                return Err(format!(
                    "expected connection.start, got {}",
                    method_name(&m)
                ))
            }
        };
        let props = start.server_properties.inner();
        c.server = format!(
            "{} {}",
            text_of(props.get("product")),
            text_of(props.get("version"))
        )
        .trim()
        .to_string();
        let mechs = String::from_utf8_lossy(start.mechanisms.as_bytes()).into_owned();
        if !mechs.split_whitespace().any(|m| m == "PLAIN") {
            return Err(format!(
                "the server does not offer PLAIN authentication (offers: {mechs})"
            ));
        }
        let mut caps = FieldTable::default();
        for cap in [
            "publisher_confirms",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "authentication_failure_close",
        ] {
            caps.insert(cap.into(), AMQPValue::Boolean(true));
        }
        let mut client = FieldTable::default();
        client.insert(
            "product".into(),
            AMQPValue::LongString("warren-perf".into()),
        );
        client.insert(
            "version".into(),
            AMQPValue::LongString(env!("CARGO_PKG_VERSION").into()),
        );
        client.insert("platform".into(), AMQPValue::LongString("Rust".into()));
        client.insert("connection_name".into(), AMQPValue::LongString(name.into()));
        client.insert("capabilities".into(), AMQPValue::FieldTable(caps));
        let mut response = Vec::with_capacity(uri.user.len() + uri.password.len() + 2);
        response.push(0);
        response.extend_from_slice(uri.user.as_bytes());
        response.push(0);
        response.extend_from_slice(uri.password.as_bytes());
        c.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: client,
                mechanism: "PLAIN".into(),
                response: LongString::from(response),
                locale: "en_US".into(),
            })),
        )
        .await?;
        let tune = match c.recv_method().await {
            Ok((0, AMQPClass::Connection(connection::AMQPMethod::Tune(t)))) => t,
            Ok((_, m)) => return Err(format!("expected connection.tune, got {}", method_name(&m))),
            Err(e) if e == EOF_MSG => {
                return Err(format!(
                    "{e} during authentication (wrong user or password for {:?}?)",
                    uri.user
                ))
            }
            Err(e) => return Err(e),
        };
        c.frame_max = tune.frame_max;
        c.fb.set_frame_max(tune.frame_max);
        c.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: tune.channel_max,
                frame_max: tune.frame_max,
                heartbeat: 0,
            })),
        )
        .await?;
        c.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: uri.vhost.as_str().into(),
            })),
        )
        .await?;
        match c.recv_method().await? {
            (0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => Ok(c),
            (_, m) => Err(format!(
                "expected connection.open-ok, got {}",
                method_name(&m)
            )),
        }
    }

    /// Sends one method frame.
    pub async fn send(&mut self, ch: u16, m: AMQPClass) -> Result<(), String> {
        self.out.clear();
        frame::encode_method(&mut self.out, ch, m)?;
        write_out(&mut self.wr, &self.out)
            .await
            .map_err(|e| io_err("writing to the server", e))
    }

    /// Receives the next method frame, skipping heartbeats and content. A connection.close
    /// or channel.close from the server is answered and returned as an error.
    pub async fn recv_method(&mut self) -> Result<(u16, AMQPClass), String> {
        loop {
            while let Some((ty, ch, r)) = self.fb.next_frame()? {
                match ty {
                    FRAME_METHOD => {
                        let m = frame::decode_method(&self.fb.buf[r])?;
                        return self.check_close(ch, m).await.map(|m| (ch, m));
                    }
                    FRAME_HEARTBEAT | frame::FRAME_HEADER | frame::FRAME_BODY => {}
                    t => return Err(format!("the server sent a frame of unknown type {t}")),
                }
            }
            match self.fb.fill(&mut self.rd).await {
                Ok(0) => return Err(EOF_MSG.into()),
                Ok(_) => {}
                Err(e) => return Err(io_err("reading from the server", e)),
            }
        }
    }

    /// Turns a server-initiated close into an error (after answering it).
    pub async fn check_close(&mut self, ch: u16, m: AMQPClass) -> Result<AMQPClass, String> {
        let Some(msg) = server_close_message(ch, &m) else {
            return Ok(m);
        };
        let reply = match m {
            AMQPClass::Connection(_) => {
                AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {}))
            }
            _ => AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
        };
        let reply_ch = if matches!(reply, AMQPClass::Connection(_)) {
            0
        } else {
            ch
        };
        let _ = self.send(reply_ch, reply).await;
        Err(msg)
    }

    /// Sends `m` and waits for the reply `want` accepts (skipping anything else, e.g.
    /// connection.blocked).
    pub async fn rpc(
        &mut self,
        ch: u16,
        m: AMQPClass,
        want: fn(&AMQPClass) -> bool,
    ) -> Result<AMQPClass, String> {
        let what = method_name(&m);
        self.send(ch, m).await?;
        let wait = async {
            loop {
                let (rch, r) = self.recv_method().await?;
                if rch == ch && want(&r) {
                    return Ok(r);
                }
            }
        };
        match tokio::time::timeout(RPC_TIMEOUT, wait).await {
            Ok(r) => r,
            Err(_) => Err(format!("no reply to {what} within {RPC_TIMEOUT:?}")),
        }
    }

    /// channel.open.
    pub async fn channel_open(&mut self, ch: u16) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
            |m| matches!(m, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// confirm.select.
    pub async fn confirm_select(&mut self, ch: u16) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
                nowait: false,
            })),
            |m| matches!(m, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// queue.declare; returns the message count. `passive` only checks it exists.
    pub async fn queue_declare(
        &mut self,
        ch: u16,
        name: &str,
        durable: bool,
        passive: bool,
    ) -> Result<u32, String> {
        let r = self
            .rpc(
                ch,
                AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                    queue: name.into(),
                    passive,
                    durable,
                    exclusive: false,
                    auto_delete: false,
                    nowait: false,
                    arguments: FieldTable::default(),
                })),
                |m| matches!(m, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))),
            )
            .await?;
        match r {
            AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => Ok(ok.message_count),
            _ => Ok(0),
        }
    }

    /// queue.delete.
    pub async fn queue_delete(&mut self, ch: u16, name: &str) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Queue(queue::AMQPMethod::Delete(queue::Delete {
                queue: name.into(),
                if_unused: false,
                if_empty: false,
                nowait: false,
            })),
            |m| matches!(m, AMQPClass::Queue(queue::AMQPMethod::DeleteOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// exchange.declare.
    pub async fn exchange_declare(
        &mut self,
        ch: u16,
        name: &str,
        kind: &str,
        durable: bool,
    ) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                exchange: name.into(),
                kind: kind.into(),
                passive: false,
                durable,
                auto_delete: false,
                internal: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
            |m| matches!(m, AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// exchange.delete.
    pub async fn exchange_delete(&mut self, ch: u16, name: &str) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Exchange(exchange::AMQPMethod::Delete(exchange::Delete {
                exchange: name.into(),
                if_unused: false,
                nowait: false,
            })),
            |m| matches!(m, AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// queue.bind.
    pub async fn queue_bind(
        &mut self,
        ch: u16,
        queue_name: &str,
        exchange_name: &str,
        routing_key: &str,
    ) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
                queue: queue_name.into(),
                exchange: exchange_name.into(),
                routing_key: routing_key.into(),
                nowait: false,
                arguments: FieldTable::default(),
            })),
            |m| matches!(m, AMQPClass::Queue(queue::AMQPMethod::BindOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// basic.qos (per consumer).
    pub async fn qos(&mut self, ch: u16, prefetch: u16) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
                prefetch_count: prefetch,
                global: false,
            })),
            |m| matches!(m, AMQPClass::Basic(basic::AMQPMethod::QosOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// basic.consume; deliveries may follow the consume-ok immediately and stay buffered.
    pub async fn consume(
        &mut self,
        ch: u16,
        queue_name: &str,
        tag: &str,
        no_ack: bool,
    ) -> Result<(), String> {
        self.rpc(
            ch,
            AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: queue_name.into(),
                consumer_tag: tag.into(),
                no_local: false,
                no_ack,
                exclusive: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
            |m| matches!(m, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))),
        )
        .await
        .map(|_| ())
    }

    /// Closes the connection cleanly: connection.close, then wait for close-ok (which the
    /// server sends only after handling everything sent before the close), discarding
    /// whatever else arrives. Returns false if the close-ok did not come (in time).
    pub async fn close(mut self) -> bool {
        let close = AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        }));
        if self.send(0, close).await.is_err() {
            return false;
        }
        let wait = async {
            loop {
                match self.fb.next_frame() {
                    Ok(Some((FRAME_METHOD, 0, r))) => {
                        if let Some((10, 51)) = frame::method_ids(&self.fb.buf[r]) {
                            return true;
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => match self.fb.fill(&mut self.rd).await {
                        Ok(0) | Err(_) => return false,
                        Ok(_) => {}
                    },
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(CLOSE_TIMEOUT, wait)
            .await
            .unwrap_or(false)
    }
}
