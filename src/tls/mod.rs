//! TLS for the AMQP and HTTP listeners, on rustls (ring): loading `[amqp.tls]` and
//! `[http.tls]` into server configurations, reloading them (SIGHUP, `POST /api/tls/reload`),
//! and describing a session and its peer certificate (`peer`).
//!
//! Invariants: a loaded listener always has a usable configuration; a reload that fails
//! keeps the old one; a reload never touches open connections, only new handshakes use the
//! new configuration. Every error names the configuration key and the file.

mod load;
pub mod peer;

use crate::config::{Config, TlsConfig, Verify};
use parking_lot::RwLock;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use load::server_config;

/// RabbitMQ's `ssl_handshake_timeout`: a client that has not finished the TLS handshake by
/// then is dropped.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A TLS setting that cannot be used: which key, which file, what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{key}: {}: {message}", .path.display())]
pub struct TlsError {
    /// Dotted key, e.g. `amqp.tls.keyfile`.
    pub key: String,
    pub path: PathBuf,
    pub message: String,
}

impl TlsError {
    fn new(key: impl Into<String>, path: &Path, message: impl Into<String>) -> Self {
        TlsError {
            key: key.into(),
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// What a listener has loaded: the configuration new handshakes use, and its certificate.
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    /// The server certificate's subject, as RabbitMQ writes it.
    pub subject: String,
    /// Its `notAfter`, in Unix seconds.
    pub not_after: i64,
    pub certfile: PathBuf,
}

/// One TLS listener's settings and what they loaded; reloadable.
pub struct TlsListener {
    /// `amqp.tls` or `http.tls`.
    pub section: &'static str,
    pub settings: TlsConfig,
    current: RwLock<Arc<Loaded>>,
}

impl TlsListener {
    /// Reads the certificate, key and CA files and builds the configuration.
    pub fn load(section: &'static str, settings: TlsConfig) -> Result<TlsListener, TlsError> {
        let loaded = load::load(section, &settings)?;
        Ok(TlsListener {
            section,
            settings,
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.read().clone()
    }

    /// An acceptor with the current configuration.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current().config.clone())
    }

    /// Whether clients are asked for a certificate that must chain to `cacertfile`.
    pub fn verifies_peers(&self) -> bool {
        self.settings.verify == Verify::VerifyPeer
    }

    /// Reads the files again; on an error the old configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load::load(self.section, &self.settings)?;
        *self.current.write() = Arc::new(loaded);
        Ok(())
    }
}

/// The node's TLS listeners.
#[derive(Default)]
pub struct Certificates {
    pub amqp: Option<TlsListener>,
    pub http: Option<TlsListener>,
}

impl Certificates {
    /// Loads `[amqp.tls]` and `[http.tls]`, whichever are set.
    pub fn load(config: &Config) -> Result<Certificates, TlsError> {
        let listener = |section, t: &Option<TlsConfig>| {
            t.clone().map(|t| TlsListener::load(section, t)).transpose()
        };
        Ok(Certificates {
            amqp: listener("amqp.tls", &config.amqp.tls)?,
            http: listener("http.tls", &config.http.tls)?,
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &TlsListener> {
        self.amqp.iter().chain(self.http.iter())
    }

    /// Reloads every listener's files; returns how many were reloaded, or the first error
    /// (listeners before it have their new configuration, it and those after keep theirs).
    pub fn reload(&self) -> Result<usize, TlsError> {
        let mut n = 0;
        for l in self.all() {
            l.reload()?;
            tracing::info!(
                "{}: reloaded certificate {} ({})",
                l.section,
                l.settings.certfile.display(),
                l.current().subject
            );
            n += 1;
        }
        Ok(n)
    }
}
