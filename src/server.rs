//! The running broker: binds the AMQP listener, accepts connections (one task each), and
//! shuts down in order: stop accepting, close every connection with 320, wait for them.

use crate::broker::Broker;
use crate::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A started broker. Dropping it does not stop it; call `shutdown`.
pub struct Server {
    pub broker: Arc<Broker>,
    pub amqp_addr: SocketAddr,
    /// The management API's address.
    pub http_addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    http: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens the data dir and binds the listeners (AMQP, then the management API).
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let listen = config.amqp.listen.clone();
        let http_listen = config.http.listen.clone();
        let broker = Broker::open(config)?;
        let listener = TcpListener::bind(&listen)
            .await
            .map_err(|e| anyhow::anyhow!("amqp.listen: cannot bind {listen}: {e}"))?;
        let http_listener = TcpListener::bind(&http_listen)
            .await
            .map_err(|e| anyhow::anyhow!("http.listen: cannot bind {http_listen}: {e}"))?;
        let amqp_addr = listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        tracing::info!("HTTP API listening on {http_addr}");
        tracing::info!("AMQP listening on {amqp_addr}");
        let listeners = Arc::new(vec![("amqp", amqp_addr), ("http", http_addr)]);
        let http = tokio::spawn(crate::http::serve(http_listener, broker.clone(), listeners));
        let accept = tokio::spawn(accept_loop(listener, broker.clone()));
        tokio::spawn(crate::broker::resources::monitor(broker.clone()));
        tokio::spawn(compaction(broker.clone()));
        tokio::spawn(crate::broker::sampler::run(broker.clone()));
        Ok(Server {
            broker,
            amqp_addr,
            http_addr,
            accept,
            http,
        })
    }

    /// Stops accepting, closes every connection with 320 CONNECTION_FORCED and waits (a few
    /// seconds at most) for them to finish.
    pub async fn shutdown(self) {
        self.broker.shutdown.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.accept).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.http).await;
        let broker = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            broker.metadata.close();
            broker.store.close();
        })
        .await;
    }
}

/// Compacts the message store every few seconds, off the async threads.
async fn compaction(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = broker.shutdown_signal() => return,
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.compact()).await;
    }
}

async fn accept_loop(listener: TcpListener, broker: Arc<Broker>) {
    let mut conns = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    backoff = Duration::from_millis(5);
                    conns.spawn(crate::amqp::serve(stream, broker.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = broker.shutdown_signal() => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
