//! The AMQP 0-9-1 frontend: the listener hands each socket to `serve`, which runs the
//! handshake, starts the writer task and runs the connection's reader loop.

pub(crate) mod channel;
pub(crate) mod channel_shared;
pub mod codec;
mod confirms;
pub(crate) mod conn_info;
pub(crate) mod conn_shared;
pub(crate) mod connection;
pub(crate) mod error;
pub(crate) mod handshake;
mod methods;
mod nesting;
pub(crate) mod outbound;
pub(crate) mod writer;

use crate::broker::Broker;
use bytes::BytesMut;
use codec::FrameReader;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// RabbitMQ's `handshake_timeout`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one client connection until it closes.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, broker.config.amqp.frame_max);
    // Boxed: the handshake's state is freed once it is done, not kept in the task.
    let opened = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        Box::pin(handshake::run(&mut reader, &mut wr, &broker, peer)),
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
        local,
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
