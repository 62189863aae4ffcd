//! The AMQP 0-9-1 frontend: the listener hands each socket to `serve` (plain TCP) or
//! `serve_tls` (TLS handshake first); both run the AMQP handshake, start the writer task and
//! run the connection's reader loop, the same code over either stream.

pub(crate) mod channel;
pub(crate) mod channel_shared;
pub mod codec;
mod confirms;
pub(crate) mod conn_info;
pub(crate) mod conn_shared;
pub(crate) mod connection;
pub(crate) mod error;
mod exchange_tally;
pub(crate) mod handshake;
mod methods;
mod nesting;
pub(crate) mod outbound;
pub(crate) mod writer;

use crate::broker::Broker;
use bytes::BytesMut;
use codec::FrameReader;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// RabbitMQ's `handshake_timeout`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one plain TCP client connection until it closes.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    // The socket's own halves: no lock between reader and writer on the plain path.
    let (rd, wr) = stream.into_split();
    run(
        rd,
        wr,
        Transport {
            peer,
            local,
            tls: None,
        },
        broker,
    )
    .await;
}

/// Serves one client of the TLS listener: the TLS handshake (bounded by
/// `tls::HANDSHAKE_TIMEOUT`, on this connection's own task, so a slow or hostile client
/// never holds up the accept loop), then the same connection code as plain TCP.
pub async fn serve_tls(stream: TcpStream, broker: Arc<Broker>) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let Some(listener) = broker.tls.amqp.as_ref() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let verifies_peers = listener.verifies_peers();
    // The configuration now: a reload changes it for handshakes that start later.
    let accept = listener.acceptor().accept(stream);
    let tls = match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("TLS handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            tracing::info!("TLS handshake with {peer} timed out");
            return;
        }
    };
    let mut details = crate::tls::peer::TlsDetails::of(tls.get_ref().1);
    if !verifies_peers {
        details.peer = None;
    }
    let (rd, wr) = tokio::io::split(tls);
    let transport = Transport {
        peer,
        local,
        tls: Some(Arc::new(details)),
    };
    run(rd, wr, transport, broker).await;
}

/// Where a connection comes from, and over what.
pub(crate) struct Transport {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The TLS session, for a client of the TLS listener.
    pub tls: Option<Arc<crate::tls::peer::TlsDetails>>,
}

/// The connection over either stream: handshake, writer task, reader loop.
async fn run<R, W>(rd: R, mut wr: W, transport: Transport, broker: Arc<Broker>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let peer = transport.peer;
    let mut reader = FrameReader::new(rd, broker.config.amqp.frame_max);
    // Boxed: the handshake's state is freed once it is done, not kept in the task.
    let opened = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        Box::pin(handshake::run(&mut reader, &mut wr, &broker, &transport)),
    )
    .await;
    let mut opened = match opened {
        Ok(Ok(o)) => o,
        Ok(Err(handshake::Failed::Close(e))) => {
            let mut buf = BytesMut::new();
            let close = amq_protocol::protocol::connection::Close {
                reply_code: e.code,
                reply_text: codec::short(&e.reply_text()),
                class_id: e.class_id,
                method_id: e.method_id,
            };
            let m = amq_protocol::protocol::AMQPClass::Connection(
                amq_protocol::protocol::connection::AMQPMethod::Close(close),
            );
            codec::encode_method(&mut buf, 0, m);
            let _ = wr.write_all(&buf).await;
            let _ = wr.flush().await;
            // Give the client a moment to read the close before the socket goes.
            let _ = tokio::time::timeout(Duration::from_secs(1), reader.next()).await;
            return;
        }
        Ok(Err(handshake::Failed::Silent)) | Err(_) => return,
    };
    let id = broker.next_connection_id();
    tracing::debug!(
        "connection {id} from {peer} opened vhost '{}'",
        opened.vhost.name
    );
    let meta = conn_info::ConnMeta {
        peer,
        local: transport.local,
        tls: transport.tls,
        user: opened.user.name.clone(),
        vhost: opened.vhost.name.clone(),
        mechanism: std::mem::take(&mut opened.mechanism),
        heartbeat: opened.heartbeat,
        channel_max: opened.channel_max,
        client_properties: Arc::new(std::mem::take(&mut opened.client_properties)),
        connected_at: crate::message::now_ms(),
    };
    let shared = conn_shared::ConnShared::new(id, opened.frame_max, opened.capabilities, meta);
    shared.info.received(reader.bytes_read() as usize);
    shared.info.sent(opened.sent);
    broker.clients.register(id, shared.clone());
    let writer = tokio::spawn(writer::run(wr, shared.clone(), opened.heartbeat));
    let mut conn = connection::Connection::new(broker.clone(), shared, opened);
    conn.run(&mut reader).await;
    drop(conn);
    broker.clients.deregister(id);
    let _ = writer.await;
}
