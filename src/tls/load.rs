//! Reading a TLS listener's PEM files and building its rustls `ServerConfig`. Every error
//! names the key and the file: missing, unreadable, not PEM, no certificate or key in it, a
//! key that does not match the certificate, versions and ciphers that leave nothing usable.

use super::{Loaded, TlsError};
use crate::config::{TlsConfig, Verify};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// Loads the files of `[section]` (`amqp.tls` or `http.tls`).
pub(super) fn load(section: &str, t: &TlsConfig) -> Result<Loaded, TlsError> {
    let key = |k: &str| format!("{section}.{k}");
    let certs = read_certs(&key("certfile"), &t.certfile)?;
    let (subject, not_after) = describe(&certs[0])
        .ok_or_else(|| TlsError::new(key("certfile"), &t.certfile, "not an X.509 certificate"))?;
    let private = read_key(&key("keyfile"), &t.keyfile)?;
    let config = server_config(section, t, certs, private)?;
    Ok(Loaded {
        config: Arc::new(config),
        subject,
        not_after,
        certfile: t.certfile.clone(),
    })
}

/// Builds the configuration from certificates and key already read.
pub fn server_config(
    section: &str,
    t: &TlsConfig,
    certs: Vec<CertificateDer<'static>>,
    private: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let key = |k: &str| format!("{section}.{k}");
    let provider = Arc::new(provider(&t.ciphers));
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::new(key("keyfile"), &t.keyfile, format!("unusable key: {e}")))?;
    let certified = CertifiedKey::new(certs, signer);
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(TlsError::new(
            key("keyfile"),
            &t.keyfile,
            format!(
                "the key does not match the certificate in {}",
                t.certfile.display()
            ),
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = t
        .versions
        .iter()
        .map(|v| match v.as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            _ => &rustls::version::TLS13,
        })
        .collect();
    let no_suite = |e: rustls::Error| {
        TlsError::new(
            key("ciphers"),
            &t.certfile,
            format!("no cipher suite for the versions {:?}: {e}", t.versions),
        )
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(no_suite)?;
    let builder = match (&t.verify, &t.cacertfile) {
        (Verify::VerifyPeer, Some(ca)) => {
            let ca_key = key("cacertfile");
            let mut roots = RootCertStore::empty();
            for c in read_certs(&ca_key, ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError::new(&ca_key, ca, format!("unusable CA: {e}")))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if !t.fail_if_no_peer_cert {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::new(&ca_key, ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::new(certified)))))
}

/// ring's provider, with only the named suites when `ciphers` is not empty. ring rather
/// than aws-lc-rs: no C toolchain beyond cc, a quick build; it lacks only the post-quantum
/// key exchange, which is why rustls marks its provider deprecated.
#[allow(deprecated)]
fn provider(ciphers: &[String]) -> CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    if !ciphers.is_empty() {
        p.cipher_suites = rustls::crypto::ring::ALL_CIPHER_SUITES
            .iter()
            .filter(|s| {
                s.suite()
                    .as_str()
                    .is_some_and(|n| ciphers.iter().any(|c| c == n))
            })
            .copied()
            .collect();
    }
    p
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::new(key, path, format!("cannot read: {e}")))
}

/// Every certificate in a PEM file; at least one.
fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(key, path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            key,
            path,
            "no certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn read_key(key: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let message = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key (-----BEGIN PRIVATE KEY-----) in it".to_string()
            }
            e => format!("bad PEM: {e}"),
        };
        TlsError::new(key, path, message)
    })
}

/// A certificate's subject (RabbitMQ's format) and `notAfter` (Unix seconds).
fn describe(der: &CertificateDer<'_>) -> Option<(String, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some((
        super::peer::format_name(cert.subject()),
        cert.validity().not_after.timestamp(),
    ))
}
