//! `[amqp.tls]` and `[http.tls]`: a TLS listener beside (or, with the plain `listen` set to
//! `""`, instead of) the plain one. Key names follow RabbitMQ's `ssl_options.*`. Only what
//! the text alone decides is checked here (addresses, names of versions and ciphers); the
//! files are read when the broker starts (`crate::tls`), and their errors name the key too.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::errors::Problem;
use super::validate::check_socket_addr;

/// One TLS listener's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Socket address to listen on, e.g. `"0.0.0.0:5671"`.
    pub listen: String,
    /// The server's certificate chain (PEM), leaf first.
    pub certfile: PathBuf,
    /// The server's private key (PEM: PKCS#8, RSA or SEC1 EC).
    pub keyfile: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; needed by `verify_peer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacertfile: Option<PathBuf>,
    /// Whether client certificates are asked for and checked.
    #[serde(default)]
    pub verify: Verify,
    /// With `verify_peer`: refuse clients that send no certificate.
    #[serde(default)]
    pub fail_if_no_peer_cert: bool,
    /// Protocol versions offered: `"tlsv1.2"`, `"tlsv1.3"`.
    #[serde(default = "default_versions")]
    pub versions: Vec<String>,
    /// Cipher suites offered, by their IANA names (e.g. `"TLS13_AES_256_GCM_SHA384"`);
    /// empty means every suite the TLS library has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ciphers: Vec<String>,
}

/// RabbitMQ's `ssl_options.verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// No client certificate is asked for.
    #[default]
    VerifyNone,
    /// A client certificate is asked for and must chain to `cacertfile`.
    VerifyPeer,
}

/// RabbitMQ's `ssl_cert_login_from`: where EXTERNAL takes the user name from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertLoginFrom {
    /// The subject's CN (several are joined with `,`).
    #[default]
    CommonName,
    /// The whole subject, as RabbitMQ writes it (`CN=client,O=Org`).
    DistinguishedName,
    /// A subject alternative name: `ssl_cert_login_san_type`, `ssl_cert_login_san_index`.
    SubjectAlternativeName,
}

/// RabbitMQ's `ssl_cert_login_san_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SanType {
    #[default]
    Dns,
    Email,
    Uri,
    Ip,
}

/// The protocol version names accepted in `versions`.
pub const TLS_VERSIONS: [&str; 2] = ["tlsv1.2", "tlsv1.3"];

/// The cipher suite names `ciphers` accepts: every suite of the TLS library's provider,
/// by its IANA name as rustls spells it (e.g. `TLS13_AES_256_GCM_SHA384`).
pub fn cipher_suite_names() -> Vec<&'static str> {
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .filter_map(|s| s.suite().as_str())
        .collect()
}

fn default_versions() -> Vec<String> {
    TLS_VERSIONS.iter().map(|v| v.to_string()).collect()
}

impl TlsConfig {
    /// Checks what the text decides; `section` is `amqp.tls` or `http.tls`.
    pub(super) fn validate(&self, section: &str) -> Result<(), Problem> {
        let key = |k: &str| format!("{section}.{k}");
        check_socket_addr(&self.listen).map_err(|m| Problem::new(key("listen"), m))?;
        for (k, path) in [("certfile", &self.certfile), ("keyfile", &self.keyfile)] {
            if path.as_os_str().is_empty() {
                return Err(Problem::new(key(k), "must name a PEM file"));
            }
        }
        if self.versions.is_empty() {
            return Err(Problem::new(
                key("versions"),
                "must name at least one version",
            ));
        }
        if let Some(v) = self
            .versions
            .iter()
            .find(|v| !TLS_VERSIONS.contains(&v.as_str()))
        {
            return Err(Problem::new(
                key("versions"),
                format!("unknown TLS version '{v}' (known: tlsv1.2, tlsv1.3)"),
            ));
        }
        let known = cipher_suite_names();
        if let Some(c) = self.ciphers.iter().find(|c| !known.contains(&c.as_str())) {
            return Err(Problem::new(
                key("ciphers"),
                format!("unknown cipher suite '{c}' (known: {})", known.join(", ")),
            ));
        }
        if self.verify == Verify::VerifyPeer && self.cacertfile.is_none() {
            return Err(Problem::new(
                key("cacertfile"),
                "verify_peer needs the CA certificates that client certificates chain to",
            ));
        }
        if self.fail_if_no_peer_cert && self.verify == Verify::VerifyNone {
            return Err(Problem::new(
                key("fail_if_no_peer_cert"),
                "needs verify = \"verify_peer\"",
            ));
        }
        Ok(())
    }
}

/// Checks `listen` (which may be `""` when `tls` serves instead) and `tls`, for `section`.
pub(super) fn validate_listeners(
    section: &str,
    listen: &str,
    tls: Option<&TlsConfig>,
) -> Result<(), Problem> {
    if !(listen.is_empty() && tls.is_some()) {
        check_socket_addr(listen).map_err(|m| {
            let hint = if listen.is_empty() {
                format!("an empty address turns the plain listener off only when [{section}.tls] is set")
            } else {
                m
            };
            Problem::new(format!("{section}.listen"), hint)
        })?;
    }
    match tls {
        Some(t) => t.validate(&format!("{section}.tls")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::assert_err_contains;
    use crate::config::Config;

    const TLS: &str =
        "[amqp.tls]\nlisten = \"127.0.0.1:5671\"\ncertfile = \"c.pem\"\nkeyfile = \"k.pem\"\n";

    #[test]
    fn tls_section_parses_with_defaults_and_round_trips() {
        let c = Config::from_toml_str(TLS).unwrap();
        let t = c.amqp.tls.as_ref().unwrap();
        assert_eq!(t.versions, ["tlsv1.2", "tlsv1.3"]);
        assert_eq!(t.verify, super::Verify::VerifyNone);
        assert!(t.ciphers.is_empty() && t.cacertfile.is_none());
        assert_eq!(Config::from_toml_str(&c.to_toml()).unwrap(), c);
        // The plain listener may be turned off when TLS serves instead.
        let c = Config::from_toml_str(&format!("[amqp]\nlisten = \"\"\n{TLS}")).unwrap();
        assert_eq!(c.amqp.listen, "");
    }

    #[test]
    fn bad_tls_settings_name_the_key() {
        assert_err_contains(
            &format!("{TLS}versions = [\"tlsv1.1\"]\n"),
            &["amqp.tls.versions", "unknown TLS version 'tlsv1.1'"],
        );
        assert_err_contains(
            &format!("{TLS}ciphers = [\"RC4\"]\n"),
            &["amqp.tls.ciphers", "unknown cipher suite 'RC4'"],
        );
        assert_err_contains(
            &format!("{TLS}verify = \"verify_peer\"\n"),
            &["amqp.tls.cacertfile", "verify_peer"],
        );
        assert_err_contains(
            &format!("{TLS}verify = \"verify_sometimes\"\n"),
            &["<config>:5:10", "verify_sometimes", "verify_peer"],
        );
        assert_err_contains(
            &format!("{TLS}fail_if_no_peer_cert = true\n"),
            &["amqp.tls.fail_if_no_peer_cert"],
        );
        assert_err_contains("[amqp]\nlisten = \"\"\n", &["amqp.listen", "[amqp.tls]"]);
        assert_err_contains(
            "[http.tls]\nlisten = \"x\"\ncertfile = \"c\"\nkeyfile = \"k\"\n",
            &["http.tls.listen", "invalid socket address"],
        );
    }
}
