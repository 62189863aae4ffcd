//! The connection handshake: protocol header, start/start-ok (PLAIN, AMQPLAIN, and EXTERNAL
//! on TLS connections with a verified client certificate), tune/tune-ok, open/open-ok with
//! the vhost access check and the node's, vhost's and user's connection limits. Runs before
//! the writer task exists, writing straight to the socket.

use super::codec::{self, Frame, FrameReader, ReadError, PROTOCOL_HEADER};
use super::conn_shared::ClientCapabilities;
use super::error::AmqpError;
use crate::auth::{permissions::Permission, sasl, User, UserLimits};
use crate::broker::clients::{Admission, Refused};
use crate::broker::{Broker, Vhost};
use amq_protocol::protocol::{connection, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// What a successful handshake settled.
pub(crate) struct Opened {
    pub user: Arc<User>,
    pub vhost: Arc<Vhost>,
    pub permission: Arc<Permission>,
    pub capabilities: ClientCapabilities,
    pub frame_max: u32,
    pub channel_max: u16,
    pub heartbeat: u16,
    pub client_properties: amq_protocol::types::FieldTable,
    pub mechanism: String,
    /// Bytes the handshake wrote.
    pub sent: usize,
    /// The connection's place under its vhost's and user's limits.
    pub admission: Admission,
}

/// Why the handshake ended without an open connection.
pub(crate) enum Failed {
    /// Nothing more to say: close the socket.
    Silent,
    /// Send this `connection.close` first.
    Close(AmqpError),
}

impl From<ReadError> for Failed {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(_) => Failed::Silent,
            ReadError::Protocol(e) => Failed::Close(e),
        }
    }
}

pub(crate) async fn run<R, W>(
    rd: &mut FrameReader<R>,
    wr: &mut W,
    broker: &Broker,
    transport: &super::Transport,
) -> Result<Opened, Failed>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let header = rd
        .read_protocol_header()
        .await
        .map_err(|_| Failed::Silent)?;
    if &header != PROTOCOL_HEADER {
        let _ = wr.write_all(PROTOCOL_HEADER).await;
        let _ = wr.flush().await;
        return Err(Failed::Silent);
    }
    let peer = transport.peer;
    let external = peer_cert(transport).is_some();
    let mut sent = send(wr, start_method(&broker.config.node_name, external)).await?;
    let start_ok = match expect(rd).await? {
        connection::AMQPMethod::StartOk(s) => s,
        _ => {
            return Err(Failed::Close(AmqpError::command_invalid(
                "expected connection.start-ok",
            )))
        }
    };
    let capabilities = client_capabilities(&start_ok.client_properties);
    let user = match authenticate(broker, &start_ok, transport) {
        Ok(u) => u,
        Err(refusal) => {
            // The client is told only to see the log: the reason goes there.
            tracing::warn!("login refused from {peer}: {}", refusal.reason);
            return Err(match refusal.close {
                Some(e) if capabilities.authentication_failure_close => Failed::Close(e),
                _ => Failed::Silent,
            });
        }
    };
    let cfg = &broker.config.amqp;
    sent += send(
        wr,
        connection::AMQPMethod::Tune(connection::Tune {
            channel_max: cfg.channel_max,
            frame_max: cfg.frame_max,
            heartbeat: cfg.heartbeat,
        }),
    )
    .await?;
    let tune_ok = match expect(rd).await? {
        connection::AMQPMethod::TuneOk(t) => t,
        _ => {
            return Err(Failed::Close(AmqpError::command_invalid(
                "expected connection.tune-ok",
            )))
        }
    };
    let (frame_max, channel_max) = negotiate(&tune_ok, cfg.frame_max, cfg.channel_max)?;
    rd.set_frame_max(frame_max);
    let open = match expect(rd).await? {
        connection::AMQPMethod::Open(o) => o,
        _ => {
            return Err(Failed::Close(AmqpError::command_invalid(
                "expected connection.open",
            )))
        }
    };
    let (vhost, permission) = open_vhost(broker, &user, open.virtual_host.as_str())?;
    let admission = admit(broker, &user, &vhost)?;
    sent += send(wr, connection::AMQPMethod::OpenOk(connection::OpenOk {})).await?;
    Ok(Opened {
        user,
        vhost,
        permission,
        capabilities,
        frame_max,
        channel_max,
        heartbeat: tune_ok.heartbeat,
        client_properties: start_ok.client_properties,
        mechanism: start_ok.mechanism.to_string(),
        sent,
        admission,
    })
}

/// Writes one method; returns the bytes written.
async fn send<W: AsyncWrite + Unpin>(
    wr: &mut W,
    m: connection::AMQPMethod,
) -> Result<usize, Failed> {
    let mut buf = BytesMut::new();
    codec::encode_method(&mut buf, 0, AMQPClass::Connection(m));
    wr.write_all(&buf).await.map_err(|_| Failed::Silent)?;
    wr.flush().await.map_err(|_| Failed::Silent)?;
    Ok(buf.len())
}

/// Reads the next method on channel 0, skipping heartbeats.
async fn expect<R: AsyncRead + Unpin>(
    rd: &mut FrameReader<R>,
) -> Result<connection::AMQPMethod, Failed> {
    loop {
        match rd.next().await? {
            Frame::Heartbeat(_) => continue,
            Frame::Method(0, m) => match *m {
                AMQPClass::Connection(c) => return Ok(c),
                _ => {
                    return Err(Failed::Close(AmqpError::command_invalid(
                        "unexpected method",
                    )))
                }
            },
            _ => {
                return Err(Failed::Close(AmqpError::unexpected_frame(
                    "unexpected frame during the handshake",
                )))
            }
        }
    }
}

/// Why a login failed: the reason for the log, and the close for clients that asked to be
/// told (none for an unknown mechanism or a malformed response: RabbitMQ drops the socket).
struct Refusal {
    reason: String,
    close: Option<AmqpError>,
}

/// The verified client certificate of a TLS connection, if any.
fn peer_cert(transport: &super::Transport) -> Option<&crate::tls::peer::PeerCert> {
    transport.tls.as_ref()?.peer.as_ref()
}

fn authenticate(
    broker: &Broker,
    start_ok: &connection::StartOk,
    transport: &super::Transport,
) -> Result<Arc<User>, Refusal> {
    let peer = transport.peer;
    let mech = start_ok.mechanism.as_str();
    let silent = |reason: String| Refusal {
        reason,
        close: None,
    };
    let refused = |reason: String| {
        Refusal {
        reason: format!("{mech} login refused: {reason}"),
        close: Some(AmqpError::access_refused(format!(
            "Login was refused using authentication mechanism {mech}. For details see the broker logfile."
        ))),
    }
    };
    let creds = match mech {
        "PLAIN" => sasl::parse_plain(start_ok.response.as_bytes()),
        "AMQPLAIN" => sasl::parse_amqplain(start_ok.response.as_bytes()),
        "EXTERNAL" => {
            let name = external_name(broker, transport).map_err(|r| refused(r.to_string()))?;
            return login(broker, &name, None, peer).map_err(refused);
        }
        _ => return Err(silent(format!("unsupported mechanism '{mech}'"))),
    };
    let (name, password) = match creds {
        Ok(c) => c,
        // Non-UTF-8 credentials cannot name a user: a refused login, as in RabbitMQ.
        Err(e @ sasl::SaslError::InvalidUtf8) => return Err(refused(e.to_string())),
        Err(e) => return Err(silent(format!("{mech}: {e}"))),
    };
    login(broker, &name, Some(&password), peer).map_err(refused)
}

/// The user, if it exists, may connect from `peer`, and (unless the TLS layer vouched for
/// it: EXTERNAL) has this password.
fn login(
    broker: &Broker,
    name: &str,
    password: Option<&str>,
    peer: SocketAddr,
) -> Result<Arc<User>, String> {
    // RabbitMQ's default loopback_users: guest may only connect from localhost.
    if name == "guest" && !peer.ip().is_loopback() {
        return Err(format!("user '{name}' can only connect via localhost"));
    }
    let user = match password {
        Some(p) => broker.authenticate(name, p),
        None => broker.user(name),
    };
    user.ok_or_else(|| format!("user '{name}' - invalid credentials"))
}

/// The user name EXTERNAL takes from the client certificate (RabbitMQ's
/// `rabbit_auth_mechanism_ssl`, whose refusal reasons these are).
fn external_name(broker: &Broker, transport: &super::Transport) -> Result<String, &'static str> {
    let Some(tls) = &transport.tls else {
        return Err("not a TLS-enabled connection");
    };
    let Some(cert) = &tls.peer else {
        return Err("connection peer presented no TLS (x.509) certificate");
    };
    let cfg = &broker.config.amqp;
    let name = cert.login_name(
        cfg.ssl_cert_login_from,
        cfg.ssl_cert_login_san_type,
        cfg.ssl_cert_login_san_index,
    )?;
    tracing::debug!("EXTERNAL: user name '{name}' from the peer certificate");
    Ok(name)
}

/// Checks the client's tune-ok. RabbitMQ 3.10 drops the socket (no close) when frame_max
/// is 0, below 4096 or above the server's, or channel_max is 0 or above the server's.
fn negotiate(
    t: &connection::TuneOk,
    frame_max: u32,
    channel_max: u16,
) -> Result<(u32, u16), Failed> {
    const FRAME_MIN: u32 = 4096;
    let frame_ok = t.frame_max >= FRAME_MIN && (frame_max == 0 || t.frame_max <= frame_max);
    let channels_ok = t.channel_max != 0 && t.channel_max <= channel_max;
    if !frame_ok || !channels_ok {
        tracing::info!(
            "tune-ok refused: frame_max={} channel_max={}",
            t.frame_max,
            t.channel_max
        );
        return Err(Failed::Silent);
    }
    Ok((t.frame_max, t.channel_max))
}

fn open_vhost(
    broker: &Broker,
    user: &User,
    name: &str,
) -> Result<(Arc<Vhost>, Arc<Permission>), Failed> {
    let refused = || {
        Failed::Close(
            AmqpError::not_allowed(format!(
                "access to vhost '{name}' refused for user '{}'",
                user.name
            ))
            .on(10, 40),
        )
    };
    let Some(vhost) = broker.vhost(name) else {
        return Err(Failed::Close(
            AmqpError::not_allowed(format!("vhost {name} not found")).on(10, 40),
        ));
    };
    let permission = broker.permission(&user.name, name).ok_or_else(refused)?;
    Ok((vhost, permission))
}

/// Counts the connection against its vhost's and user's `max-connections`.
fn admit(broker: &Broker, user: &User, vhost: &Vhost) -> Result<Admission, Failed> {
    let vhost_limit = broker
        .parameters
        .read()
        .vhost_limit(&vhost.name, "max-connections");
    let user_limit = UserLimits::effective(user.limits.max_connections);
    let node_limit = broker.config.amqp.max_connections;
    broker
        .clients
        .admit(&vhost.name, &user.name, node_limit, vhost_limit, user_limit)
        .map_err(|r| {
            let text = match r {
                Refused::Node(l) => {
                    tracing::warn!(
                        "connection refused for user '{}': node connection limit ({l}) is reached",
                        user.name
                    );
                    format!("connection refused: node connection limit ({l}) is reached")
                }
                Refused::Vhost(l) => format!(
                    "access to vhost '{}' refused for user '{}': connection limit ({l}) is reached",
                    vhost.name, user.name
                ),
                Refused::User(l) => format!(
                    "connection refused for user '{}': user connection limit ({l}) is reached",
                    user.name
                ),
            };
            Failed::Close(AmqpError::not_allowed(text).on(10, 40))
        })
}

/// `connection.start`; EXTERNAL is offered only to a client whose certificate was verified.
fn start_method(node_name: &str, external: bool) -> connection::AMQPMethod {
    let mut caps = FieldTable::default();
    for c in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        caps.insert(c.into(), AMQPValue::Boolean(true));
    }
    let mut props = FieldTable::default();
    props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    props.insert("cluster_name".into(), text(node_name));
    props.insert("copyright".into(), text("Copyright (c) the Warren authors"));
    props.insert("information".into(), text("Licensed under the MIT license"));
    props.insert("platform".into(), text("Rust"));
    props.insert("product".into(), text("Warren"));
    props.insert("version".into(), text(env!("CARGO_PKG_VERSION")));
    connection::AMQPMethod::Start(connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: props,
        mechanisms: if external {
            "AMQPLAIN EXTERNAL PLAIN".into()
        } else {
            "AMQPLAIN PLAIN".into()
        },
        locales: "en_US".into(),
    })
}

fn client_capabilities(props: &FieldTable) -> ClientCapabilities {
    let caps = match props.inner().get("capabilities") {
        Some(AMQPValue::FieldTable(t)) => t.clone(),
        _ => FieldTable::default(),
    };
    let flag = |k: &str| matches!(caps.inner().get(k), Some(AMQPValue::Boolean(true)));
    ClientCapabilities {
        consumer_cancel_notify: flag("consumer_cancel_notify"),
        connection_blocked: flag("connection.blocked"),
        authentication_failure_close: flag("authentication_failure_close"),
    }
}
