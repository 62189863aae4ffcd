//! The management HTTP API: RabbitMQ 3.10's, on hyper. Each connection is a task; each
//! request is authenticated (`auth`), routed (`routes`) to a handler in `api/`, which turns
//! it into broker commands or reads, and answers JSON. Errors are RabbitMQ's
//! `{"error", "reason"}` with its status codes. Every other path is the web console's
//! (`console`). Nothing here is on the AMQP hot path.

mod api;
mod auth;
mod console;
mod error;
mod listing;
mod reply;
mod request;
mod routes;

use crate::broker::Broker;
use crate::server::Security;
use error::ApiError;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use reply::Reply;
use request::{Req, MAX_BODY};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What the API reports of the node beyond the broker: its listeners, as (protocol,
/// address), for the overview and health checks, and its cluster.
pub(crate) struct Frontends {
    pub listeners: Vec<(&'static str, SocketAddr)>,
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

pub(crate) type Listeners = Arc<Frontends>;

/// Serves the API on `listener` (HTTPS when `security` is TLS) until the broker shuts down.
pub(crate) async fn serve(
    listener: TcpListener,
    security: Security,
    broker: Arc<Broker>,
    listeners: Listeners,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let (b, ls) = (broker.clone(), listeners.clone());
                    match security {
                        Security::Plain => {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(connection(stream, peer, b, ls))
                        }
                        Security::Tls => conns.spawn(tls_connection(stream, peer, b, ls)),
                    };
                }
                Err(e) => {
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = broker.shutdown_signal() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

/// The TLS handshake on the connection's own task (bounded), then HTTP as on plain TCP.
async fn tls_connection(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>, ls: Listeners) {
    let Some(tls) = broker.tls.http.as_ref() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let accept = tls.acceptor().accept(stream);
    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(s)) => connection(s, peer, broker, ls).await,
        Ok(Err(e)) => tracing::info!("HTTPS: TLS handshake with {peer} failed: {e}"),
        Err(_) => tracing::info!("HTTPS: TLS handshake with {peer} timed out"),
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, broker: Arc<Broker>, ls: Listeners)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let b = broker.clone();
    let service = hyper::service::service_fn(move |req| {
        let (b, ls) = (b.clone(), ls.clone());
        async move { Ok::<_, std::convert::Infallible>(handle(b, ls, peer, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(1 << 20)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = broker.shutdown_signal() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

async fn handle(
    broker: Arc<Broker>,
    listeners: Listeners,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<reply::ApiBody> {
    if !is_api(req.uri().path()) {
        return console::serve(req.method(), req.uri().path(), req.headers());
    }
    let reply = match read(req).await {
        Ok(req) => routes::dispatch(&broker, listeners, peer, req).await,
        Err(e) => Err(e),
    };
    match reply {
        Ok(r) => r.into_response(),
        Err(e) => Reply::error(e).into_response(),
    }
}

/// `/api` and what is under it; the rest is the console's.
fn is_api(path: &str) -> bool {
    path.strip_prefix("/api")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Reads the request: its path after `/api`, query and body (bounded by [`MAX_BODY`]).
async fn read(req: Request<Incoming>) -> Result<Req, ApiError> {
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path();
    // `handle` sends only `/api` paths here.
    let path = Req::segments(raw.strip_prefix("/api").unwrap_or(raw))?;
    let query = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "bad_request",
                format!("request body larger than {MAX_BODY} bytes"),
            ))
        }
        Err(_) => return Err(ApiError::bad_request("could not read the request body")),
    };
    Ok(Req {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body,
    })
}
