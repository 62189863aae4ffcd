//! The parameters of the opening handshake and what they put on the wire.

use amq_protocol::types::{AMQPValue, FieldTable};
use amq_protocol::uri::AMQPUri;

use super::{encode_field_table, RawResult};

/// Parameters of the opening handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// User name for PLAIN/AMQPLAIN.
    pub user: String,
    /// Password.
    pub password: String,
    /// Virtual host to open.
    pub vhost: String,
    /// SASL mechanism name to send in start-ok.
    pub mechanism: String,
    /// Override the SASL response bytes (otherwise built from user/password).
    pub response: Option<Vec<u8>>,
    /// Whether to send the usual client capabilities table.
    pub capabilities: bool,
    /// Extra client properties.
    pub client_properties: FieldTable,
    /// Channel-max for tune-ok (None: accept the server's).
    pub channel_max: Option<u16>,
    /// Frame-max for tune-ok (None: accept the server's).
    pub frame_max: Option<u32>,
    /// Heartbeat for tune-ok (None: 0, i.e. disabled).
    pub heartbeat: Option<u16>,
}

impl Handshake {
    /// Defaults taken from an `amqp://user:pass@host:port/vhost` URL.
    pub fn from_url(url: &str) -> RawResult<Self> {
        let uri: AMQPUri = url.parse().map_err(|e| format!("bad url {url}: {e}"))?;
        Ok(Handshake {
            user: uri.authority.userinfo.username.clone(),
            password: uri.authority.userinfo.password.clone(),
            vhost: uri.vhost.clone(),
            mechanism: "PLAIN".into(),
            response: None,
            capabilities: true,
            client_properties: FieldTable::default(),
            channel_max: None,
            frame_max: None,
            heartbeat: None,
        })
    }

    pub(crate) fn sasl_response(&self) -> Vec<u8> {
        if let Some(r) = &self.response {
            return r.clone();
        }
        if self.mechanism == "AMQPLAIN" {
            let mut t = FieldTable::default();
            t.insert(
                "LOGIN".into(),
                AMQPValue::LongString(self.user.as_str().into()),
            );
            t.insert(
                "PASSWORD".into(),
                AMQPValue::LongString(self.password.as_str().into()),
            );
            // AMQPLAIN is a field table without its length prefix.
            return encode_field_table(&t)
                .map(|b| b[4..].to_vec())
                .unwrap_or_default();
        }
        let mut r = vec![0u8];
        r.extend_from_slice(self.user.as_bytes());
        r.push(0);
        r.extend_from_slice(self.password.as_bytes());
        r
    }

    pub(crate) fn properties(&self) -> FieldTable {
        let mut props = self.client_properties.clone();
        props.insert(
            "product".into(),
            AMQPValue::LongString("warren-conformance raw client".into()),
        );
        if self.capabilities {
            let mut caps = FieldTable::default();
            for c in [
                "publisher_confirms",
                "exchange_exchange_bindings",
                "basic.nack",
                "consumer_cancel_notify",
                "connection.blocked",
                "authentication_failure_close",
                "per_consumer_qos",
            ] {
                caps.insert(c.into(), AMQPValue::Boolean(true));
            }
            props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
        }
        props
    }
}
