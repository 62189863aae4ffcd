//! What a TLS session tells about itself and its peer, as RabbitMQ 3.10 shows it in a
//! connection's `ssl_*` and `peer_cert_*` fields, and the user name the EXTERNAL mechanism
//! takes from a client certificate (RabbitMQ's `rabbit_ssl:peer_cert_auth_name`).

use crate::config::{CertLoginFrom, SanType};
use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, ProtocolVersion, ServerConnection};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Name;

/// A TLS connection's session and peer certificate, fixed after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetails {
    /// `tlsv1.2` or `tlsv1.3`.
    pub protocol: String,
    /// Erlang's names: `aes_256_gcm`, `aes_128_gcm`, `chacha20_poly1305`.
    pub cipher: String,
    /// `ecdhe_rsa`, `ecdhe_ecdsa`, or `any` under TLS 1.3.
    pub key_exchange: String,
    /// The MAC: `aead` for every suite rustls has.
    pub hash: String,
    /// The client's certificate, present only when it was asked for and verified.
    pub peer: Option<PeerCert>,
}

/// A verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// `CN=client,O=Org`: the RDNs in reverse order, as RabbitMQ writes them.
    pub subject: String,
    pub issuer: String,
    /// `2024-01-01T00:00:00Z - 2025-01-01T00:00:00Z`.
    pub validity: String,
    pub der: CertificateDer<'static>,
}

impl TlsDetails {
    /// Describes an established server-side session.
    pub fn of(conn: &ServerConnection) -> TlsDetails {
        let protocol = match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "tlsv1.3",
            Some(ProtocolVersion::TLSv1_2) => "tlsv1.2",
            _ => "unknown",
        };
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| s.suite())
            .unwrap_or(CipherSuite::Unknown(0));
        let (cipher, key_exchange) = suite_parts(suite);
        let peer = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|der| PeerCert::parse(der.clone().into_owned()));
        TlsDetails {
            protocol: protocol.to_string(),
            cipher: cipher.to_string(),
            key_exchange: key_exchange.to_string(),
            hash: "aead".to_string(),
            peer,
        }
    }
}

/// Erlang's cipher and key exchange names for a suite rustls offers.
fn suite_parts(suite: CipherSuite) -> (&'static str, &'static str) {
    let name = suite.as_str().unwrap_or("");
    let cipher = if name.contains("AES_128_GCM") {
        "aes_128_gcm"
    } else if name.contains("AES_256_GCM") {
        "aes_256_gcm"
    } else if name.contains("CHACHA20_POLY1305") {
        "chacha20_poly1305"
    } else {
        "unknown"
    };
    let kx = if name.starts_with("TLS13_") {
        "any"
    } else if name.contains("ECDHE_ECDSA") {
        "ecdhe_ecdsa"
    } else if name.contains("ECDHE_RSA") {
        "ecdhe_rsa"
    } else {
        "unknown"
    };
    (cipher, kx)
}

impl PeerCert {
    fn parse(der: CertificateDer<'static>) -> Option<PeerCert> {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let v = cert.validity();
        let validity = format!(
            "{} - {}",
            format_time(&v.not_before),
            format_time(&v.not_after)
        );
        Some(PeerCert {
            subject: format_name(cert.subject()),
            issuer: format_name(cert.issuer()),
            validity,
            der: der.clone(),
        })
    }

    /// The user name EXTERNAL logs in as, or why there is none.
    pub fn login_name(
        &self,
        from: CertLoginFrom,
        san_type: SanType,
        san_index: usize,
    ) -> Result<String, &'static str> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(self.der.as_ref()).map_err(|_| "no name found")?;
        match from {
            CertLoginFrom::DistinguishedName => Ok(self.subject.clone()),
            CertLoginFrom::CommonName => {
                let cns: Vec<&str> = cert
                    .subject()
                    .iter_common_name()
                    .filter_map(|a| a.as_str().ok())
                    .collect();
                if cns.is_empty() {
                    return Err("no name found");
                }
                Ok(cns.join(","))
            }
            CertLoginFrom::SubjectAlternativeName => {
                san_of_type(&cert, san_type, san_index).ok_or("no name found")
            }
        }
    }
}

fn san_of_type(cert: &X509Certificate<'_>, kind: SanType, index: usize) -> Option<String> {
    let san = cert.subject_alternative_name().ok()??;
    san.value
        .general_names
        .iter()
        .filter_map(|n| match (n, kind) {
            (GeneralName::DNSName(s), SanType::Dns)
            | (GeneralName::RFC822Name(s), SanType::Email)
            | (GeneralName::URI(s), SanType::Uri) => Some(s.to_string()),
            (GeneralName::IPAddress(b), SanType::Ip) => ip_string(b),
            _ => None,
        })
        .nth(index)
}

fn ip_string(bytes: &[u8]) -> Option<String> {
    let ip: std::net::IpAddr = match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok()?.into(),
        16 => <[u8; 16]>::try_from(bytes).ok()?.into(),
        _ => return None,
    };
    Some(ip.to_string())
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as RabbitMQ formats a certificate's UTCTime.
fn format_time(t: &x509_parser::time::ASN1Time) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// A distinguished name as RabbitMQ writes it (`rabbit_cert_info:format_rdn_sequence`): RDNs
/// last to first, joined by `,`; the parts of one RDN joined by `+`; values escaped as in
/// RFC 4514.
pub fn format_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|a| {
                    let oid = a.attr_type().to_id_string();
                    let value = a.as_str().map(escape).unwrap_or_else(|_| "?".to_string());
                    match short_name(&oid) {
                        Some(short) => format!("{short}={value}"),
                        None => format!("{oid}={value}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// RabbitMQ's short names for attribute types; others are written as dotted OIDs.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GIVENNAME",
        "2.5.4.43" => "INITIALS",
        "2.5.4.44" => "GENERATIONQUALIFIER",
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "TITLE",
        "2.5.4.6" => "C",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.65" => "PSEUDONYM",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "EMAILADDRESS",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 4514 escaping as RabbitMQ does it: a leading space or `#`, a trailing space, the
/// specials `"+,;<>\`, and bytes outside printable ASCII (as `\XX`).
fn escape(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = String::with_capacity(v.len());
    for (i, &b) in bytes.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == bytes.len();
        match b {
            b' ' | b'#' if first => {
                out.push('\\');
                out.push(b as char);
            }
            b' ' if last => out.push_str("\\ "),
            b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            b if !(32..126).contains(&b) => out.push_str(&format!("\\{b:02X}")),
            b => out.push(b as char),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_rabbitmq() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape(" lead"), "\\ lead");
        assert_eq!(escape("#x"), "\\#x");
        assert_eq!(escape("trail "), "trail\\ ");
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("é"), "\\C3\\A9");
    }

    #[test]
    fn suites_map_to_erlang_names() {
        assert_eq!(
            suite_parts(CipherSuite::TLS13_AES_256_GCM_SHA384),
            ("aes_256_gcm", "any")
        );
        assert_eq!(
            suite_parts(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
            ("chacha20_poly1305", "ecdhe_rsa")
        );
        assert_eq!(
            suite_parts(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            ("aes_128_gcm", "ecdhe_ecdsa")
        );
    }
}
