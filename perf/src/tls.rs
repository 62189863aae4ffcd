//! TLS for `amqps://` URIs, and the socket halves the client reads and writes (plain TCP
//! or TLS, behind one boxed type each: one dynamic call per read or write of up to 128 KiB
//! is nothing beside the syscall).
//!
//! The rustls client configuration is built once per process (reading and parsing the CA
//! file on every connection would be the tool's own cost in a connection benchmark), and
//! session resumption is off: every connection makes a full handshake, so a connection
//! benchmark measures handshakes, not a session cache. It offers X25519 first, as OpenSSL,
//! Erlang and browsers do (rustls's ring provider now puts P-384 first, which servers that
//! follow the client's order, rustls's among them, then use: several times X25519's cost).

use crate::uri::Tls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConfig;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The read half of a connection.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection. After a write, call [`write_out`] (or flush): TLS may
/// keep the last record until flushed.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Writes all of `buf` and flushes (a no-op on plain TCP; on TLS it sends what rustls
/// still holds when the socket was full).
pub async fn write_out(wr: &mut Writer, buf: &[u8]) -> std::io::Result<()> {
    wr.write_all(buf).await?;
    wr.flush().await
}

/// Splits a connected socket, after a TLS handshake when `tls` is set.
pub async fn wrap(sock: TcpStream, tls: Option<&Tls>) -> Result<(Reader, Writer), String> {
    let Some(tls) = tls else {
        let (r, w) = sock.into_split();
        return Ok((Box::new(r), Box::new(w)));
    };
    let name = ServerName::try_from(tls.server_name.clone())
        .map_err(|e| format!("server name {:?}: {e}", tls.server_name))?;
    let stream = tokio_rustls::TlsConnector::from(client_config(tls)?)
        .connect(name, sock)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let _ = FIRST_SESSION.get_or_init(|| describe(stream.get_ref().1));
    let (r, w) = tokio::io::split(stream);
    Ok((Box::new(r), Box::new(w)))
}

static FIRST_SESSION: OnceLock<String> = OnceLock::new();

/// The first TLS session this process made, e.g. `TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519`.
pub fn first_session() -> Option<&'static str> {
    FIRST_SESSION.get().map(String::as_str)
}

fn describe(c: &rustls::ClientConnection) -> String {
    let name = |d: Option<String>| d.unwrap_or_else(|| "?".into());
    format!(
        "{} {} {}",
        name(c.protocol_version().map(|v| format!("{v:?}"))),
        name(
            c.negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
        ),
        name(
            c.negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()))
        ),
    )
}

/// The configuration for `tls`: the process's first one is kept and reused.
fn client_config(tls: &Tls) -> Result<Arc<ClientConfig>, String> {
    static FIRST: OnceLock<(Tls, Arc<ClientConfig>)> = OnceLock::new();
    if let Some((t, c)) = FIRST.get() {
        if t == tls {
            return Ok(c.clone());
        }
    }
    let config = Arc::new(build(tls)?);
    let _ = FIRST.set((tls.clone(), config.clone()));
    Ok(config)
}

fn build(tls: &Tls) -> Result<ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&tls.cacertfile)
        .map_err(|e| format!("cacertfile {}: {e}", tls.cacertfile))?;
    for ca in cas {
        let ca = ca.map_err(|e| format!("cacertfile {}: {e}", tls.cacertfile))?;
        roots
            .add(ca)
            .map_err(|e| format!("cacertfile {}: {e}", tls.cacertfile))?;
    }
    if roots.is_empty() {
        return Err(format!("cacertfile {}: no certificate", tls.cacertfile));
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots);
    let mut config = match (&tls.certfile, &tls.keyfile) {
        (Some(certfile), Some(keyfile)) => {
            let chain = CertificateDer::pem_file_iter(certfile)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("certfile {certfile}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(keyfile)
                .map_err(|e| format!("keyfile {keyfile}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("certfile {certfile} with keyfile {keyfile}: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// ring's provider with the usual clients' key exchange order.
#[allow(deprecated)] // ring's provider: no post-quantum key exchange, which a benchmark needs not
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{default_provider, kx_group};
    let mut p = default_provider();
    p.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    p
}
