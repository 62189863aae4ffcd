//! A small raw AMQP 0-9-1 client for tests that need to see (or send) exactly what is on
//! the wire: close codes, heartbeats, `connection.blocked`, malformed frames. Frames are
//! built and parsed with amq-protocol (reached through `lapin::protocol`); the frame
//! envelope (type, channel, size, end marker) is written by hand so tests can break it.

use lapin::protocol::{basic, channel, confirm, connection, gen_class, parse_class, AMQPClass};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
pub const FRAME_END: u8 = 0xCE;
/// The 8-byte heartbeat frame.
pub const HEARTBEAT: [u8; 8] = [8, 0, 0, 0, 0, 0, 0, FRAME_END];
/// How long a test waits for something the broker should send promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// A frame as received.
#[derive(Debug, Clone, PartialEq)]
pub enum RawFrame {
    Method(u16, AMQPClass),
    Header {
        channel: u16,
        class_id: u16,
        body_size: u64,
        properties: BasicProperties,
    },
    Body(u16, Vec<u8>),
    Heartbeat(u16),
    /// A frame the client could not decode (kept for the assertion message).
    Undecodable {
        kind: u8,
        channel: u16,
        payload: Vec<u8>,
    },
}

/// What the next read produced.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Frame(RawFrame),
    /// The server closed the socket (or reset it).
    Eof,
    Timeout,
}

/// Encodes a method payload (class id, method id, arguments).
pub fn method_payload(m: &AMQPClass) -> Vec<u8> {
    gen_class(m)(Vec::<u8>::new().into())
        .expect("method encodes")
        .write
}

/// A whole frame with the given type, channel and payload.
pub fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
    out
}

pub fn method_frame(channel: u16, m: &AMQPClass) -> Vec<u8> {
    frame(1, channel, &method_payload(m))
}

pub fn header_frame(channel: u16, body_size: u64, props: &BasicProperties) -> Vec<u8> {
    let raw = basic::gen_properties(props)(Vec::<u8>::new().into())
        .expect("properties encode")
        .write;
    let mut payload = Vec::with_capacity(12 + raw.len());
    payload.extend_from_slice(&60u16.to_be_bytes());
    payload.extend_from_slice(&0u16.to_be_bytes());
    payload.extend_from_slice(&body_size.to_be_bytes());
    payload.extend_from_slice(&raw);
    frame(2, channel, &payload)
}

pub fn body_frame(channel: u16, body: &[u8]) -> Vec<u8> {
    frame(3, channel, body)
}

/// `basic.publish` method frame.
pub fn publish_frame(
    channel: u16,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    immediate: bool,
) -> Vec<u8> {
    method_frame(
        channel,
        &AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory,
            immediate,
        })),
    )
}

/// publish + content header + one body frame.
pub fn message_frames(channel: u16, exchange: &str, routing_key: &str, body: &[u8]) -> Vec<u8> {
    let mut out = publish_frame(channel, exchange, routing_key, false, false);
    out.extend(header_frame(
        channel,
        body.len() as u64,
        &BasicProperties::default(),
    ));
    if !body.is_empty() {
        out.extend(body_frame(channel, body));
    }
    out
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Mechanism {
    Plain,
    AmqPlain,
    /// Any other mechanism name, sent with a PLAIN-style response.
    Other(&'static str),
}

/// Handshake parameters. `heartbeat`/`frame_max`/`channel_max` of `None` echo the
/// server's `connection.tune`.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
    pub vhost: String,
    pub mechanism: Mechanism,
    /// Client capabilities advertised as `true`.
    pub capabilities: Vec<&'static str>,
    pub heartbeat: Option<u16>,
    pub frame_max: Option<u32>,
    pub channel_max: Option<u16>,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            user: "guest".into(),
            password: "guest".into(),
            vhost: "/".into(),
            mechanism: Mechanism::Plain,
            capabilities: Vec::new(),
            heartbeat: None,
            frame_max: None,
            channel_max: None,
        }
    }
}

impl Login {
    fn response(&self) -> Vec<u8> {
        match self.mechanism {
            Mechanism::Plain | Mechanism::Other(_) => {
                format!("\0{}\0{}", self.user, self.password).into_bytes()
            }
            Mechanism::AmqPlain => {
                // A field table's contents without its length prefix, as RabbitMQ expects.
                let mut out = Vec::new();
                for (k, v) in [("LOGIN", &self.user), ("PASSWORD", &self.password)] {
                    out.push(k.len() as u8);
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'S');
                    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                    out.extend_from_slice(v.as_bytes());
                }
                out
            }
        }
    }

    fn mechanism_name(&self) -> &'static str {
        match self.mechanism {
            Mechanism::Plain => "PLAIN",
            Mechanism::AmqPlain => "AMQPLAIN",
            Mechanism::Other(name) => name,
        }
    }
}

/// Why a handshake did not reach `open-ok`: the server's `connection.close` (`None` if it
/// just closed the socket), and the step that failed.
#[derive(Debug)]
pub struct HandshakeFailure {
    pub step: &'static str,
    pub close: Option<connection::Close>,
}

pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server's `connection.tune`, once the handshake got that far.
    pub tune: Option<connection::Tune>,
}

impl RawClient {
    /// A bare TCP connection; nothing sent yet.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connects");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: Vec::new(),
            tune: None,
        }
    }

    /// Connects and completes the handshake as guest on `/`.
    pub async fn open(addr: SocketAddr) -> RawClient {
        Self::open_with(addr, &Login::default()).await
    }

    /// Connects and completes the handshake; panics if it fails.
    pub async fn open_with(addr: SocketAddr, login: &Login) -> RawClient {
        match Self::try_open(addr, login).await {
            Ok(c) => c,
            Err(e) => panic!("handshake failed: {e:?}"),
        }
    }

    /// Connects and runs the handshake, reporting how it failed.
    pub async fn try_open(addr: SocketAddr, login: &Login) -> Result<RawClient, HandshakeFailure> {
        let mut c = Self::connect(addr).await;
        c.handshake(login).await?;
        Ok(c)
    }

    /// Runs the handshake on a fresh socket.
    pub async fn handshake(&mut self, login: &Login) -> Result<(), HandshakeFailure> {
        self.send(PROTOCOL_HEADER).await.expect("send header");
        let start = self.handshake_step("start").await?;
        assert!(
            matches!(start, connection::AMQPMethod::Start(_)),
            "expected connection.start, got {start:?}"
        );
        let mut caps = FieldTable::default();
        for c in &login.capabilities {
            caps.insert((*c).into(), AMQPValue::Boolean(true));
        }
        let mut props = FieldTable::default();
        props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
        props.insert(
            "product".into(),
            AMQPValue::LongString(LongString::from("warren-tests raw client")),
        );
        let start_ok = connection::StartOk {
            client_properties: props,
            mechanism: login.mechanism_name().into(),
            response: LongString::from(login.response()),
            locale: "en_US".into(),
        };
        self.send_method(0, conn(connection::AMQPMethod::StartOk(start_ok)))
            .await;
        let tune = match self.handshake_step("tune").await? {
            connection::AMQPMethod::Tune(t) => t,
            other => panic!("expected connection.tune, got {other:?}"),
        };
        let tune_ok = connection::TuneOk {
            channel_max: login.channel_max.unwrap_or(tune.channel_max),
            frame_max: login.frame_max.unwrap_or(tune.frame_max),
            heartbeat: login.heartbeat.unwrap_or(tune.heartbeat),
        };
        self.tune = Some(tune);
        self.send_method(0, conn(connection::AMQPMethod::TuneOk(tune_ok)))
            .await;
        let open = connection::Open {
            virtual_host: login.vhost.as_str().into(),
        };
        self.send_method(0, conn(connection::AMQPMethod::Open(open)))
            .await;
        match self.handshake_step("open").await? {
            connection::AMQPMethod::OpenOk(_) => Ok(()),
            other => panic!("expected connection.open-ok, got {other:?}"),
        }
    }

    /// The next connection method during the handshake; a close or EOF is a failure.
    async fn handshake_step(
        &mut self,
        step: &'static str,
    ) -> Result<connection::AMQPMethod, HandshakeFailure> {
        loop {
            match self.next(WAIT).await {
                Next::Frame(RawFrame::Heartbeat(_)) => continue,
                Next::Frame(RawFrame::Method(0, AMQPClass::Connection(m))) => {
                    if let connection::AMQPMethod::Close(c) = m {
                        let _ = self.send_close_ok().await;
                        return Err(HandshakeFailure {
                            step,
                            close: Some(c),
                        });
                    }
                    return Ok(m);
                }
                Next::Frame(f) => panic!("unexpected frame during the handshake ({step}): {f:?}"),
                Next::Eof => return Err(HandshakeFailure { step, close: None }),
                Next::Timeout => panic!("handshake step {step} timed out"),
            }
        }
    }

    /// Writes raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes one method frame; panics if the socket is gone.
    pub async fn send_method(&mut self, channel: u16, m: AMQPClass) {
        self.send(&method_frame(channel, &m))
            .await
            .expect("send method");
    }

    pub async fn send_close_ok(&mut self) -> std::io::Result<()> {
        self.send(&method_frame(
            0,
            &conn(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
        ))
        .await
    }

    /// Reads the next frame, waiting at most `limit`.
    pub async fn next(&mut self, limit: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(f) = self.try_parse() {
                return Next::Frame(f);
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Next::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Next::Eof,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads raw bytes until EOF (at most `limit`); `None` on timeout.
    pub async fn read_to_eof(&mut self, limit: Duration) -> Option<Vec<u8>> {
        let mut out = std::mem::take(&mut self.buf);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
                Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn try_parse(&mut self) -> Option<RawFrame> {
        if self.buf.len() < 7 {
            return None;
        }
        let kind = self.buf[0];
        let channel = u16::from_be_bytes([self.buf[1], self.buf[2]]);
        let size =
            u32::from_be_bytes([self.buf[3], self.buf[4], self.buf[5], self.buf[6]]) as usize;
        if self.buf.len() < 8 + size {
            return None;
        }
        let raw: Vec<u8> = self.buf.drain(..8 + size).collect();
        assert_eq!(
            raw[7 + size],
            FRAME_END,
            "server sent a bad frame end marker"
        );
        let payload = &raw[7..7 + size];
        let undecodable = || RawFrame::Undecodable {
            kind,
            channel,
            payload: payload.to_vec(),
        };
        Some(match kind {
            1 => match parse_class(payload) {
                Ok((&[], m)) => RawFrame::Method(channel, m),
                _ => undecodable(),
            },
            2 if payload.len() >= 14 => {
                let class_id = u16::from_be_bytes([payload[0], payload[1]]);
                let body_size = u64::from_be_bytes(payload[4..12].try_into().unwrap());
                match basic::parse_properties(&payload[12..]) {
                    Ok((&[], properties)) => RawFrame::Header {
                        channel,
                        class_id,
                        body_size,
                        properties,
                    },
                    _ => undecodable(),
                }
            }
            3 => RawFrame::Body(channel, payload.to_vec()),
            8 => RawFrame::Heartbeat(channel),
            _ => undecodable(),
        })
    }

    /// The next frame that is not a heartbeat; panics on EOF or after `WAIT`.
    pub async fn recv(&mut self) -> RawFrame {
        loop {
            match self.next(WAIT).await {
                Next::Frame(RawFrame::Heartbeat(_)) => continue,
                Next::Frame(f) => return f,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// The next non-heartbeat frame, which must be a method.
    pub async fn recv_method(&mut self) -> (u16, AMQPClass) {
        match self.recv().await {
            RawFrame::Method(ch, m) => (ch, m),
            other => panic!("expected a method frame, got {other:?}"),
        }
    }

    /// Waits for `connection.close` (answering close-ok) or EOF, skipping other frames.
    /// `Some(close)` if the server sent one, `None` if it just dropped the socket. Panics
    /// if neither happens within `limit`.
    pub async fn close_or_eof(&mut self, limit: Duration) -> Option<connection::Close> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Frame(RawFrame::Method(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::Close(c)),
                )) => {
                    let _ = self.send_close_ok().await;
                    return Some(c);
                }
                Next::Frame(_) => continue,
                Next::Eof => return None,
                Next::Timeout => panic!("neither connection.close nor EOF within {limit:?}"),
            }
        }
    }

    /// Waits for `connection.close` and returns its reply code; panics on EOF or timeout.
    pub async fn expect_connection_close(&mut self) -> u16 {
        match self.close_or_eof(WAIT).await {
            Some(c) => c.reply_code,
            None => panic!("the server closed the socket without connection.close"),
        }
    }

    /// After the server's `connection.close` (and our close-ok), the socket must close.
    pub async fn expect_eof(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Eof => return,
                Next::Frame(_) => continue,
                Next::Timeout => panic!("socket still open after {limit:?}"),
            }
        }
    }

    pub async fn open_channel(&mut self, ch: u16) {
        self.send_method(
            ch,
            AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
        )
        .await;
        match self.recv_method().await {
            (c, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))) if c == ch => {}
            other => panic!("expected channel.open-ok on {ch}, got {other:?}"),
        }
    }

    pub async fn confirm_select(&mut self, ch: u16) {
        let m = confirm::AMQPMethod::Select(confirm::Select { nowait: false });
        self.send_method(ch, AMQPClass::Confirm(m)).await;
        match self.recv_method().await {
            (c, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))) if c == ch => {}
            other => panic!("expected confirm.select-ok on {ch}, got {other:?}"),
        }
    }

    /// Declares a (non-durable) queue and waits for declare-ok.
    pub async fn queue_declare(&mut self, ch: u16, name: &str) {
        let m = lapin::protocol::queue::AMQPMethod::Declare(lapin::protocol::queue::Declare {
            queue: name.into(),
            ..Default::default()
        });
        self.send_method(ch, AMQPClass::Queue(m)).await;
        match self.recv_method().await {
            (c, AMQPClass::Queue(lapin::protocol::queue::AMQPMethod::DeclareOk(_))) if c == ch => {}
            other => panic!("expected queue.declare-ok on {ch}, got {other:?}"),
        }
    }

    /// Publishes a message (method, header, one body frame).
    pub async fn publish(&mut self, ch: u16, exchange: &str, routing_key: &str, body: &[u8]) {
        self.send(&message_frames(ch, exchange, routing_key, body))
            .await
            .expect("publish");
    }
}

/// Wraps a connection-class method.
pub fn conn(m: connection::AMQPMethod) -> AMQPClass {
    AMQPClass::Connection(m)
}
