//! A small raw-frame AMQP 0-9-1 client.
//!
//! It exists for what a well-behaved client library cannot do: send malformed
//! or out-of-order frames, open a channel twice, omit client capabilities,
//! negotiate odd tune values, or look at the exact frames (and their order)
//! that the broker sends back. Frames are encoded and decoded with
//! `amq-protocol`; everything else is done by hand.

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, channel, connection, AMQPClass, BasicProperties};
use amq_protocol::types::LongString;
use amq_protocol::uri::AMQPUri;
use std::time::Duration;

mod frame;
mod handshake;
pub use frame::*;
pub use handshake::Handshake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A received delivery/return/get-ok with its content.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The method that started the content (deliver, get-ok or return).
    pub method: AMQPClass,
    /// Channel it arrived on.
    pub channel: u16,
    /// Decoded properties.
    pub properties: BasicProperties,
    /// The raw content-header payload (class, weight, size, flags, properties).
    pub header_payload: Vec<u8>,
    /// The body, reassembled.
    pub body: Vec<u8>,
    /// How many body frames carried it.
    pub body_frames: usize,
}

/// A raw AMQP connection.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    /// Handshake parameters in use.
    pub handshake: Handshake,
    /// Negotiated frame-max (after the handshake), or the server's proposal.
    pub frame_max: u32,
    /// Negotiated channel-max.
    pub channel_max: u16,
    /// Negotiated heartbeat.
    pub heartbeat: u16,
    /// connection.start as received.
    pub start: Option<connection::Start>,
    /// connection.tune as received.
    pub tune: Option<connection::Tune>,
    /// Frames read while looking for something else and kept for later.
    pub pending: std::collections::VecDeque<RawFrame>,
    /// Default read timeout.
    pub timeout: Duration,
}

impl RawConn {
    /// Open only the TCP connection.
    pub async fn connect(url: &str) -> RawResult<Self> {
        let uri: AMQPUri = url.parse().map_err(|e| format!("bad url {url}: {e}"))?;
        let addr = format!("{}:{}", uri.authority.host, uri.authority.port);
        let stream = tokio::time::timeout(DEFAULT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| format!("timed out connecting to {addr}"))?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(RawConn {
            stream,
            rbuf: Vec::new(),
            handshake: Handshake::from_url(url)?,
            frame_max: 4096,
            channel_max: 0,
            heartbeat: 0,
            start: None,
            tune: None,
            pending: Default::default(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Connect and complete the handshake with default parameters.
    pub async fn open(url: &str) -> RawResult<Self> {
        let mut c = Self::connect(url).await?;
        let hs = c.handshake.clone();
        c.do_handshake(&hs).await?;
        Ok(c)
    }

    /// Connect and complete the handshake with custom parameters.
    pub async fn open_with(url: &str, f: impl FnOnce(&mut Handshake)) -> RawResult<Self> {
        let mut c = Self::connect(url).await?;
        let mut hs = c.handshake.clone();
        f(&mut hs);
        c.do_handshake(&hs).await?;
        Ok(c)
    }

    /// Send the protocol header, then start-ok, tune-ok, open; wait for open-ok.
    pub async fn do_handshake(&mut self, hs: &Handshake) -> RawResult<()> {
        self.handshake = hs.clone();
        self.send_bytes(PROTOCOL_HEADER).await?;
        self.recv_start().await?;
        self.send_start_ok(hs).await?;
        let tune = self.recv_tune().await?;
        let channel_max = hs.channel_max.unwrap_or(tune.channel_max);
        let frame_max = hs.frame_max.unwrap_or(tune.frame_max);
        let heartbeat = hs.heartbeat.unwrap_or(0);
        self.send_tune_ok(channel_max, frame_max, heartbeat).await?;
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: hs.vhost.as_str().into(),
            })),
        )
        .await?;
        let f = self.recv_method_frame().await?;
        match f.method() {
            Some(AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => Ok(()),
            _ => Err(format!("expected connection.open-ok, got {}", f.describe())),
        }
    }

    /// Wait for connection.start.
    pub async fn recv_start(&mut self) -> RawResult<connection::Start> {
        let f = self.recv_method_frame().await?;
        match f.method() {
            Some(AMQPClass::Connection(connection::AMQPMethod::Start(s))) => {
                self.start = Some(s.clone());
                Ok(s)
            }
            _ => Err(format!("expected connection.start, got {}", f.describe())),
        }
    }

    /// Send connection.start-ok built from the handshake parameters.
    pub async fn send_start_ok(&mut self, hs: &Handshake) -> RawResult<()> {
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: hs.properties(),
                mechanism: hs.mechanism.as_str().into(),
                response: LongString::from(hs.sasl_response()),
                locale: "en_US".into(),
            })),
        )
        .await
    }

    /// Wait for connection.tune.
    pub async fn recv_tune(&mut self) -> RawResult<connection::Tune> {
        let f = self.recv_method_frame().await?;
        match f.method() {
            Some(AMQPClass::Connection(connection::AMQPMethod::Tune(t))) => {
                self.tune = Some(t.clone());
                self.frame_max = t.frame_max;
                self.channel_max = t.channel_max;
                Ok(t)
            }
            _ => Err(format!("expected connection.tune, got {}", f.describe())),
        }
    }

    /// Send connection.tune-ok and remember the values.
    pub async fn send_tune_ok(
        &mut self,
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
    ) -> RawResult<()> {
        self.channel_max = channel_max;
        self.frame_max = frame_max;
        self.heartbeat = heartbeat;
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max,
                frame_max,
                heartbeat,
            })),
        )
        .await
    }

    /// Write raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> RawResult<()> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    /// Write one amq-protocol frame.
    pub async fn send_frame(&mut self, frame: &AMQPFrame) -> RawResult<()> {
        let bytes = encode_frame(frame)?;
        self.send_bytes(&bytes).await
    }

    /// Write one raw frame.
    pub async fn send_raw_frame(&mut self, frame: &RawFrame) -> RawResult<()> {
        self.send_bytes(&frame.to_bytes()).await
    }

    /// Write one method frame.
    pub async fn send_method(&mut self, channel: u16, method: AMQPClass) -> RawResult<()> {
        self.send_frame(&AMQPFrame::Method(channel, method)).await
    }

    /// Send a heartbeat frame.
    pub async fn send_heartbeat(&mut self) -> RawResult<()> {
        self.send_bytes(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END])
            .await
    }

    /// Send basic.publish, a content header and as many body frames as frame-max needs.
    pub async fn publish(
        &mut self,
        channel: u16,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        properties: BasicProperties,
        body: &[u8],
    ) -> RawResult<()> {
        let mut bytes = encode_frame(&AMQPFrame::Method(
            channel,
            AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: exchange.into(),
                routing_key: routing_key.into(),
                mandatory,
                immediate: false,
            })),
        ))?;
        bytes.extend(encode_frame(&AMQPFrame::Header(
            channel,
            AMQPContentHeader {
                class_id: 60,
                body_size: body.len() as u64,
                properties,
            },
        ))?);
        let chunk = (self.frame_max.max(4096) as usize) - 8;
        for part in body.chunks(chunk) {
            bytes.extend(
                RawFrame {
                    frame_type: FRAME_BODY,
                    channel,
                    payload: part.to_vec(),
                }
                .to_bytes(),
            );
        }
        self.send_bytes(&bytes).await
    }

    /// Read one frame; `Ok(None)` means the server closed the socket.
    pub async fn recv_frame_timeout(&mut self, timeout: Duration) -> RawResult<Option<RawFrame>> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(Some(f));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.rbuf.len() >= 7 {
                let size =
                    u32::from_be_bytes([self.rbuf[3], self.rbuf[4], self.rbuf[5], self.rbuf[6]])
                        as usize;
                if self.rbuf.len() >= size + 8 {
                    let frame = RawFrame {
                        frame_type: self.rbuf[0],
                        channel: u16::from_be_bytes([self.rbuf[1], self.rbuf[2]]),
                        payload: self.rbuf[7..7 + size].to_vec(),
                    };
                    let end = self.rbuf[7 + size];
                    self.rbuf.drain(..size + 8);
                    if end != FRAME_END {
                        return Err(format!("server sent a frame with frame-end {end:#x}"));
                    }
                    return Ok(Some(frame));
                }
            }
            let mut buf = [0u8; 65536];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    return Err(format!(
                        "timed out after {}ms waiting for a frame",
                        timeout.as_millis()
                    ))
                }
                Ok(Err(e)) => {
                    // A reset after the server closed is as good as EOF.
                    if self.rbuf.is_empty() {
                        return Ok(None);
                    }
                    return Err(format!("read failed: {e}"));
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(format!(
                    "connection closed in the middle of a frame ({} bytes buffered)",
                    self.rbuf.len()
                ));
            }
            self.rbuf.extend_from_slice(&buf[..n]);
        }
    }

    /// Close the writing side (the server sees EOF) and keep reading.
    pub async fn shutdown_write(&mut self) -> RawResult<()> {
        self.stream
            .shutdown()
            .await
            .map_err(|e| format!("shutdown failed: {e}"))
    }

    /// Read and discard until the server closes the socket (EOF, or a reset: RabbitMQ closes
    /// with linger 0); `Err` if it is still open after `timeout`.
    pub async fn read_until_closed(&mut self, timeout: Duration) -> RawResult<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = [0u8; 65536];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return Err(format!("socket still open after {}ms", timeout.as_millis())),
                Ok(Err(_)) | Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Read one frame with the default timeout.
    pub async fn recv_frame(&mut self) -> RawResult<Option<RawFrame>> {
        self.recv_frame_timeout(self.timeout).await
    }

    /// Read raw bytes until `n` bytes arrived, EOF or timeout (no frame parsing).
    pub async fn recv_raw_bytes(&mut self, n: usize, timeout: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.rbuf.len() < n {
            let mut buf = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(k)) if k > 0 => self.rbuf.extend_from_slice(&buf[..k]),
                _ => break,
            }
        }
        std::mem::take(&mut self.rbuf)
    }

    /// Read the next method frame, skipping heartbeats. EOF is an error.
    pub async fn recv_method_frame(&mut self) -> RawResult<RawFrame> {
        loop {
            match self.recv_frame().await? {
                None => return Err("server closed the connection".into()),
                Some(f) if f.frame_type == FRAME_HEARTBEAT => continue,
                Some(f) => return Ok(f),
            }
        }
    }

    /// Next method (skipping heartbeats); fails on EOF or a non-method frame.
    pub async fn recv_method(&mut self) -> RawResult<(u16, AMQPClass)> {
        let f = self.recv_method_frame().await?;
        match f.method() {
            Some(m) => Ok((f.channel, m)),
            None => Err(format!("expected a method frame, got {}", f.describe())),
        }
    }

    /// Send a method and wait for the named reply on the same channel.
    pub async fn rpc(&mut self, channel: u16, method: AMQPClass) -> RawResult<AMQPClass> {
        let expected_class = method.get_amqp_class_id();
        let expected_method = match (expected_class, method.get_amqp_method_id()) {
            // RabbitMQ's exchange.unbind (40) is answered by unbind-ok (51).
            (40, 40) => 51,
            (_, m) => m + 1,
        };
        self.send_method(channel, method).await?;
        self.expect_method(channel, expected_class, expected_method)
            .await
    }

    /// Wait for a given method on a channel, skipping heartbeats. Any other
    /// method frame is an error (with a description of what came instead).
    pub async fn expect_method(
        &mut self,
        channel: u16,
        class_id: u16,
        method_id: u16,
    ) -> RawResult<AMQPClass> {
        let f = self.recv_method_frame().await?;
        match (f.method_ids(), f.method()) {
            (Some((c, m)), Some(method))
                if c == class_id && m == method_id && f.channel == channel =>
            {
                Ok(method)
            }
            _ => Err(format!(
                "expected {} on channel {channel}, got {}",
                method_name(class_id, method_id),
                f.describe()
            )),
        }
    }

    /// Open a channel (channel.open / open-ok).
    pub async fn open_channel(&mut self, channel: u16) -> RawResult<()> {
        self.rpc(
            channel,
            AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
        )
        .await
        .map(|_| ())
    }

    /// Wait for channel.close on `channel`, answer close-ok, and return it.
    /// Deliveries and other frames on other channels are skipped.
    pub async fn expect_channel_close(&mut self, ch: u16) -> RawResult<channel::Close> {
        loop {
            let f = match self.recv_frame().await? {
                None => {
                    return Err(format!(
                        "expected channel.close on channel {ch}, but the server closed the socket"
                    ))
                }
                Some(f) => f,
            };
            if f.frame_type != FRAME_METHOD {
                continue;
            }
            match f.method() {
                Some(AMQPClass::Channel(channel::AMQPMethod::Close(c))) if f.channel == ch => {
                    self.send_method(
                        ch,
                        AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
                    )
                    .await?;
                    return Ok(c);
                }
                Some(AMQPClass::Connection(connection::AMQPMethod::Close(_))) => {
                    return Err(format!(
                        "expected channel.close on channel {ch}, got {}",
                        f.describe()
                    ))
                }
                Some(AMQPClass::Channel(channel::AMQPMethod::Close(_))) => {
                    return Err(format!(
                        "expected channel.close on channel {ch}, got {}",
                        f.describe()
                    ))
                }
                _ => continue,
            }
        }
    }

    /// Wait for connection.close, answer close-ok, wait for the socket to close.
    pub async fn expect_connection_close(&mut self) -> RawResult<connection::Close> {
        loop {
            let f =
                match self.recv_frame().await? {
                    None => return Err(
                        "expected connection.close, but the server closed the socket without it"
                            .into(),
                    ),
                    Some(f) => f,
                };
            if f.frame_type != FRAME_METHOD {
                continue;
            }
            match f.method() {
                Some(AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
                    let _ = self
                        .send_method(
                            0,
                            AMQPClass::Connection(connection::AMQPMethod::CloseOk(
                                connection::CloseOk {},
                            )),
                        )
                        .await;
                    // The socket should close now; don't insist.
                    let _ = self.recv_frame_timeout(Duration::from_secs(2)).await;
                    return Ok(c);
                }
                Some(AMQPClass::Channel(channel::AMQPMethod::Close(_))) => {
                    return Err(format!("expected connection.close, got {}", f.describe()))
                }
                _ => continue,
            }
        }
    }

    /// Wait until the server closes the socket; frames before that are returned.
    pub async fn expect_eof(&mut self, timeout: Duration) -> RawResult<Vec<RawFrame>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_frame_timeout(left).await {
                Ok(None) => return Ok(seen),
                Ok(Some(f)) => seen.push(f),
                Err(e) => {
                    return Err(format!(
                        "expected the server to close the socket: {e}; frames seen: [{}]",
                        seen.iter()
                            .map(|f| f.describe())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        }
    }

    /// Read the content (header + bodies) following a deliver/get-ok/return.
    pub async fn recv_content(&mut self, method: AMQPClass, channel: u16) -> RawResult<RawMessage> {
        let h = match self.recv_frame().await? {
            Some(f) if f.frame_type == FRAME_HEADER && f.channel == channel => f,
            Some(f) => return Err(format!("expected a content header, got {}", f.describe())),
            None => return Err("server closed the socket before the content header".into()),
        };
        let (size, properties) = match h.decode()? {
            AMQPFrame::Header(_, hdr) => (hdr.body_size, hdr.properties),
            _ => return Err("content header did not decode".into()),
        };
        let mut body = Vec::new();
        let mut body_frames = 0;
        while (body.len() as u64) < size {
            match self.recv_frame().await? {
                Some(f) if f.frame_type == FRAME_BODY && f.channel == channel => {
                    body_frames += 1;
                    body.extend_from_slice(&f.payload);
                }
                Some(f) if f.frame_type == FRAME_HEARTBEAT => {}
                Some(f) => return Err(format!("expected a content body, got {}", f.describe())),
                None => return Err("server closed the socket in the middle of content".into()),
            }
        }
        Ok(RawMessage {
            method,
            channel,
            properties,
            header_payload: h.payload,
            body,
            body_frames,
        })
    }

    /// Wait for the next deliver/get-ok/return on `channel` and read its
    /// content. Any other method is an error, so callers see unexpected traffic.
    pub async fn recv_message(&mut self, channel: u16) -> RawResult<RawMessage> {
        let (ch, m) = self.recv_method().await?;
        let ok = matches!(
            m,
            AMQPClass::Basic(basic::AMQPMethod::Deliver(_))
                | AMQPClass::Basic(basic::AMQPMethod::GetOk(_))
                | AMQPClass::Basic(basic::AMQPMethod::Return(_))
        );
        if !ok || ch != channel {
            return Err(format!(
                "expected a message on channel {channel}, got {} on channel {ch}",
                describe_method(&m)
            ));
        }
        self.recv_content(m, ch).await
    }

    /// Close the connection politely (connection.close 200 / close-ok).
    pub async fn close(&mut self) -> RawResult<()> {
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: 200,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            })),
        )
        .await?;
        loop {
            match self.recv_frame().await? {
                None => return Err("socket closed before connection.close-ok".into()),
                Some(f) => {
                    if let Some(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) =
                        f.method()
                    {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Check the connection still answers: open a fresh channel, declare nothing,
    /// close it again.
    pub async fn check_alive(&mut self, spare_channel: u16) -> RawResult<()> {
        self.open_channel(spare_channel)
            .await
            .map_err(|e| format!("connection no longer usable: {e}"))?;
        self.rpc(
            spare_channel,
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: 200,
                reply_text: "ok".into(),
                class_id: 0,
                method_id: 0,
            })),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("connection no longer usable: {e}"))
    }
}
