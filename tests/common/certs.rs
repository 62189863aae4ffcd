//! Certificates made in the test with rcgen: a CA, a server certificate for localhost and
//! 127.0.0.1, client certificates (good, expired, from another CA), written as PEM files,
//! and TLS client settings for lapin and for a raw tokio-rustls client.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A CA that signs certificates.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM text and as files.
pub struct Pem {
    pub cert: String,
    pub key: String,
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, self.pem()).expect("write CA");
        p
    }

    /// A server certificate for localhost and 127.0.0.1 with subject `CN=cn`.
    pub fn server(&self, dir: &Path, cn: &str) -> Pem {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        // Thirty days: the certificate-expiration check has something to find.
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(30);
        self.sign(params, dir, cn)
    }

    /// A client certificate with subject `O=org, CN=cn`, valid now (or expired a day ago).
    pub fn client(&self, dir: &Path, cn: &str, expired: bool) -> Pem {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        // In this order in the certificate; RabbitMQ writes it last to first.
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Warren tests");
        params.distinguished_name.push(DnType::CommonName, cn);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        self.sign(
            params,
            dir,
            &format!("{cn}{}", if expired { "-expired" } else { "" }),
        )
    }

    fn sign(&self, params: CertificateParams, dir: &Path, name: &str) -> Pem {
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
            certfile: dir.join(format!("{name}.crt")),
            keyfile: dir.join(format!("{name}.key")),
        };
        std::fs::write(&pem.certfile, &pem.cert).expect("write cert");
        std::fs::write(&pem.keyfile, &pem.key).expect("write key");
        pem
    }
}

impl Pem {
    /// lapin's TLS settings: trust `ca`, and present this certificate when `identity`.
    pub fn lapin_tls(ca: &Ca, identity: Option<&Pem>) -> lapin::tcp::OwnedTLSConfig {
        lapin::tcp::OwnedTLSConfig {
            identity: identity.map(|p| lapin::tcp::OwnedIdentity::PKCS8 {
                pem: p.cert.clone().into_bytes(),
                key: p.key.clone().into_bytes(),
            }),
            cert_chain: Some(ca.pem()),
        }
    }
}

/// A rustls client configuration trusting `ca`, presenting `identity` if given.
pub fn rustls_client(ca: &Ca, identity: Option<&Pem>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).expect("CA");
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some(p) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(p.cert.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(p.key.as_bytes()).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}
