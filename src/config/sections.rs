//! The configuration structures: [`Config`] and its sections, which mirror the TOML
//! file layout one to one (every section and key is optional; unknown keys are
//! rejected), with their built-in defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cluster::ClusterConfig;
use super::tls::{CertLoginFrom, SanType, TlsConfig};
use super::{ByteSize, MemoryWatermark};

/// Smallest frame size AMQP 0-9-1 allows a peer to negotiate.
pub const FRAME_MIN_SIZE: u32 = 4096;

/// RabbitMQ 3.10's default `max_message_size` (128 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 128 * 1024 * 1024;

/// RabbitMQ's hard ceiling on `max_message_size` (512 MiB).
pub const MAX_MESSAGE_SIZE_CEILING: u64 = 512 * 1024 * 1024;

/// The complete broker configuration, laid out exactly like the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding persistent state (definitions, durable messages).
    pub data_dir: PathBuf,
    /// Node name, reported to clients and in the management API.
    pub node_name: String,
    /// Milliseconds a delivery may stay unacked before its channel is closed with 406
    /// (RabbitMQ's `consumer_timeout`); 0 turns the check off.
    pub consumer_timeout: u64,
    /// AMQP 0-9-1 listener and connection tuning.
    pub amqp: AmqpConfig,
    /// HTTP management API listener.
    pub http: HttpConfig,
    /// Resource alarms (memory and disk).
    pub resources: ResourcesConfig,
    /// This node's cluster (`[cluster]`); a single node without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// Users created at startup (`[[users]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserDef>,
    /// Virtual hosts created at startup (`[[vhosts]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vhosts: Vec<VhostDef>,
    /// Permissions granted at startup (`[[permissions]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<PermissionDef>,
    /// Policies created at startup (`[[policies]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyDef>,
    /// Operator policies created at startup (`[[operator_policies]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operator_policies: Vec<PolicyDef>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./warren-data"),
            node_name: "warren@localhost".to_string(),
            consumer_timeout: 1_800_000,
            amqp: AmqpConfig::default(),
            http: HttpConfig::default(),
            resources: ResourcesConfig::default(),
            cluster: None,
            users: Vec::new(),
            vhosts: Vec::new(),
            permissions: Vec::new(),
            policies: Vec::new(),
            operator_policies: Vec::new(),
        }
    }
}

/// `[amqp]`: the AMQP listener and the tuning values offered in `connection.tune`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    /// Socket address to listen on, e.g. `"0.0.0.0:5672"`; `""` turns the plain listener
    /// off (only with `[amqp.tls]`).
    pub listen: String,
    /// Largest frame the broker accepts, in bytes (at least 4096).
    pub frame_max: u32,
    /// Largest channel number per connection; 0 in the file means 65535.
    pub channel_max: u16,
    /// Heartbeat interval offered to clients, in seconds (0 disables heartbeats).
    pub heartbeat: u16,
    /// Open connections the node accepts (RabbitMQ's `connection_max`); absent: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Largest message body accepted (RabbitMQ's `max_message_size`; at most 512 MiB).
    pub max_message_size: ByteSize,
    /// Where the EXTERNAL mechanism takes the user name from in a client certificate.
    pub ssl_cert_login_from: CertLoginFrom,
    /// With `subject_alternative_name`: which kind of SAN...
    pub ssl_cert_login_san_type: SanType,
    /// ...and which of them (0 is the first).
    pub ssl_cert_login_san_index: usize,
    /// The AMQPS listener (`[amqp.tls]`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            listen: "127.0.0.1:5672".to_string(),
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            max_connections: None,
            max_message_size: ByteSize(DEFAULT_MAX_MESSAGE_SIZE),
            ssl_cert_login_from: CertLoginFrom::default(),
            ssl_cert_login_san_type: SanType::default(),
            ssl_cert_login_san_index: 0,
            tls: None,
        }
    }
}

impl AmqpConfig {
    /// The listen address as a socket address (validated when the config is loaded).
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }
}

/// `[http]`: the management API listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Socket address to listen on, e.g. `"0.0.0.0:15672"`; `""` turns the plain listener
    /// off (only with `[http.tls]`).
    pub listen: String,
    /// The HTTPS listener (`[http.tls]`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:15672".to_string(),
            tls: None,
        }
    }
}

impl HttpConfig {
    /// The listen address as a socket address (validated when the config is loaded).
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }
}

/// `[resources]`: thresholds for the memory and disk alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcesConfig {
    /// Memory use above which publishers are blocked.
    pub memory_high_watermark: MemoryWatermark,
    /// Fraction of the watermark above which message bodies are paged to disk (RabbitMQ's
    /// `vm_memory_high_watermark_paging_ratio`); above 1, the alarm comes first.
    pub memory_paging_ratio: f64,
    /// Free disk space below which publishers are blocked.
    pub disk_free_limit: ByteSize,
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        ResourcesConfig {
            memory_high_watermark: MemoryWatermark::Fraction(0.4),
            memory_paging_ratio: 0.5,
            disk_free_limit: ByteSize(50_000_000),
        }
    }
}

/// A `[[users]]` entry. Exactly one of `password` and `password_hash` must be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDef {
    /// User name.
    pub name: String,
    /// Plaintext password (hashed by the broker at startup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// RabbitMQ-style password hash (base64 of salt + SHA-256 digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Tags such as `administrator`; any string is accepted.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A `[[vhosts]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VhostDef {
    /// Virtual host name, e.g. `"/"`.
    pub name: String,
    /// Free-form description shown in the management API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A `[[permissions]]` entry: regular expressions over resource names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionDef {
    /// User the permissions are granted to.
    pub user: String,
    /// Virtual host the permissions apply in.
    pub vhost: String,
    /// Regex of resources the user may declare and delete.
    #[serde(default = "match_all")]
    pub configure: String,
    /// Regex of resources the user may publish to / bind into.
    #[serde(default = "match_all")]
    pub write: String,
    /// Regex of resources the user may consume from / bind from.
    #[serde(default = "match_all")]
    pub read: String,
}

fn match_all() -> String {
    ".*".to_string()
}

/// A `[[policies]]` or `[[operator_policies]]` entry, validated like
/// RabbitMQ validates `PUT /api/policies/{vhost}/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    /// Policy name, unique per vhost.
    pub name: String,
    /// Virtual host whose queues and exchanges it applies to.
    #[serde(default = "default_vhost")]
    pub vhost: String,
    /// Regex matched (unanchored) against queue and exchange names.
    pub pattern: String,
    /// `"queues"`, `"exchanges"` or `"all"`.
    #[serde(default = "default_apply_to")]
    pub apply_to: String,
    /// The highest-priority matching policy applies.
    #[serde(default)]
    pub priority: i32,
    /// The settings, e.g. `{ "message-ttl" = 60000 }`.
    pub definition: serde_json::Map<String, serde_json::Value>,
}

fn default_vhost() -> String {
    "/".to_string()
}

fn default_apply_to() -> String {
    "all".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{json_map, EXAMPLE, POLICIES};
    use crate::config::Cli;

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.data_dir, PathBuf::from("./warren-data"));
        assert_eq!(c.node_name, "warren@localhost");
        assert_eq!(c.amqp.listen, "127.0.0.1:5672");
        assert_eq!(c.amqp.frame_max, 131_072);
        assert_eq!(c.amqp.channel_max, 2047);
        assert_eq!(c.amqp.heartbeat, 60);
        assert_eq!(c.http.listen, "127.0.0.1:15672");
        assert_eq!(
            c.resources.memory_high_watermark,
            MemoryWatermark::Fraction(0.4)
        );
        assert_eq!(c.resources.disk_free_limit, ByteSize(50_000_000));
        assert!(c.users.is_empty() && c.vhosts.is_empty() && c.permissions.is_empty());
        assert_eq!(Config::from_toml_str("").unwrap(), c);
        assert_eq!(Config::load(&Cli::default()).unwrap(), c);
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c = Config::from_toml_str("[amqp]\nheartbeat = 0\n").unwrap();
        assert_eq!(c.amqp.heartbeat, 0);
        assert_eq!(c.amqp.frame_max, 131_072);
        assert_eq!(c.http, HttpConfig::default());
    }

    #[test]
    fn example_file_parses() {
        let c = Config::from_toml_str(EXAMPLE).unwrap();
        let mut expected = Config::default();
        expected.users.push(UserDef {
            name: "admin".into(),
            password: Some("s3cret".into()),
            password_hash: None,
            tags: vec!["administrator".into()],
        });
        expected.vhosts.push(VhostDef {
            name: "/".into(),
            description: None,
        });
        expected.permissions.push(PermissionDef {
            user: "admin".into(),
            vhost: "/".into(),
            configure: ".*".into(),
            write: ".*".into(),
            read: ".*".into(),
        });
        assert_eq!(c, expected);
    }

    #[test]
    fn permission_patterns_default_to_match_all() {
        let c = Config::from_toml_str("[[permissions]]\nuser = \"u\"\nvhost = \"/\"\n").unwrap();
        let p = &c.permissions[0];
        assert_eq!((&*p.configure, &*p.write, &*p.read), (".*", ".*", ".*"));
    }

    #[test]
    fn policies_parse_with_defaults() {
        let c = Config::from_toml_str(POLICIES).unwrap();
        assert_eq!(
            c.policies,
            vec![
                PolicyDef {
                    name: "ttl".into(),
                    vhost: "/".into(),
                    pattern: "^q\\.".into(),
                    apply_to: "all".into(),
                    priority: 0,
                    definition: json_map(
                        serde_json::json!({"message-ttl": 60000, "dead-letter-exchange": "dlx"})
                    ),
                },
                PolicyDef {
                    name: "ae".into(),
                    vhost: "shop".into(),
                    pattern: "^orders$".into(),
                    apply_to: "exchanges".into(),
                    priority: 5,
                    definition: json_map(serde_json::json!({"alternate-exchange": "unrouted"})),
                },
            ]
        );
        let op = &c.operator_policies[0];
        assert_eq!(
            (op.name.as_str(), op.apply_to.as_str(), op.priority),
            ("cap", "queues", -1)
        );
        assert_eq!(op.definition["max-length"], serde_json::json!(100000));
        // Definitions as ordinary sub-tables work too.
        let c = Config::from_toml_str(
            "[[policies]]\nname = \"p\"\npattern = \"\"\n[policies.definition]\nmax-length = 3\n",
        )
        .unwrap();
        assert_eq!(c.policies[0].definition["max-length"], serde_json::json!(3));
    }
}
