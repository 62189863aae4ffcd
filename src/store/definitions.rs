//! On-disk metadata in RabbitMQ's definitions format.
//!
//! This module owns the durable metadata file: users, vhosts, permissions,
//! policies and operator policies, durable exchanges, durable queues and
//! their bindings, stored as the JSON
//! RabbitMQ produces with `GET /api/definitions` (or
//! `rabbitmqctl export_definitions`). A file written here can be imported
//! into RabbitMQ 3.10 and a RabbitMQ export can be loaded here.
//!
//! Compatibility notes (checked against RabbitMQ 3.10.8):
//! * Sections and fields Warren does not model (a vhost's `metadata`, say) are
//!   ignored on read and not written back.
//! * Policies are the `policies` section: `{vhost, name, pattern,
//!   "apply-to", definition, priority}`. RabbitMQ 3.10 has no
//!   operator-policy section: it exports operator policies as runtime
//!   parameters, `{"value": {pattern, definition, priority, "apply-to"},
//!   "vhost", "component": "operator_policy", "name"}` in `parameters`.
//!   Warren reads and writes them there too, and exposes them as
//!   [`Definitions::operator_policies`].
//! * User `tags` are an array in 3.10 exports and a comma-separated string
//!   in older ones; both are read, an array is written.
//! * 3.10 exports vhosts as `{"name": ...}` only (no description); a
//!   description is read if present and written only when non-empty.
//! * The per-vhost export (`GET /api/definitions/{vhost}`) has no `vhost`
//!   fields; such entries load with an empty `vhost` for the caller to fill.
//!
//! It also owns the JSON <-> AMQP field-table mapping used for `arguments`
//! (RabbitMQ's `rabbit_mgmt_format:amqp_table/1` and `to_amqp_table/1`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use amq_protocol::types::{AMQPValue, DecimalValue, FieldArray, FieldTable, ShortString};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Version string written when none is known.
pub const DEFAULT_RABBIT_VERSION: &str = "3.10.8";
/// Hashing algorithm written for users when none is given.
pub const DEFAULT_HASHING_ALGORITHM: &str = "rabbit_password_hashing_sha256";

/// Errors from [`load`] and [`save`].
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    /// The file exists but could not be read.
    #[error("cannot read definitions file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The file is not valid definitions JSON.
    #[error("cannot parse definitions file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The definitions could not be turned into JSON.
    #[error("cannot serialise definitions: {0}")]
    Serialize(serde_json::Error),
    /// Writing, syncing or renaming the file failed.
    #[error("cannot write definitions file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// The whole metadata file. (Serialised through [`repr::Repr`], which keeps RabbitMQ's
/// layout: operator policies and runtime parameters share its `parameters` list.)
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(try_from = "repr::Repr", into = "repr::Repr")]
pub struct Definitions {
    pub rabbit_version: String,
    pub users: Vec<UserDefinition>,
    pub vhosts: Vec<VhostDefinition>,
    pub permissions: Vec<PermissionDefinition>,
    /// Per-exchange write/read patterns on routing keys (topic exchanges).
    pub topic_permissions: Vec<TopicPermissionDefinition>,
    /// Operator policies, stored as RabbitMQ's `operator_policy` runtime
    /// parameters in the `parameters` section.
    pub operator_policies: Vec<PolicyDefinition>,
    /// Runtime parameters other than operator policies (vhost limits, ...).
    pub parameters: Vec<ParameterDefinition>,
    pub global_parameters: Vec<GlobalParameterDefinition>,
    pub policies: Vec<PolicyDefinition>,
    pub queues: Vec<QueueDefinition>,
    pub exchanges: Vec<ExchangeDefinition>,
    pub bindings: Vec<BindingDefinition>,
    /// A cluster node's Raft state machine position (last applied entry, membership),
    /// kept with the metadata it describes so both are written together. Never exported.
    pub cluster: Option<Value>,
}

impl Default for Definitions {
    fn default() -> Self {
        Self {
            rabbit_version: DEFAULT_RABBIT_VERSION.to_owned(),
            users: Vec::new(),
            vhosts: Vec::new(),
            permissions: Vec::new(),
            topic_permissions: Vec::new(),
            operator_policies: Vec::new(),
            parameters: Vec::new(),
            global_parameters: Vec::new(),
            policies: Vec::new(),
            queues: Vec::new(),
            exchanges: Vec::new(),
            bindings: Vec::new(),
            cluster: None,
        }
    }
}

/// A runtime parameter: a component's named JSON value in a vhost.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ParameterDefinition {
    pub value: Value,
    #[serde(default)]
    pub vhost: String,
    pub component: String,
    pub name: String,
}

/// A global (not per-vhost) runtime parameter, such as `cluster_name`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GlobalParameterDefinition {
    pub name: String,
    pub value: Value,
}

/// A user; `password_hash` is base64 as in [`crate::auth::password`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UserDefinition {
    pub name: String,
    #[serde(default)]
    pub password_hash: String,
    /// A clear-text password instead of a hash, as RabbitMQ's import accepts; hashed on
    /// import, never written.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    #[serde(default = "default_hashing_algorithm")]
    pub hashing_algorithm: String,
    #[serde(default, deserialize_with = "deserialize_tags")]
    pub tags: Vec<String>,
    /// `max-connections`, `max-channels`.
    #[serde(default)]
    pub limits: Map<String, Value>,
}

/// A virtual host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VhostDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(
        default,
        deserialize_with = "deserialize_tags",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// The queue type a declare without `x-queue-type` gets (only `classic` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_queue_type: Option<String>,
    /// Whether messages are traced to `amq.rabbitmq.trace`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracing: bool,
}

impl VhostDefinition {
    pub fn named(name: &str, description: &str) -> Self {
        Self {
            name: name.to_string(),
            description: description.to_string(),
            tags: Vec::new(),
            default_queue_type: None,
            tracing: false,
        }
    }
}

/// One user's configure/write/read patterns in one vhost.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PermissionDefinition {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// One user's topic permission in one vhost, for one exchange.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TopicPermissionDefinition {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// A policy or operator policy (RabbitMQ's export shape; the definition is
/// validated by [`crate::policy_rules`] when loaded into the broker).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PolicyDefinition {
    #[serde(default)]
    pub vhost: String,
    pub name: String,
    pub pattern: String,
    #[serde(rename = "apply-to", default = "default_apply_to")]
    pub apply_to: String,
    pub definition: Map<String, Value>,
    #[serde(default)]
    pub priority: i32,
}

/// A durable exchange.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExchangeDefinition {
    pub name: String,
    #[serde(default)]
    pub vhost: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "default_true")]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// A durable queue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueDefinition {
    pub name: String,
    #[serde(default)]
    pub vhost: String,
    #[serde(default = "default_true")]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// In a cluster: the node the queue lives on (not in RabbitMQ's format, which ignores
    /// it on import).
    #[serde(
        default,
        rename = "warren_home",
        skip_serializing_if = "Option::is_none"
    )]
    pub home: Option<String>,
    /// In a cluster: the nodes holding mirrors of the queue, oldest first (not in
    /// RabbitMQ's format either).
    #[serde(
        default,
        rename = "warren_mirrors",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mirrors: Vec<String>,
    /// Those of the mirrors that hold everything the master holds.
    #[serde(
        default,
        rename = "warren_synchronised",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub synchronised: Vec<String>,
}

/// What a binding points at.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DestinationType {
    Queue,
    Exchange,
}

/// A binding between durable objects.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BindingDefinition {
    pub source: String,
    #[serde(default)]
    pub vhost: String,
    pub destination: String,
    pub destination_type: DestinationType,
    #[serde(default)]
    pub routing_key: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

fn default_hashing_algorithm() -> String {
    DEFAULT_HASHING_ALGORITHM.to_owned()
}

fn default_true() -> bool {
    true
}

fn default_apply_to() -> String {
    "all".to_owned()
}

/// The file's JSON layout. RabbitMQ 3.10 exports operator policies as entries of the
/// `parameters` list whose `component` is `operator_policy`; the other entries are runtime
/// parameters proper.
mod repr {
    use super::*;

    const OPERATOR_POLICY: &str = "operator_policy";

    #[derive(Serialize, Deserialize)]
    #[serde(default)]
    pub struct Repr {
        rabbit_version: String,
        users: Vec<UserDefinition>,
        vhosts: Vec<VhostDefinition>,
        permissions: Vec<PermissionDefinition>,
        topic_permissions: Vec<TopicPermissionDefinition>,
        parameters: Vec<ParameterDefinition>,
        global_parameters: Vec<GlobalParameterDefinition>,
        policies: Vec<PolicyDefinition>,
        queues: Vec<QueueDefinition>,
        exchanges: Vec<ExchangeDefinition>,
        bindings: Vec<BindingDefinition>,
        #[serde(skip_serializing_if = "Option::is_none")]
        warren_cluster: Option<Value>,
    }

    impl Default for Repr {
        fn default() -> Self {
            Definitions::default().into()
        }
    }

    #[derive(Serialize, Deserialize)]
    struct PolicyValue {
        pattern: String,
        definition: Map<String, Value>,
        #[serde(default)]
        priority: i32,
        #[serde(rename = "apply-to", default = "default_apply_to")]
        apply_to: String,
    }

    impl TryFrom<Repr> for Definitions {
        type Error = String;

        fn try_from(r: Repr) -> Result<Self, String> {
            let mut operator_policies = Vec::new();
            let mut parameters = Vec::new();
            for p in r.parameters {
                if p.component != OPERATOR_POLICY {
                    parameters.push(p);
                    continue;
                }
                let v: PolicyValue = serde_json::from_value(p.value)
                    .map_err(|e| format!("invalid operator policy parameter: {e}"))?;
                operator_policies.push(PolicyDefinition {
                    vhost: p.vhost,
                    name: p.name,
                    pattern: v.pattern,
                    apply_to: v.apply_to,
                    definition: v.definition,
                    priority: v.priority,
                });
            }
            Ok(Definitions {
                rabbit_version: r.rabbit_version,
                users: r.users,
                vhosts: r.vhosts,
                permissions: r.permissions,
                topic_permissions: r.topic_permissions,
                operator_policies,
                parameters,
                global_parameters: r.global_parameters,
                policies: r.policies,
                queues: r.queues,
                exchanges: r.exchanges,
                bindings: r.bindings,
                cluster: r.warren_cluster,
            })
        }
    }

    impl From<Definitions> for Repr {
        fn from(d: Definitions) -> Repr {
            let mut parameters: Vec<ParameterDefinition> = d
                .operator_policies
                .into_iter()
                .map(|p| ParameterDefinition {
                    value: serde_json::json!({
                        "pattern": p.pattern,
                        "definition": p.definition,
                        "priority": p.priority,
                        "apply-to": p.apply_to,
                    }),
                    vhost: p.vhost,
                    component: OPERATOR_POLICY.to_owned(),
                    name: p.name,
                })
                .collect();
            parameters.extend(d.parameters);
            Repr {
                rabbit_version: d.rabbit_version,
                users: d.users,
                vhosts: d.vhosts,
                permissions: d.permissions,
                topic_permissions: d.topic_permissions,
                parameters,
                global_parameters: d.global_parameters,
                policies: d.policies,
                queues: d.queues,
                exchanges: d.exchanges,
                bindings: d.bindings,
                warren_cluster: d.cluster,
            }
        }
    }
}

/// Accept `["a","b"]`, `"a,b"` or `null` for user tags.
fn deserialize_tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Option::<Tags>::deserialize(d)? {
        None => Vec::new(),
        Some(Tags::List(list)) => list,
        Some(Tags::Csv(csv)) => csv
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Parse definitions JSON (a full or per-vhost export).
///
/// The top level must be an object: serde would otherwise accept a JSON
/// array as a struct and `[]` would load as empty definitions.
pub fn from_json(bytes: &[u8]) -> Result<Definitions, serde_json::Error> {
    let value: Value = serde_json::from_slice(bytes)?;
    if !value.is_object() {
        return Err(serde::de::Error::custom(
            "definitions must be a JSON object",
        ));
    }
    serde_json::from_value(value)
}

/// Read the definitions file; `Ok(None)` if it does not exist.
pub fn load(path: &Path) -> Result<Option<Definitions>, DefinitionsError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DefinitionsError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    from_json(&bytes)
        .map(Some)
        .map_err(|source| DefinitionsError::Parse {
            path: path.to_owned(),
            source,
        })
}

/// Atomically replace the definitions file.
///
/// The JSON goes to a fresh temporary file in the same directory (created
/// if missing), which is fsynced and renamed over `path`; then the
/// directory is fsynced so the rename itself is durable. On error the
/// temporary file is removed and the old file is left untouched.
/// Returns the file's size.
pub fn save(path: &Path, defs: &Definitions) -> Result<u64, DefinitionsError> {
    let mut json = serde_json::to_vec_pretty(defs).map_err(DefinitionsError::Serialize)?;
    json.push(b'\n');
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    let tmp = temp_path(path).map_err(write_error(path))?;
    let result = write_synced(&tmp, &json)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(write_error(path));
    if result.is_err() {
        // Best effort: the error being reported is the original one.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir).map_err(write_error(dir))?;
    Ok(json.len() as u64)
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> DefinitionsError + '_ {
    move |source| DefinitionsError::Write {
        path: path.to_owned(),
        source,
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    Ok(parent_dir(path).join(tmp_name))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // The file holds password hashes.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Convert a field table to JSON (`rabbit_mgmt_format:amqp_table/1`).
pub fn field_table_to_json(t: &FieldTable) -> Map<String, Value> {
    t.into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
        .collect()
}

/// Convert JSON to a field table (`rabbit_misc:to_amqp_table/1`).
///
/// Keys longer than 255 bytes cannot be AMQP short strings and are
/// dropped with a warning.
pub fn json_to_field_table(m: &Map<String, Value>) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in m {
        match ShortString::try_new(k.as_str()) {
            Ok(key) => {
                table.insert(key, json_to_amqp(v));
            }
            Err(e) => tracing::warn!("dropping field-table key: {e}"),
        }
    }
    table
}

/// Convert one AMQP field value to JSON.
///
/// Integers, timestamps and decimals become numbers, strings and byte
/// arrays become (lossy UTF-8) strings, void becomes `null`. Non-finite
/// floats, which JSON cannot express, also become `null`.
pub fn amqp_to_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Timestamp(n) => Value::from(*n),
        AMQPValue::Float(f) => float_to_json(f64::from(*f)),
        AMQPValue::Double(f) => float_to_json(*f),
        AMQPValue::DecimalValue(d) => float_to_json(decimal_to_f64(d)),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => lossy_string(s.as_bytes()),
        AMQPValue::ByteArray(b) => lossy_string(b.as_slice()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_to_json).collect()),
        AMQPValue::FieldTable(t) => Value::Object(field_table_to_json(t)),
        AMQPValue::Void => Value::Null,
    }
}

/// Convert one JSON value to an AMQP field value.
///
/// Integers that fit `i64` become long-long ints (RabbitMQ's `long`),
/// other numbers doubles, strings long strings, `null` void.
pub fn json_to_amqp(v: &Value) -> AMQPValue {
    match v {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => n.as_f64().map_or(AMQPValue::Void, AMQPValue::Double),
        },
        Value::String(s) => AMQPValue::LongString(s.as_str().into()),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(json_to_amqp).collect::<Vec<_>>(),
        )),
        Value::Object(m) => AMQPValue::FieldTable(json_to_field_table(m)),
    }
}

fn float_to_json(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn decimal_to_f64(d: &DecimalValue) -> f64 {
    f64::from(d.value) / 10f64.powi(i32::from(d.scale))
}

fn lossy_string(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// `GET /api/definitions` from RabbitMQ 3.10.8 (test objects added).
    const RABBIT_EXPORT: &str = r##"{"rabbit_version":"3.10.8","rabbitmq_version":"3.10.8","product_name":"RabbitMQ","product_version":"3.10.8","users":[{"name":"guest","password_hash":"HOQL5FSHVFDdHknz/iRW27qIdobSpT0jn31XTo5MWzidkeil","hashing_algorithm":"rabbit_password_hashing_sha256","tags":["administrator"],"limits":{}},{"name":"warren-permtest","password_hash":"uZYA+AbVKx7peJwMr49j7hV62r+zcjfYdzct9Y8zxus/opMQ","hashing_algorithm":"rabbit_password_hashing_sha256","tags":["management","impersonator"],"limits":{}}],"vhosts":[{"name":"/"},{"name":"warren-deftest"}],"permissions":[{"user":"warren-permtest","vhost":"warren-deftest","configure":"^cfg","write":"","read":"rd"},{"user":"guest","vhost":"/","configure":".*","write":".*","read":".*"},{"user":"guest","vhost":"warren-deftest","configure":".*","write":".*","read":".*"}],"topic_permissions":[{"user":"warren-permtest","vhost":"warren-deftest","exchange":"ex1","write":".*","read":".*"}],"parameters":[{"value":{"max-connections":5},"vhost":"warren-deftest","component":"vhost-limits","name":"limits"}],"global_parameters":[{"name":"internal_cluster_id","value":"rabbitmq-cluster-id-mmJQnNOpFfpgRCRa9vEkfA"}],"policies":[{"vhost":"warren-deftest","name":"pol1","pattern":"^q","apply-to":"queues","definition":{"max-length":10},"priority":0}],"queues":[{"name":"q1","vhost":"warren-deftest","durable":true,"auto_delete":false,"arguments":{"x-max-priority":5,"x-message-ttl":60000,"x-queue-mode":"lazy"}}],"exchanges":[{"name":"ex1","vhost":"warren-deftest","type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{"alternate-exchange":"ae"}}],"bindings":[{"source":"ex1","vhost":"warren-deftest","destination":"q1","destination_type":"queue","routing_key":"a.#","arguments":{"arr":[1,"x",true],"b":false,"f":1.5,"tbl":{"k":"v"}}}]}"##;

    /// `GET /api/definitions/warren-deftest` from the same broker.
    const RABBIT_VHOST_EXPORT: &str = r##"{"rabbit_version":"3.10.8","parameters":[{"value":{"max-connections":5},"vhost":"warren-deftest","component":"vhost-limits","name":"limits"}],"policies":[{"vhost":"warren-deftest","name":"pol1","pattern":"^q","apply-to":"queues","definition":{"max-length":10},"priority":0}],"queues":[{"name":"q1","durable":true,"auto_delete":false,"arguments":{"x-max-priority":5,"x-message-ttl":60000,"x-queue-mode":"lazy"}}],"exchanges":[{"name":"ex1","type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{"alternate-exchange":"ae"}}],"bindings":[{"source":"ex1","destination":"q1","destination_type":"queue","routing_key":"a.#","arguments":{"arr":[1,"x",true],"b":false,"f":1.5,"tbl":{"k":"v"}}}]}"##;

    fn parse(s: &str) -> Definitions {
        match from_json(s.as_bytes()) {
            Ok(d) => d,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    pub(crate) fn sample() -> Definitions {
        parse(RABBIT_EXPORT)
    }

    #[test]
    fn loads_rabbitmq_export() {
        let d = sample();
        assert_eq!(d.global_parameters.len(), 1);
        assert_eq!(d.global_parameters[0].name, "internal_cluster_id");
        assert_eq!(d.parameters[0].value, json!({"max-connections": 5}));
        assert_eq!(d.rabbit_version, "3.10.8");
        assert_eq!(d.users.len(), 2);
        assert_eq!(d.users[1].tags, vec!["management", "impersonator"]);
        assert_eq!(d.users[0].hashing_algorithm, DEFAULT_HASHING_ALGORITHM);
        assert_eq!(d.vhosts[1].name, "warren-deftest");
        assert_eq!(d.vhosts[1].description, "");
        assert_eq!(d.permissions[0].write, "");
        assert_eq!(d.queues[0].arguments["x-message-ttl"], json!(60000));
        assert_eq!(d.exchanges[0].kind, "topic");
        assert_eq!(d.bindings[0].destination_type, DestinationType::Queue);
        assert_eq!(d.bindings[0].routing_key, "a.#");
    }

    /// Sections of a RabbitMQ 3.10.8 `GET /api/definitions` with a policy,
    /// an operator policy and a vhost limit.
    const RABBIT_POLICY_EXPORT: &str = r##"{"parameters":[{"value":{"max-connections":5},"vhost":"warren-deftest","component":"vhost-limits","name":"limits"},{"value":{"pattern":"^ml$","definition":{"expires":100000,"max-length":50},"priority":0,"apply-to":"queues"},"vhost":"warren-policy-probe","component":"operator_policy","name":"opml"}],"policies":[{"vhost":"warren-policy-probe","name":"exp1","pattern":"^q","apply-to":"queues","definition":{"dead-letter-exchange":"dlx","max-length":10},"priority":3}]}"##;

    #[test]
    fn loads_policies_and_operator_policies() {
        let d = parse(RABBIT_POLICY_EXPORT);
        assert_eq!(
            d.policies,
            vec![PolicyDefinition {
                vhost: "warren-policy-probe".into(),
                name: "exp1".into(),
                pattern: "^q".into(),
                apply_to: "queues".into(),
                definition: json!({"dead-letter-exchange": "dlx", "max-length": 10})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                priority: 3,
            }]
        );
        assert_eq!(
            d.operator_policies.len(),
            1,
            "vhost-limits is not an operator policy"
        );
        let op = &d.operator_policies[0];
        assert_eq!(
            (op.name.as_str(), op.vhost.as_str()),
            ("opml", "warren-policy-probe")
        );
        assert_eq!(
            (op.pattern.as_str(), op.apply_to.as_str(), op.priority),
            ("^ml$", "queues", 0)
        );
        assert_eq!(op.definition["expires"], json!(100000));

        // The vhost limit is a runtime parameter.
        assert_eq!(d.parameters.len(), 1);
        assert_eq!(
            (
                d.parameters[0].component.as_str(),
                d.parameters[0].name.as_str()
            ),
            ("vhost-limits", "limits")
        );

        // Written back in RabbitMQ's shapes, operator policies first.
        let out = serde_json::to_value(&d).unwrap_or_default();
        let export: Value = serde_json::from_str(RABBIT_POLICY_EXPORT).unwrap_or_default();
        assert_eq!(out["policies"], export["policies"]);
        assert_eq!(
            out["parameters"],
            json!([export["parameters"][1], export["parameters"][0]])
        );
        assert_eq!(parse(&out.to_string()), d);

        // The full sample has a policy too.
        assert_eq!(sample().policies[0].definition["max-length"], json!(10));
        assert!(sample().operator_policies.is_empty());
    }

    #[test]
    fn policy_defaults_and_errors() {
        let d = parse(
            r#"{"policies":[{"name":"p","pattern":".*","definition":{"max-length":1}}],
                "parameters":[{"value":{"pattern":"x","definition":{"expires":5}},
                               "component":"operator_policy","name":"o"}]}"#,
        );
        assert_eq!(
            (d.policies[0].apply_to.as_str(), d.policies[0].priority),
            ("all", 0)
        );
        assert_eq!(d.policies[0].vhost, "", "per-vhost exports may omit vhost");
        let op = &d.operator_policies[0];
        assert_eq!((op.apply_to.as_str(), op.priority), ("all", 0));
        for bad in [
            r#"{"policies":[{"name":"p","definition":{}}]}"#,
            r#"{"policies":[{"name":"p","pattern":"x","definition":{},"priority":1.5}]}"#,
            r#"{"parameters":[{"value":{"definition":{}},"component":"operator_policy","name":"o"}]}"#,
        ] {
            assert!(from_json(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(Definitions::default().operator_policies.is_empty());
    }

    #[test]
    fn loads_per_vhost_export() {
        let d = parse(RABBIT_VHOST_EXPORT);
        assert!(d.users.is_empty());
        assert_eq!(d.queues[0].vhost, "");
        assert_eq!(d.exchanges[0].name, "ex1");
        assert_eq!(d.bindings.len(), 1);
    }

    #[test]
    fn tags_as_string_or_array() {
        let d = parse(
            r#"{"users":[
                {"name":"a","password_hash":"","tags":"administrator, management"},
                {"name":"b","password_hash":"","tags":""},
                {"name":"c","password_hash":"","tags":null},
                {"name":"d","password_hash":""}]}"#,
        );
        assert_eq!(d.users[0].tags, vec!["administrator", "management"]);
        assert!(d.users[1..].iter().all(|u| u.tags.is_empty()));
        assert_eq!(d.rabbit_version, DEFAULT_RABBIT_VERSION);
        let out = serde_json::to_value(&d.users[0]).unwrap_or_default();
        assert_eq!(out["tags"], json!(["administrator", "management"]));
    }

    #[test]
    fn vhost_description_round_trip() {
        let d = parse(r#"{"vhosts":[{"name":"v","description":"hi","tags":[]}]}"#);
        assert_eq!(d.vhosts[0].description, "hi");
        let out = serde_json::to_value(&d).unwrap_or_default();
        assert_eq!(out["vhosts"][0], json!({"name":"v","description":"hi"}));
        let plain = serde_json::to_value(VhostDefinition::named("w", ""));
        assert_eq!(plain.unwrap_or_default(), json!({"name":"w"}));
    }

    #[test]
    fn bad_documents_are_errors() {
        for bad in [
            r#"{"users":[{"password_hash":""}]}"#,
            r#"{"bindings":[{"source":"a","destination":"b","destination_type":"topic"}]}"#,
            r#"{"users":{}}"#,
            "[]",
            "[\"3.10.8\"]",
            "null",
            "{",
        ] {
            assert!(from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn save_load_round_trip_and_atomic() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("definitions.json");
        assert_eq!(load(&path)?, None);

        let defs = sample();
        save(&path, &defs)?;
        assert_eq!(load(&path)?, Some(defs.clone()));

        let mut changed = defs;
        changed.queues.clear();
        save(&path, &changed)?;
        assert_eq!(load(&path)?, Some(changed));

        let names: Vec<_> = fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names, vec![std::ffi::OsString::from("definitions.json")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        }
        Ok(())
    }

    #[test]
    fn save_creates_directory() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a/b/defs.json");
        save(&path, &Definitions::default())?;
        assert_eq!(load(&path)?, Some(Definitions::default()));
        Ok(())
    }

    #[test]
    fn save_failure_leaves_old_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        // A directory in the way of the rename target.
        let path = dir.path().join("defs.json");
        fs::create_dir(&path)?;
        fs::write(path.join("keep"), b"x")?;
        assert!(matches!(
            save(&path, &Definitions::default()),
            Err(DefinitionsError::Write { .. })
        ));
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn load_errors() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("defs.json");
        fs::write(&path, b"{not json")?;
        assert!(matches!(load(&path), Err(DefinitionsError::Parse { .. })));
        assert!(matches!(
            load(dir.path()),
            Err(DefinitionsError::Read { .. })
        ));
        Ok(())
    }

    #[test]
    fn json_to_table_mapping() {
        let mut m = match json!({"i": 5, "neg": -3, "big": u64::MAX, "f": 1.5, "s": "x",
                             "b": true, "n": null, "a": [1, "y"], "t": {"k": "v"}})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let t = json_to_field_table(&m);
        let get = |k: &str| t.inner().get(k).cloned();
        assert_eq!(get("i"), Some(AMQPValue::LongLongInt(5)));
        assert_eq!(get("neg"), Some(AMQPValue::LongLongInt(-3)));
        assert_eq!(get("big"), Some(AMQPValue::Double(u64::MAX as f64)));
        assert_eq!(get("f"), Some(AMQPValue::Double(1.5)));
        assert_eq!(get("s"), Some(AMQPValue::LongString("x".into())));
        assert_eq!(get("b"), Some(AMQPValue::Boolean(true)));
        assert_eq!(get("n"), Some(AMQPValue::Void));
        let arr = vec![AMQPValue::LongLongInt(1), AMQPValue::LongString("y".into())];
        assert_eq!(get("a"), Some(AMQPValue::FieldArray(arr.into())));
        let mut inner = FieldTable::default();
        inner.insert("k".into(), AMQPValue::LongString("v".into()));
        assert_eq!(get("t"), Some(AMQPValue::FieldTable(inner)));
        // And back again (except u64 beyond i64, which became a double).
        let mut back = field_table_to_json(&t);
        assert_eq!(back.remove("big"), Some(json!(u64::MAX as f64)));
        m.remove("big");
        assert_eq!(back, m);
    }

    #[test]
    fn table_to_json_mapping() {
        let mut t = FieldTable::default();
        let cases = [
            ("bb", AMQPValue::ShortShortInt(-1), json!(-1)),
            ("BB", AMQPValue::ShortShortUInt(255), json!(255)),
            ("s", AMQPValue::ShortInt(-2), json!(-2)),
            ("u", AMQPValue::ShortUInt(2), json!(2)),
            ("I", AMQPValue::LongInt(-4), json!(-4)),
            ("i", AMQPValue::LongUInt(4), json!(4)),
            ("l", AMQPValue::LongLongInt(i64::MIN), json!(i64::MIN)),
            ("f", AMQPValue::Float(0.5), json!(0.5)),
            ("nan", AMQPValue::Double(f64::NAN), Value::Null),
            (
                "T",
                AMQPValue::Timestamp(1_700_000_000),
                json!(1_700_000_000u64),
            ),
            (
                "D",
                AMQPValue::DecimalValue(DecimalValue {
                    scale: 2,
                    value: 12345,
                }),
                json!(123.45),
            ),
            ("ss", AMQPValue::ShortString("short".into()), json!("short")),
            (
                "S",
                AMQPValue::LongString(b"a\xffb".to_vec().into()),
                json!("a\u{fffd}b"),
            ),
            (
                "x",
                AMQPValue::ByteArray(b"raw".to_vec().into()),
                json!("raw"),
            ),
            ("V", AMQPValue::Void, Value::Null),
            ("t", AMQPValue::Boolean(false), json!(false)),
        ];
        for (k, v, _) in &cases {
            t.insert((*k).into(), v.clone());
        }
        let out = field_table_to_json(&t);
        for (k, _, expected) in &cases {
            assert_eq!(&out[*k], expected, "{k}");
        }
    }

    #[test]
    fn overlong_keys_are_dropped() {
        let mut m = Map::new();
        m.insert("k".repeat(256), json!(1));
        m.insert("ok".into(), json!(2));
        let t = json_to_field_table(&m);
        assert_eq!(t.inner().len(), 1);
        assert!(t.contains_key("ok"));
    }
}
