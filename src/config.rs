//! Broker configuration: command-line flags, the TOML configuration file,
//! their defaults, validation, and the effective-configuration printer.
//!
//! This module owns:
//!
//! * [`Cli`], the `warren` command line (parsed with clap);
//! * [`Config`] and its sections, which mirror the TOML file layout one to one
//!   (every section and key is optional; unknown keys are rejected);
//! * [`Config::load`], which layers built-in defaults, the file given with
//!   `--config`, and command-line overrides, then validates the result;
//! * [`Config::to_toml`], which prints the effective configuration in the same
//!   layout, so `warren --print-config > f.toml && warren --config f.toml`
//!   starts an identically configured broker;
//! * size parsing ([`parse_size`], [`ByteSize`]) using RabbitMQ's units, and
//!   the memory high watermark ([`MemoryWatermark`]) resolved against physical
//!   RAM or the cgroup memory limit, whichever is lower.
//!
//! Errors ([`ConfigError`]) name the offending key (for example `amqp.listen`)
//! or command-line flag, and for file errors also the file path and the line
//! and column of the problem (TOML syntax errors have a location but no key).

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::policy_rules as policy;

/// Origin label used for configuration text that did not come from a file.
const STRING_ORIGIN: &str = "<config>";

/// Smallest frame size AMQP 0-9-1 allows a peer to negotiate.
pub const FRAME_MIN_SIZE: u32 = 4096;

/// Memory size assumed when neither `/proc/meminfo` nor a cgroup limit can be read.
const FALLBACK_TOTAL_MEMORY: u64 = 1 << 30;

/// cgroup v1 reports "no limit" as a page-aligned `i64::MAX`; anything at or
/// above this threshold is treated as unlimited.
const CGROUP_UNLIMITED_THRESHOLD: u64 = 1 << 62;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// The `warren` command line. Flags given here override the configuration file.
#[derive(clap::Parser, Debug, Default, Clone)]
#[command(
    name = "warren",
    version,
    about = "A RabbitMQ-compatible AMQP 0-9-1 broker"
)]
pub struct Cli {
    /// Path to a TOML configuration file (all keys optional).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Directory for persistent state (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// AMQP listen address, e.g. 0.0.0.0:5672 (overrides `amqp.listen`).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_arg)]
    pub amqp_listen: Option<String>,

    /// HTTP management API listen address, e.g. 0.0.0.0:15672 (overrides `http.listen`).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_arg)]
    pub http_listen: Option<String>,

    /// Node name reported to clients and the management API (overrides `node_name`).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// clap value parser for listen-address flags: validates, keeps the string.
fn parse_listen_arg(s: &str) -> Result<String, String> {
    check_socket_addr(s).map(|()| s.to_string())
}

// ---------------------------------------------------------------------------
// Configuration structures
// ---------------------------------------------------------------------------

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
    /// Socket address to listen on, e.g. `"0.0.0.0:5672"`.
    pub listen: String,
    /// Largest frame the broker accepts, in bytes (at least 4096).
    pub frame_max: u32,
    /// Largest channel number per connection; 0 in the file means 65535.
    pub channel_max: u16,
    /// Heartbeat interval offered to clients, in seconds (0 disables heartbeats).
    pub heartbeat: u16,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            listen: "127.0.0.1:5672".to_string(),
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
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
    /// Socket address to listen on, e.g. `"0.0.0.0:15672"`.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:15672".to_string(),
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

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or has a bad value.
    #[error("{}", format_invalid(.origin, .location, .key, .message))]
    Invalid {
        /// The file path, or `<config>` for text passed to [`Config::from_toml_str`].
        origin: String,
        /// 1-based line and column of the problem, when known.
        location: Option<(usize, usize)>,
        /// Dotted key path such as `amqp.listen` or `users[0].password`, when known.
        key: Option<String>,
        /// What is wrong (TOML's own message for syntax and type errors).
        message: String,
    },
    /// A command-line flag has a bad value.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--amqp-listen`.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn format_invalid(
    origin: &str,
    location: &Option<(usize, usize)>,
    key: &Option<String>,
    message: &str,
) -> String {
    let mut out = origin.to_string();
    if let Some((line, column)) = location {
        out.push_str(&format!(":{line}:{column}"));
    }
    out.push_str(": ");
    if let Some(key) = key {
        out.push_str(key);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

/// A validation failure before it is placed in its source file.
#[derive(Debug)]
struct Problem {
    key: String,
    message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Loading, validation, printing
// ---------------------------------------------------------------------------

impl Config {
    /// Builds the effective configuration: built-in defaults, then the file
    /// named by `--config` (if any), then command-line overrides.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        config.apply_cli(cli)?;
        Ok(config)
    }

    /// Reads and parses a configuration file; errors carry the file path.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::parse(&text, &path.display().to_string())?;
        tracing::debug!(path = %path.display(), "loaded configuration file");
        Ok(config)
    }

    /// Parses and validates configuration text. Missing keys take defaults.
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        Self::parse(s, STRING_ORIGIN)
    }

    /// Renders the configuration as TOML in the file layout; the output
    /// parses back to an equal [`Config`] with [`Config::from_toml_str`].
    pub fn to_toml(&self) -> String {
        match toml::to_string_pretty(self) {
            Ok(body) => format!("# Effective Warren configuration\n\n{body}"),
            // Only reachable with a non-UTF-8 data_dir; keep --print-config usable.
            Err(e) => format!("# cannot render configuration as TOML: {e}\n"),
        }
    }

    /// The memory high watermark in bytes. A fraction is applied to the
    /// memory available to this process (see [`total_memory_bytes`]).
    pub fn memory_limit_bytes(&self) -> u64 {
        match self.resources.memory_high_watermark {
            MemoryWatermark::Absolute(bytes) => bytes,
            fraction => fraction.resolve(total_memory_bytes()),
        }
    }

    fn parse(s: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(s).map_err(|e| toml_error(s, origin, &e))?;
        config.normalize();
        config.validate().map_err(|p| problem_error(s, origin, p))?;
        Ok(config)
    }

    /// Maps RabbitMQ's "0 = no limit" spellings to concrete values.
    fn normalize(&mut self) {
        if self.amqp.channel_max == 0 {
            self.amqp.channel_max = u16::MAX;
        }
    }

    fn validate(&self) -> Result<(), Problem> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(Problem::new("data_dir", "must not be empty"));
        }
        if self.node_name.trim().is_empty() {
            return Err(Problem::new("node_name", "must not be empty"));
        }
        self.amqp.validate()?;
        check_socket_addr(&self.http.listen).map_err(|m| Problem::new("http.listen", m))?;
        self.resources.validate()?;
        validate_users(&self.users)?;
        validate_vhosts(&self.vhosts)?;
        validate_permissions(&self.permissions)?;
        validate_policies("policies", &self.policies, policy::validate_definition)?;
        validate_policies(
            "operator_policies",
            &self.operator_policies,
            policy::validate_operator_definition,
        )
    }

    fn apply_cli(&mut self, cli: &Cli) -> Result<(), ConfigError> {
        if let Some(dir) = &cli.data_dir {
            if dir.as_os_str().is_empty() {
                return Err(flag_error("--data-dir", "must not be empty"));
            }
            self.data_dir = dir.clone();
        }
        if let Some(name) = &cli.node_name {
            if name.trim().is_empty() {
                return Err(flag_error("--node-name", "must not be empty"));
            }
            self.node_name = name.clone();
        }
        if let Some(addr) = &cli.amqp_listen {
            check_socket_addr(addr).map_err(|m| flag_error("--amqp-listen", m))?;
            self.amqp.listen = addr.clone();
        }
        if let Some(addr) = &cli.http_listen {
            check_socket_addr(addr).map_err(|m| flag_error("--http-listen", m))?;
            self.http.listen = addr.clone();
        }
        Ok(())
    }
}

impl AmqpConfig {
    fn validate(&self) -> Result<(), Problem> {
        check_socket_addr(&self.listen).map_err(|m| Problem::new("amqp.listen", m))?;
        if self.frame_max < FRAME_MIN_SIZE {
            return Err(Problem::new(
                "amqp.frame_max",
                format!(
                    "must be at least {FRAME_MIN_SIZE} bytes, got {}",
                    self.frame_max
                ),
            ));
        }
        Ok(())
    }
}

impl ResourcesConfig {
    fn validate(&self) -> Result<(), Problem> {
        let key = "resources.memory_high_watermark";
        match self.memory_high_watermark {
            MemoryWatermark::Fraction(f) if !(f > 0.0 && f <= 1.0) => Err(Problem::new(
                key,
                format!("fraction must be greater than 0 and at most 1, got {f}"),
            )),
            MemoryWatermark::Absolute(0) => Err(Problem::new(key, "must be greater than 0")),
            _ if !(self.memory_paging_ratio > 0.0 && self.memory_paging_ratio.is_finite()) => {
                Err(Problem::new(
                    "resources.memory_paging_ratio",
                    format!("must be greater than 0, got {}", self.memory_paging_ratio),
                ))
            }
            _ => Ok(()),
        }
    }
}

fn validate_users(users: &[UserDef]) -> Result<(), Problem> {
    for (i, user) in users.iter().enumerate() {
        let key = format!("users[{i}]");
        if user.name.is_empty() {
            return Err(Problem::new(format!("{key}.name"), "must not be empty"));
        }
        if user.password.is_some() == user.password_hash.is_some() {
            return Err(Problem::new(
                key,
                format!(
                    "user '{}' must set exactly one of password or password_hash",
                    user.name
                ),
            ));
        }
        if users[..i].iter().any(|u| u.name == user.name) {
            return Err(Problem::new(
                format!("{key}.name"),
                format!("user '{}' is defined more than once", user.name),
            ));
        }
    }
    Ok(())
}

fn validate_vhosts(vhosts: &[VhostDef]) -> Result<(), Problem> {
    for (i, vhost) in vhosts.iter().enumerate() {
        let key = format!("vhosts[{i}].name");
        if vhost.name.is_empty() {
            return Err(Problem::new(key, "must not be empty"));
        }
        if vhosts[..i].iter().any(|v| v.name == vhost.name) {
            return Err(Problem::new(
                key,
                format!("vhost '{}' is defined more than once", vhost.name),
            ));
        }
    }
    Ok(())
}

fn validate_permissions(permissions: &[PermissionDef]) -> Result<(), Problem> {
    for (i, perm) in permissions.iter().enumerate() {
        if perm.user.is_empty() {
            return Err(Problem::new(
                format!("permissions[{i}].user"),
                "must not be empty",
            ));
        }
        if perm.vhost.is_empty() {
            return Err(Problem::new(
                format!("permissions[{i}].vhost"),
                "must not be empty",
            ));
        }
        let duplicate = permissions[..i]
            .iter()
            .any(|p| p.user == perm.user && p.vhost == perm.vhost);
        if duplicate {
            return Err(Problem::new(
                format!("permissions[{i}]"),
                format!(
                    "permissions for user '{}' in vhost '{}' are defined more than once",
                    perm.user, perm.vhost
                ),
            ));
        }
    }
    Ok(())
}

/// Validates `[[policies]]` (or `[[operator_policies]]`, named by `section`)
/// with the broker's policy rules; errors name the offending key.
fn validate_policies(
    section: &str,
    policies: &[PolicyDef],
    check_definition: fn(&serde_json::Map<String, serde_json::Value>) -> Result<(), String>,
) -> Result<(), Problem> {
    for (i, p) in policies.iter().enumerate() {
        let key = |field: &str| format!("{section}[{i}].{field}");
        if p.name.is_empty() {
            return Err(Problem::new(key("name"), "must not be empty"));
        }
        if p.vhost.is_empty() {
            return Err(Problem::new(key("vhost"), "must not be empty"));
        }
        policy::compile_pattern(&p.pattern).map_err(|m| Problem::new(key("pattern"), m))?;
        policy::ApplyTo::parse(&p.apply_to).map_err(|m| Problem::new(key("apply_to"), m))?;
        check_definition(&p.definition).map_err(|m| Problem::new(key("definition"), m))?;
        if policies[..i]
            .iter()
            .any(|q| q.name == p.name && q.vhost == p.vhost)
        {
            return Err(Problem::new(
                key("name"),
                format!(
                    "policy '{}' in vhost '{}' is defined more than once",
                    p.name, p.vhost
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `s` is a literal socket address such as `127.0.0.1:5672` or `[::]:5672`.
fn check_socket_addr(s: &str) -> Result<(), String> {
    s.parse::<SocketAddr>()
        .map(|_| ())
        .map_err(|_| format!("invalid socket address '{s}' (expected IP:PORT, e.g. 0.0.0.0:5672)"))
}

fn flag_error(flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Flag {
        flag,
        message: message.into(),
    }
}

/// Converts a TOML/serde error into a [`ConfigError`] naming the key it is about.
fn toml_error(src: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let key = span
        .as_ref()
        .and_then(|span| KeyIndex::build(src).key_at(span.start));
    ConfigError::Invalid {
        origin: origin.to_string(),
        location: span.map(|span| line_column(src, span.start)),
        key,
        message: e.message().trim_end().replace('\n', "; "),
    }
}

/// Converts a validation [`Problem`] into a [`ConfigError`], locating its key in `src`.
fn problem_error(src: &str, origin: &str, problem: Problem) -> ConfigError {
    let location = KeyIndex::build(src)
        .span_of(&problem.key)
        .map(|span| line_column(src, span.start));
    ConfigError::Invalid {
        origin: origin.to_string(),
        location,
        key: Some(problem.key),
        message: problem.message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `src`.
fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let before = &src[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// ---------------------------------------------------------------------------
// Key index: maps byte offsets in the TOML source back to dotted key paths
// ---------------------------------------------------------------------------

/// Every key in a TOML document with the spans of the key and of its value.
///
/// serde errors from `toml` carry a span but not the key path; this index,
/// built from a second, schema-less parse, recovers the path for messages.
#[derive(Debug, Default)]
struct KeyIndex {
    entries: Vec<KeyEntry>,
}

#[derive(Debug)]
struct KeyEntry {
    path: String,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
}

impl KeyIndex {
    /// Indexes `src`; an unparsable document yields an empty index.
    fn build(src: &str) -> KeyIndex {
        let mut index = KeyIndex::default();
        if let Ok(root) = toml::from_str::<SpannedNode>(src) {
            index.add_children("", &root);
        }
        index
    }

    fn add_children(&mut self, prefix: &str, node: &SpannedNode) {
        match node.as_ref() {
            Node::Table(children) => {
                for (key, child) in children {
                    let path = if prefix.is_empty() {
                        key.as_ref().clone()
                    } else {
                        format!("{prefix}.{}", key.as_ref())
                    };
                    self.add(path, Some(key.span()), child);
                }
            }
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.add(format!("{prefix}[{i}]"), None, item);
                }
            }
            Node::Leaf => {}
        }
    }

    fn add(&mut self, path: String, key_span: Option<Range<usize>>, node: &SpannedNode) {
        self.add_children(&path, node);
        self.entries.push(KeyEntry {
            path,
            key_span,
            value_span: node.span(),
        });
    }

    /// The deepest key whose name or value covers byte `offset`.
    fn key_at(&self, offset: usize) -> Option<String> {
        let covers =
            |span: &Range<usize>| span.start <= offset && offset < span.end.max(span.start + 1);
        self.entries
            .iter()
            .filter(|e| covers(&e.value_span) || e.key_span.as_ref().is_some_and(covers))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.clone())
    }

    /// Where the value of `path` starts (or its key, if the value has no span).
    fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let entry = self.entries.iter().find(|e| e.path == path)?;
        match &entry.key_span {
            Some(key_span) if entry.value_span.is_empty() => Some(key_span.clone()),
            _ => Some(entry.value_span.clone()),
        }
    }
}

type SpannedNode = toml::Spanned<Node>;

/// A schema-less TOML value that keeps spans of nested keys and values.
#[derive(Debug)]
enum Node {
    Table(Vec<(toml::Spanned<String>, SpannedNode)>),
    Array(Vec<SpannedNode>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut children = Vec::new();
        while let Some(key) = map.next_key()? {
            children.push((key, map.next_value()?));
        }
        Ok(Node::Table(children))
    }
}

// ---------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------

/// Size units accepted by [`parse_size`], largest first (used for printing too).
const SIZE_UNITS: &[(&str, u64)] = &[
    ("TiB", 1 << 40),
    ("TB", 1_000_000_000_000),
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("KiB", 1 << 10),
    ("kB", 1_000),
];

/// Parses a byte size the way RabbitMQ's configuration does.
///
/// Accepts a plain integer (bytes) or an integer followed by a unit:
/// `kB`/`KB`, `MB`, `GB`, `TB` (powers of 1000) or `KiB`/`kiB`, `MiB`, `GiB`,
/// `TiB` (powers of 1024); whitespace between number and unit is allowed.
/// Single-letter units (`M`, `G`, ...) are rejected as ambiguous, as are
/// fractions, signs and overflowing values.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let trimmed = s.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "invalid size '{s}': expected a whole number of bytes, optionally with a unit such as MB or MiB"
        ));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size '{s}': number too large"))?;
    let multiplier =
        unit_multiplier(unit.trim_start()).map_err(|m| format!("invalid size '{s}': {m}"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("invalid size '{s}': value too large"))
}

fn unit_multiplier(unit: &str) -> Result<u64, String> {
    match unit {
        "" => Ok(1),
        "KB" => Ok(1_000),
        "kiB" => Ok(1 << 10),
        _ => SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, multiplier)| multiplier)
            .ok_or_else(|| unknown_unit_message(unit)),
    }
}

fn unknown_unit_message(unit: &str) -> String {
    if unit.starts_with('.') {
        return "fractional sizes are not supported; use a smaller unit".to_string();
    }
    let upper = unit.to_ascii_uppercase();
    if matches!(upper.as_str(), "K" | "M" | "G" | "T") {
        let dec = if upper == "K" {
            "kB"
        } else {
            &format!("{upper}B")
        };
        return format!("ambiguous unit '{unit}': write '{dec}' (powers of 1000) or '{upper}iB' (powers of 1024)");
    }
    format!("unknown unit '{unit}' (expected one of kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
}

/// Formats `bytes` with the largest unit that divides it exactly, or `None`
/// when no unit does (including zero).
fn format_size_with_unit(bytes: u64) -> Option<String> {
    if bytes == 0 {
        return None;
    }
    SIZE_UNITS
        .iter()
        .find(|&&(_, multiplier)| bytes.is_multiple_of(multiplier))
        .map(|&(name, multiplier)| format!("{}{name}", bytes / multiplier))
}

/// A number of bytes. In TOML it is an integer (bytes) or a size string as
/// accepted by [`parse_size`], e.g. `"50MB"` or `"512MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match format_size_with_unit(self.0) {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size(s).map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match format_size_with_unit(self.0) {
            Some(s) => serializer.serialize_str(&s),
            // TOML integers are signed 64-bit; larger values go out as strings.
            None => match i64::try_from(self.0) {
                Ok(n) => serializer.serialize_i64(n),
                Err(_) => serializer.serialize_str(&self.0.to_string()),
            },
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizeVisitor).map(ByteSize)
    }
}

/// Reads a size: a non-negative integer or a size string.
struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of bytes or a size string such as \"50MB\" or \"512MiB\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("size must not be negative, got {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

// ---------------------------------------------------------------------------
// Memory watermark and total memory detection
// ---------------------------------------------------------------------------

/// The memory high watermark: a fraction of available memory (TOML float,
/// e.g. `0.4`) or an absolute size (integer bytes or a size string, e.g. `"512MiB"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryWatermark {
    /// Fraction of total memory, in (0, 1].
    Fraction(f64),
    /// Absolute limit in bytes.
    Absolute(u64),
}

impl MemoryWatermark {
    /// The watermark in bytes given `total_memory` bytes of available memory.
    pub fn resolve(self, total_memory: u64) -> u64 {
        match self {
            MemoryWatermark::Fraction(f) => (total_memory as f64 * f) as u64,
            MemoryWatermark::Absolute(bytes) => bytes,
        }
    }
}

impl Serialize for MemoryWatermark {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            MemoryWatermark::Fraction(f) => serializer.serialize_f64(f),
            MemoryWatermark::Absolute(bytes) => ByteSize(bytes).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MemoryWatermark {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WatermarkVisitor)
    }
}

/// Reads a watermark: floats are fractions, integers and strings are sizes.
struct WatermarkVisitor;

impl Visitor<'_> for WatermarkVisitor {
    type Value = MemoryWatermark;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a fraction such as 0.4 or a size such as \"512MiB\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MemoryWatermark, E> {
        Ok(MemoryWatermark::Fraction(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MemoryWatermark, E> {
        SizeVisitor.visit_u64(v).map(MemoryWatermark::Absolute)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MemoryWatermark, E> {
        SizeVisitor.visit_i64(v).map(MemoryWatermark::Absolute)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<MemoryWatermark, E> {
        SizeVisitor.visit_str(v).map(MemoryWatermark::Absolute)
    }
}

/// Memory available to this process: physical RAM (`/proc/meminfo` MemTotal)
/// or the cgroup v2/v1 memory limit, whichever is lower. Falls back to 1 GiB
/// (with a warning) when nothing can be read, e.g. on non-Linux systems.
pub fn total_memory_bytes() -> u64 {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let meminfo = read("/proc/meminfo");
    let cgroup_v2 = read("/sys/fs/cgroup/memory.max");
    let cgroup_v1 = read("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    effective_total_memory(
        meminfo.as_deref(),
        cgroup_v2.as_deref(),
        cgroup_v1.as_deref(),
    )
    .unwrap_or_else(|| {
        tracing::warn!(
            bytes = FALLBACK_TOTAL_MEMORY,
            "cannot determine total memory; assuming 1 GiB"
        );
        FALLBACK_TOTAL_MEMORY
    })
}

/// Combines the contents of `/proc/meminfo` and the cgroup limit files
/// (each `None` if unreadable) into the memory available, if any is known.
pub fn effective_total_memory(
    meminfo: Option<&str>,
    cgroup_v2: Option<&str>,
    cgroup_v1: Option<&str>,
) -> Option<u64> {
    let physical = meminfo.and_then(parse_meminfo_total);
    let cgroup = cgroup_v2
        .and_then(parse_cgroup_limit)
        .or_else(|| cgroup_v1.and_then(parse_cgroup_limit));
    match (physical, cgroup) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    }
}

/// Extracts `MemTotal` (reported in kB, i.e. KiB) from `/proc/meminfo` contents, in bytes.
pub fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// Parses a cgroup memory limit file: `None` for "max" (v2), unlimited
/// (v1's huge sentinel), zero, or anything unreadable; otherwise bytes.
pub fn parse_cgroup_limit(contents: &str) -> Option<u64> {
    let value: u64 = contents.trim().parse().ok()?;
    (value > 0 && value < CGROUP_UNLIMITED_THRESHOLD).then_some(value)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const EXAMPLE: &str = r#"
data_dir = "./warren-data"
node_name = "warren@localhost"
[amqp]
listen = "127.0.0.1:5672"
frame_max = 131072
channel_max = 2047
heartbeat = 60
[http]
listen = "127.0.0.1:15672"
[resources]
memory_high_watermark = 0.4
disk_free_limit = "50MB"
[[users]]
name = "admin"
password = "s3cret"
tags = ["administrator"]
[[vhosts]]
name = "/"
[[permissions]]
user = "admin"
vhost = "/"
configure = ".*"
write = ".*"
read = ".*"
"#;

    fn err(src: &str) -> String {
        match Config::from_toml_str(src) {
            Ok(c) => panic!("expected an error for {src:?}, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_err_contains(src: &str, needles: &[&str]) {
        let msg = err(src);
        for needle in needles {
            assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
        }
    }

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
    fn unknown_top_level_key_is_named() {
        assert_err_contains(
            "data_dir = \"x\"\nbogus_key = 1\n",
            &["bogus_key", "<config>:2:1"],
        );
    }

    #[test]
    fn unknown_key_in_amqp_is_named() {
        assert_err_contains(
            "[amqp]\nframe_max = 8192\nheartbeet = 10\n",
            &["amqp.heartbeet", "unknown field `heartbeet`", ":3:1"],
        );
    }

    #[test]
    fn unknown_key_in_users_is_named() {
        let src = "[[users]]\nname = \"a\"\npassword = \"p\"\n\n[[users]]\nname = \"b\"\npasword = \"p\"\n";
        assert_err_contains(
            src,
            &["users[1].pasword", "unknown field `pasword`", ":7:1"],
        );
    }

    #[test]
    fn syntax_error_reports_location() {
        assert_err_contains("[amqp\nlisten = 1\n", &["<config>:1:"]);
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[amqp]\nframe_max = \"abc\"\n",
                &["amqp.frame_max", ":2:13", "u32"],
            ),
            (
                "[amqp]\nlisten = \"nonsense\"\n",
                &["amqp.listen: invalid socket address 'nonsense'", ":2:10"],
            ),
            (
                "[http]\nlisten = \"localhost\"\n",
                &["http.listen: invalid socket address"],
            ),
            ("[amqp]\nheartbeat = -1\n", &["amqp.heartbeat", "-1"]),
            (
                "[amqp]\nframe_max = 1024\n",
                &["amqp.frame_max: must be at least 4096"],
            ),
            ("[amqp]\nchannel_max = 70000\n", &["amqp.channel_max"]),
            (
                "[resources]\nmemory_high_watermark = 1.5\n",
                &["resources.memory_high_watermark", "at most 1"],
            ),
            (
                "[resources]\nmemory_high_watermark = 0.0\n",
                &["resources.memory_high_watermark"],
            ),
            (
                "[resources]\nmemory_paging_ratio = 0.0\n",
                &["resources.memory_paging_ratio", "greater than 0"],
            ),
            (
                "[resources]\nmemory_paging_ratio = \"half\"\n",
                &["resources.memory_paging_ratio"],
            ),
            (
                "[resources]\nmemory_high_watermark = \"lots\"\n",
                &["resources.memory_high_watermark", "invalid size 'lots'"],
            ),
            (
                "[resources]\ndisk_free_limit = \"50XB\"\n",
                &["resources.disk_free_limit", "unknown unit 'XB'"],
            ),
            (
                "[resources]\ndisk_free_limit = -5\n",
                &["resources.disk_free_limit", "negative"],
            ),
            ("node_name = \"\"\n", &["node_name: must not be empty"]),
            (
                "[[users]]\ntags = []\n",
                &["users[0]", "missing field `name`"],
            ),
            (
                "[[users]]\nname = \"a\"\ntags = [\"x\", 3]\n",
                &["users[0].tags[1]"],
            ),
        ];
        for (src, needles) in cases {
            assert_err_contains(src, needles);
        }
    }

    #[test]
    fn user_needs_exactly_one_password_form() {
        assert_err_contains(
            "[[users]]\nname = \"bob\"\n",
            &[
                "users[0]",
                "'bob'",
                "exactly one of password or password_hash",
            ],
        );
        assert_err_contains(
            "[[users]]\nname = \"eve\"\npassword = \"a\"\npassword_hash = \"b\"\n",
            &["'eve'", "exactly one"],
        );
        let c = Config::from_toml_str(
            "[[users]]\nname = \"h\"\npassword_hash = \"abc=\"\ntags = [\"whatever\"]\n",
        )
        .unwrap();
        assert_eq!(c.users[0].password_hash.as_deref(), Some("abc="));
        assert_eq!(c.users[0].tags, ["whatever"]);
    }

    #[test]
    fn duplicate_definitions_are_rejected() {
        assert_err_contains(
            "[[vhosts]]\nname = \"/\"\n[[vhosts]]\nname = \"/\"\n",
            &["vhosts[1].name", "more than once"],
        );
        assert_err_contains(
            "[[users]]\nname = \"a\"\npassword = \"x\"\n[[users]]\nname = \"a\"\npassword = \"y\"\n",
            &["users[1].name", "more than once"],
        );
    }

    const POLICIES: &str = r#"
[[policies]]
name = "ttl"
pattern = "^q\\."
definition = { "message-ttl" = 60000, "dead-letter-exchange" = "dlx" }

[[policies]]
name = "ae"
vhost = "shop"
pattern = "^orders$"
apply_to = "exchanges"
priority = 5
definition = { "alternate-exchange" = "unrouted" }

[[operator_policies]]
name = "cap"
pattern = ".*"
apply_to = "queues"
priority = -1
definition = { "max-length" = 100000, "expires" = 3600000 }
"#;

    fn json_map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
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

    #[test]
    fn bad_policies_name_the_key() {
        let policy = |fields: &str| format!("[[policies]]\nname = \"p\"\n{fields}\n");
        let cases: Vec<(String, Vec<&str>)> = vec![
            (
                policy("pattern = \".*\"\ndefinition = { expires = 0 }"),
                vec!["<config>:4:", "policies[0].definition: 0 is not a valid queue expiry"],
            ),
            (
                policy("pattern = \".*\"\ndefinition = { \"message-ttl\" = 1.5 }"),
                vec!["policies[0].definition: 1.5 is not a valid message TTL"],
            ),
            (
                policy("pattern = \".*\"\ndefinition = { bogus = 1 }"),
                vec![r#"policies[0].definition: [{<<"bogus">>,1}] are not recognised policy settings"#],
            ),
            (
                policy("pattern = \".*\"\ndefinition = {}"),
                vec!["policies[0].definition: no policy provided"],
            ),
            (
                policy("pattern = \"(\"\ndefinition = { max-length = 1 }"),
                vec![
                    "<config>:3:11",
                    "policies[0].pattern: pattern should be regular expression but is invalid",
                ],
            ),
            (
                policy("pattern = \".*\"\napply_to = \"topics\"\ndefinition = { max-length = 1 }"),
                vec!["policies[0].apply_to: apply-to 'topics' unrecognised; should be 'queues', 'exchanges' or 'all'"],
            ),
            (
                policy("pattern = \".*\"\npriority = 1.5\ndefinition = { max-length = 1 }"),
                vec!["policies[0].priority", "i32"],
            ),
            (
                policy("pattern = \".*\"\ndefinition = { max-length = 1 }\napply-to = \"all\""),
                vec!["policies[0].apply-to", "unknown field `apply-to`"],
            ),
            (policy("pattern = \".*\""), vec!["policies[0]", "missing field `definition`"]),
            (
                policy("pattern = \".*\"\nvhost = \"\"\ndefinition = { max-length = 1 }"),
                vec!["policies[0].vhost: must not be empty"],
            ),
            (
                format!(
                    "{}{}",
                    policy("pattern = \"a\"\ndefinition = { max-length = 1 }"),
                    policy("pattern = \"b\"\ndefinition = { max-length = 2 }")
                ),
                vec!["policies[1].name: policy 'p' in vhost '/' is defined more than once"],
            ),
            (
                "[[operator_policies]]\nname = \"o\"\npattern = \".*\"\ndefinition = { overflow = \"drop-head\" }\n"
                    .to_string(),
                vec![r#"operator_policies[0].definition: [{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings"#],
            ),
            (
                "[[operator_policies]]\nname = \"o\"\npattern = \".*\"\ndefinition = { expires = -1 }\n"
                    .to_string(),
                vec!["operator_policies[0].definition: -1 is not a valid queue expiry"],
            ),
        ];
        for (src, needles) in &cases {
            assert_err_contains(src, needles);
        }
    }

    #[test]
    fn policies_round_trip_through_to_toml() {
        let mut c = Config::from_toml_str(POLICIES).unwrap();
        c.policies.push(PolicyDef {
            name: "mirrored".into(),
            vhost: "/".into(),
            pattern: "^ha\\.".into(),
            apply_to: "queues".into(),
            priority: 2,
            definition: json_map(serde_json::json!({
                "ha-mode": "nodes", "ha-params": ["rabbit@a", "rabbit@b"], "overflow": "reject-publish"
            })),
        });
        let text = c.to_toml();
        let back = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, c, "{text}");
        assert!(text.contains("[[operator_policies]]"), "{text}");
        assert!(!Config::default().to_toml().contains("policies"));
    }

    #[test]
    fn channel_max_zero_means_no_limit() {
        let c = Config::from_toml_str("[amqp]\nchannel_max = 0\n").unwrap();
        assert_eq!(c.amqp.channel_max, 65535);
    }

    #[test]
    fn memory_watermark_forms() {
        let wm = |src: &str| {
            Config::from_toml_str(&format!("[resources]\nmemory_high_watermark = {src}\n"))
                .unwrap()
                .resources
                .memory_high_watermark
        };
        assert_eq!(wm("0.5"), MemoryWatermark::Fraction(0.5));
        assert_eq!(wm("1.0"), MemoryWatermark::Fraction(1.0));
        assert_eq!(wm("\"512MiB\""), MemoryWatermark::Absolute(536_870_912));
        assert_eq!(wm("1073741824"), MemoryWatermark::Absolute(1 << 30));
        assert_eq!(MemoryWatermark::Fraction(0.5).resolve(1000), 500);
        assert_eq!(MemoryWatermark::Absolute(7).resolve(1000), 7);
    }

    #[test]
    fn memory_limit_bytes_resolves() {
        let mut c = Config::default();
        c.resources.memory_high_watermark = MemoryWatermark::Absolute(123);
        assert_eq!(c.memory_limit_bytes(), 123);
        c.resources.memory_high_watermark = MemoryWatermark::Fraction(1.0);
        assert!(c.memory_limit_bytes() > 0);
    }

    #[test]
    fn file_errors_carry_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warren.toml");
        std::fs::write(&path, "[amqp]\nlisten = \"nonsense\"\n").unwrap();
        let cli = Cli {
            config: Some(path.clone()),
            ..Cli::default()
        };
        let msg = Config::load(&cli).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:2:10: amqp.listen", path.display())),
            "{msg}"
        );

        let missing = Cli {
            config: Some(dir.path().join("absent.toml")),
            ..Cli::default()
        };
        let err = Config::load(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("absent.toml"));
    }

    #[test]
    fn cli_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warren.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let cli = Cli::try_parse_from([
            "warren",
            "--config",
            path.to_str().unwrap(),
            "--data-dir",
            "/var/lib/warren",
            "--amqp-listen",
            "0.0.0.0:5673",
            "--http-listen",
            "[::1]:15673",
            "--node-name",
            "rabbit@box",
        ])
        .unwrap();
        let c = Config::load(&cli).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/warren"));
        assert_eq!(c.amqp.listen, "0.0.0.0:5673");
        assert_eq!(c.http.listen, "[::1]:15673");
        assert_eq!(c.node_name, "rabbit@box");
        assert_eq!(c.users.len(), 1, "file values not overridden are kept");
        assert!(!cli.print_config);
    }

    #[test]
    fn bad_cli_flags_are_named() {
        let clap_err = Cli::try_parse_from(["warren", "--amqp-listen", "nope"]).unwrap_err();
        assert!(clap_err.to_string().contains("--amqp-listen"), "{clap_err}");

        let cli = Cli {
            http_listen: Some("nope".into()),
            ..Cli::default()
        };
        let msg = Config::load(&cli).unwrap_err().to_string();
        assert!(
            msg.starts_with("--http-listen: invalid socket address 'nope'"),
            "{msg}"
        );
    }

    #[test]
    fn print_config_flag_parses() {
        let cli = Cli::try_parse_from(["warren", "--print-config"]).unwrap();
        assert!(cli.print_config);
    }

    #[test]
    fn to_toml_round_trips() {
        let mut c = Config::from_toml_str(EXAMPLE).unwrap();
        c.users.push(UserDef {
            name: "hashed".into(),
            password: None,
            password_hash: Some("c2FsdHNhbHQ=".into()),
            tags: vec![],
        });
        c.vhosts.push(VhostDef {
            name: "test".into(),
            description: Some("for tests".into()),
        });
        c.resources.disk_free_limit = ByteSize(1234567);
        for wm in [
            MemoryWatermark::Fraction(0.4),
            MemoryWatermark::Fraction(1.0),
            MemoryWatermark::Absolute(536_870_912),
            MemoryWatermark::Absolute(12345),
        ] {
            c.resources.memory_high_watermark = wm;
            let text = c.to_toml();
            let back = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back, c, "{text}");
        }
        let default_text = Config::default().to_toml();
        assert_eq!(
            Config::from_toml_str(&default_text).unwrap(),
            Config::default()
        );
        assert!(
            default_text.contains("[amqp]") && default_text.contains("disk_free_limit = \"50MB\"")
        );
    }

    #[test]
    fn byte_size_serialization_round_trips() {
        for n in [0, 1, 12, 1000, 1024, 50_000_000, 536_870_912, u64::MAX] {
            let text = ByteSize(n).to_string();
            assert_eq!(parse_size(&text), Ok(n), "{text}");
        }
        assert_eq!(ByteSize(50_000_000).to_string(), "50MB");
        assert_eq!(ByteSize(3 << 30).to_string(), "3GiB");
    }

    #[test]
    fn size_parsing() {
        let ok: &[(&str, u64)] = &[
            ("12", 12),
            ("0", 0),
            ("50MB", 50_000_000),
            ("512MiB", 536_870_912),
            ("1GB", 1_000_000_000),
            ("2GiB", 2 << 30),
            ("1TB", 1_000_000_000_000),
            ("1TiB", 1 << 40),
            ("5kB", 5000),
            ("5KB", 5000),
            ("5KiB", 5120),
            ("5kiB", 5120),
            (" 50 MB ", 50_000_000),
        ];
        for &(input, expected) in ok {
            assert_eq!(parse_size(input), Ok(expected), "{input}");
        }
        let bad = [
            "",
            "MB",
            "abc",
            "-5",
            "+5",
            "1.5GB",
            "50XB",
            "50M",
            "1g",
            "50mb",
            "5 5",
            "99999999999999999999",
            "99999999999TiB",
        ];
        for input in bad {
            assert!(parse_size(input).is_err(), "{input:?} should be rejected");
        }
        assert!(parse_size("50M").unwrap_err().contains("'MB'"));
        assert!(parse_size("50M").unwrap_err().contains("'MiB'"));
    }

    #[test]
    fn cgroup_limit_parsing() {
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit("0"), None);
        assert_eq!(parse_cgroup_limit("garbage"), None);
    }

    #[test]
    fn meminfo_parsing() {
        let meminfo = "MemTotal:       16318412 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_meminfo_total(meminfo), Some(16_318_412 * 1024));
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo_total(""), None);
    }

    #[test]
    fn total_memory_takes_the_lower_bound() {
        let meminfo = Some("MemTotal: 2097152 kB\n"); // 2 GiB
        let gib = 1u64 << 30;
        assert_eq!(
            effective_total_memory(meminfo, Some("max\n"), None),
            Some(2 * gib)
        );
        assert_eq!(
            effective_total_memory(meminfo, Some("1073741824\n"), None),
            Some(gib)
        );
        assert_eq!(
            effective_total_memory(meminfo, None, Some("9223372036854771712\n")),
            Some(2 * gib)
        );
        assert_eq!(
            effective_total_memory(meminfo, None, Some("536870912\n")),
            Some(gib / 2)
        );
        assert_eq!(
            effective_total_memory(meminfo, Some("8589934592"), None),
            Some(2 * gib),
            "a cgroup limit above physical RAM does not raise the total"
        );
        assert_eq!(effective_total_memory(None, Some("4096"), None), Some(4096));
        assert_eq!(effective_total_memory(None, None, None), None);
        assert!(total_memory_bytes() > 0);
    }
}
