//! What a policy may say, as RabbitMQ 3.10 decides it: the definition keys it recognises
//! and the checks on their values (with its error texts), the keys operator policies may
//! set, `apply-to` and the pattern syntax. The configuration checks its `[[policies]]` with
//! these (naming the key at fault), and the broker its policy commands.

use crate::erlang::{ascii_binary, json};
use regex::Regex;
use serde_json::{Map, Value};

/// Definition keys an operator policy may set (RabbitMQ 3.10's
/// `operator_policy_validator` registrations).
pub(crate) const OPERATOR_KEYS: &[&str] = &[
    "delivery-limit",
    "expires",
    "max-in-memory-bytes",
    "max-in-memory-length",
    "max-length",
    "max-length-bytes",
    "message-ttl",
];

/// Which kind of object a policy applies to (`apply-to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyTo {
    /// `"queues"`
    Queues,
    /// `"exchanges"`
    Exchanges,
    /// `"all"` (the default)
    All,
}

impl ApplyTo {
    /// Parses `queues`, `exchanges` or `all`, with RabbitMQ's error text.
    pub fn parse(s: &str) -> Result<ApplyTo, String> {
        match s {
            "queues" => Ok(ApplyTo::Queues),
            "exchanges" => Ok(ApplyTo::Exchanges),
            "all" => Ok(ApplyTo::All),
            other => Err(format!(
                "apply-to '{other}' unrecognised; should be 'queues', 'exchanges' or 'all'"
            )),
        }
    }

    /// The wire spelling: `queues`, `exchanges` or `all`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
        }
    }
}

/// Compiles a policy pattern; the error reads like RabbitMQ's
/// (`pattern should be regular expression but is invalid: ...`), with the
/// Rust regex engine's reason (PCRE features such as look-around and
/// back-references are not supported).
pub(crate) fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let reason = e.to_string();
        let last = reason
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid");
        let last = last.trim().trim_start_matches("error: ");
        format!("pattern should be regular expression but is invalid: {{\"{last}\"}}")
    })
}

// ---------------------------------------------------------------------------
// Definition validation
// ---------------------------------------------------------------------------

/// How a key's value is checked.
#[derive(Clone, Copy)]
enum Check {
    Text,
    /// An integer at least this large.
    IntAtLeast(u64),
    /// An integer in 0..=max.
    IntAtMost(u64),
    OneOf(&'static [&'static str]),
    IntOneOf(&'static [u64]),
    MaxAge,
}

/// RabbitMQ 3.10 `rabbit_policies` keys: check, and the error suffix.
const CORE_KEYS: &[(&str, Check, &str)] = &[
    (
        "alternate-exchange",
        Check::Text,
        "is not a valid alternate exchange name",
    ),
    (
        "dead-letter-exchange",
        Check::Text,
        "is not a valid dead letter exchange name",
    ),
    (
        "dead-letter-routing-key",
        Check::Text,
        "is not a valid dead letter routing key",
    ),
    (
        "dead-letter-strategy",
        Check::OneOf(&["at-most-once", "at-least-once"]),
        "is not a valid dead letter strategy",
    ),
    (
        "delivery-limit",
        Check::IntAtLeast(0),
        "is not a valid delivery limit",
    ),
    (
        "expires",
        Check::IntAtLeast(1),
        "is not a valid queue expiry",
    ),
    (
        "initial-cluster-size",
        Check::IntAtLeast(0),
        "is not a valid cluster size",
    ),
    ("max-age", Check::MaxAge, "is not a valid max age"),
    // RabbitMQ's own wording for max-in-memory-length.
    (
        "max-in-memory-bytes",
        Check::IntAtLeast(0),
        "is not a valid maximum memory in bytes",
    ),
    (
        "max-in-memory-length",
        Check::IntAtLeast(0),
        "is not a valid maximum memory in bytes",
    ),
    (
        "max-length",
        Check::IntAtLeast(0),
        "is not a valid maximum length",
    ),
    (
        "max-length-bytes",
        Check::IntAtLeast(0),
        "is not a valid maximum length in bytes",
    ),
    (
        "message-ttl",
        Check::IntAtLeast(0),
        "is not a valid message TTL",
    ),
    (
        "overflow",
        Check::OneOf(&["drop-head", "reject-publish", "reject-publish-dlx"]),
        "is not a valid overflow value",
    ),
    (
        "queue-leader-locator",
        Check::OneOf(&["client-local", "balanced", "random", "least-leaders"]),
        "is not a valid queue leader locator value",
    ),
    (
        "queue-mode",
        Check::OneOf(&["default", "lazy"]),
        "is not a valid queue-mode value",
    ),
    (
        "queue-version",
        Check::IntOneOf(&[1, 2]),
        "is not a valid queue-version value",
    ),
    (
        "stream-max-segment-size-bytes",
        Check::IntAtMost(3_000_000_000),
        "is not a valid segment size",
    ),
];

/// Classic mirroring keys (`rabbit_mirror_queue_misc`).
const HA_KEYS: &[&str] = &[
    "ha-mode",
    "ha-params",
    "ha-promote-on-failure",
    "ha-promote-on-shutdown",
    "ha-sync-batch-size",
    "ha-sync-mode",
];

const MASTER_LOCATOR: &str = "queue-master-locator";

/// Validates a user-policy definition the way RabbitMQ 3.10 does: the core
/// keys first (in key order, first error only), then the mirroring keys,
/// then `queue-master-locator`, then unrecognised keys.
pub(crate) fn validate_definition(definition: &Map<String, Value>) -> Result<(), String> {
    check_not_empty(definition)?;
    check_core_keys(definition, |_| true)?;
    check_mirroring(definition)?;
    check_master_locator(definition)?;
    check_recognised(definition, is_user_key)
}

/// Validates an operator-policy definition: only [`OPERATOR_KEYS`], each
/// checked as in a user policy.
pub(crate) fn validate_operator_definition(definition: &Map<String, Value>) -> Result<(), String> {
    check_not_empty(definition)?;
    check_core_keys(definition, |k| OPERATOR_KEYS.contains(&k))?;
    check_recognised(definition, |k| OPERATOR_KEYS.contains(&k))
}

fn check_not_empty(definition: &Map<String, Value>) -> Result<(), String> {
    if definition.is_empty() {
        return Err("no policy provided".to_owned());
    }
    Ok(())
}

fn is_user_key(key: &str) -> bool {
    CORE_KEYS.iter().any(|(k, _, _)| *k == key) || HA_KEYS.contains(&key) || key == MASTER_LOCATOR
}

fn sorted_entries(definition: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = definition.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn check_core_keys(
    definition: &Map<String, Value>,
    allowed: impl Fn(&str) -> bool,
) -> Result<(), String> {
    for (key, value) in sorted_entries(definition) {
        let Some((_, check, message)) = CORE_KEYS.iter().find(|(k, _, _)| k == key) else {
            continue;
        };
        if allowed(key) && !passes(*check, value) {
            return Err(format!("{} {message}", json(value)));
        }
    }
    Ok(())
}

fn passes(check: Check, value: &Value) -> bool {
    match check {
        Check::Text => value.is_string(),
        Check::IntAtLeast(min) => value.as_u64().is_some_and(|n| n >= min),
        Check::IntAtMost(max) => value.as_u64().is_some_and(|n| n <= max),
        Check::OneOf(options) => value.as_str().is_some_and(|s| options.contains(&s)),
        Check::IntOneOf(options) => value.as_u64().is_some_and(|n| options.contains(&n)),
        Check::MaxAge => value.as_str().is_some_and(valid_max_age),
    }
}

/// `max-age`: a positive integer followed by one unit of Y, M, D, h, m, s.
fn valid_max_age(s: &str) -> bool {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let positive = digits.bytes().any(|b| b != b'0');
    positive && ["Y", "M", "D", "h", "m", "s"].contains(&unit)
}

fn check_recognised(
    definition: &Map<String, Value>,
    known: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let unknown: Vec<String> = sorted_entries(definition)
        .into_iter()
        .filter(|(k, _)| !known(k))
        .map(|(k, v)| format!("{{{},{}}}", ascii_binary(k), json(v)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "[{}] are not recognised policy settings",
        unknown.join(",")
    ))
}

fn check_mirroring(definition: &Map<String, Value>) -> Result<(), String> {
    if HA_KEYS.iter().all(|k| !definition.contains_key(*k)) {
        return Ok(());
    }
    let Some(mode) = definition.get("ha-mode") else {
        return Err(
            "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
                .to_owned(),
        );
    };
    let mode_name = match mode.as_str() {
        Some(m @ ("all" | "exactly" | "nodes")) => m,
        _ => return Err(format!("{} is not a valid ha-mode value", json(mode))),
    };
    check_ha_params(mode_name, definition.get("ha-params"))?;
    check_ha_settings(definition)
}

fn check_ha_params(mode: &str, params: Option<&Value>) -> Result<(), String> {
    let shown = || params.map_or_else(|| "none".to_owned(), json);
    match (mode, params) {
        ("all", None) => Ok(()),
        ("all", Some(_)) => Err("ha-mode=\"all\" does not take parameters".to_owned()),
        ("exactly", Some(v)) if v.as_u64().is_some_and(|n| n > 0) => Ok(()),
        ("exactly", _) => Err(format!(
            "ha-mode=\"exactly\" takes an integer, {} given",
            shown()
        )),
        (_, Some(Value::Array(nodes))) => check_ha_nodes(nodes),
        _ => Err(format!("ha-mode=\"nodes\" takes a list, {} given", shown())),
    }
}

fn check_ha_nodes(nodes: &[Value]) -> Result<(), String> {
    if nodes.is_empty() {
        return Err("ha-mode=\"nodes\" list must be non-empty".to_owned());
    }
    let invalid: Vec<&Value> = nodes.iter().filter(|n| !n.is_string()).collect();
    if invalid.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = invalid.into_iter().map(json).collect();
    Err(format!(
        "ha-mode=\"nodes\" takes a list of strings, [{}] was not a string",
        shown.join(",")
    ))
}

fn check_ha_settings(definition: &Map<String, Value>) -> Result<(), String> {
    let one_of = |key: &str, options: &[&str], message: &str| match definition.get(key) {
        Some(v) if !v.as_str().is_some_and(|s| options.contains(&s)) => {
            Err(format!("{message}, got {}", json(v)))
        }
        _ => Ok(()),
    };
    one_of(
        "ha-sync-mode",
        &["automatic", "manual"],
        "ha-sync-mode must be \"manual\" or \"automatic\"",
    )?;
    if let Some(v) = definition.get("ha-sync-batch-size") {
        if v.as_u64().is_none_or(|n| n == 0) {
            return Err(format!(
                "ha-sync-batch-size takes an integer greater than 0, {} given",
                json(v)
            ));
        }
    }
    let promote = ["always", "when-synced"];
    one_of(
        "ha-promote-on-shutdown",
        &promote,
        "ha-promote-on-shutdown must be \"always\" or \"when-synced\"",
    )?;
    one_of(
        "ha-promote-on-failure",
        &promote,
        "ha-promote-on-failure must be \"always\" or \"when-synced\"",
    )
}

fn check_master_locator(definition: &Map<String, Value>) -> Result<(), String> {
    match definition.get(MASTER_LOCATOR) {
        Some(v)
            if !v
                .as_str()
                .is_some_and(|s| ["min-masters", "client-local", "random"].contains(&s)) =>
        {
            Err(format!("{} invalid queue-master-locator value", json(v)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_syntax() {
        for age in ["1Y", "2M", "3D", "4h", "5m", "6s", "010s"] {
            assert!(valid_max_age(age), "{age}");
        }
        for age in ["", "s", "0s", "10", "10x", "1hh", "-1s"] {
            assert!(!valid_max_age(age), "{age}");
        }
    }
}
