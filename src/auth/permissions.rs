//! Per-vhost resource permissions (configure / write / read regexes).
//!
//! This module owns the matching rule, which follows RabbitMQ's internal
//! auth backend (`rabbit_auth_backend_internal:check_resource_access/4`):
//!
//! * each pattern is matched **unanchored** against the resource name
//!   (`re:run/3`), so `cfg` allows `acfgb`; write `^...$` to anchor;
//! * an empty pattern is replaced by `^$`, so it matches only the empty
//!   name, i.e. in practice nothing;
//! * the default exchange `""` is checked under the name `amq.default`
//!   (`rabbit_access_control:check_resource_access/4`).
//!
//! Checked against RabbitMQ 3.10.8: with configure `cfg` declaring `acfgb`
//! is allowed and `xyz` refused; with write `""` publishing to the default
//! exchange is refused ("access to exchange 'amq.default' ... refused"),
//! and with write `^amq\.default$` it is allowed; a server-named queue is
//! checked under its generated `amq.gen-...` name.
//!
//! Differences that remain: RabbitMQ uses PCRE on bytes, Warren uses the
//! `regex` crate on UTF-8. Look-around and back-references are rejected by
//! [`Permission::new`]; in PCRE `$` also matches before a final `\n`.

use std::fmt;

use regex::Regex;

/// The name under which the default exchange (`""`) is checked.
pub const DEFAULT_EXCHANGE_ALIAS: &str = "amq.default";

/// Which of the three permissions an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Declare or delete a queue or exchange.
    Configure,
    /// Publish to an exchange, bind to a queue/exchange destination.
    Write,
    /// Consume/get from a queue, bind from an exchange source.
    Read,
}

/// RabbitMQ's resource check for a user with `permission` (none: refused) in `vhost`; the
/// error is RabbitMQ's text: `access to <kind> '<name>' in vhost '<v>' refused for user '<u>'`
/// (the default exchange named `amq.default`).
pub(crate) fn check_resource(
    permission: Option<&Permission>,
    access: Access,
    kind: &str,
    name: &str,
    vhost: &str,
    user: &str,
) -> Result<(), String> {
    let resource = if kind == "exchange" && name.is_empty() {
        DEFAULT_EXCHANGE_ALIAS
    } else {
        name
    };
    if permission.is_some_and(|p| p.allows(access, resource)) {
        return Ok(());
    }
    Err(format!(
        "access to {kind} '{resource}' in vhost '{vhost}' refused for user '{user}'"
    ))
}

/// One user's permissions in one vhost.
#[derive(Clone)]
pub struct Permission {
    configure: Pattern,
    write: Pattern,
    read: Pattern,
}

impl Permission {
    /// Compile the three patterns; fails if any is not a valid regex.
    pub fn new(configure: &str, write: &str, read: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            configure: Pattern::new(configure)?,
            write: Pattern::new(write)?,
            read: Pattern::new(read)?,
        })
    }

    /// Whether `access` to the resource `resource_name` is allowed.
    ///
    /// The empty name is checked as [`DEFAULT_EXCHANGE_ALIAS`]; queues can
    /// never be checked under the empty name (a server-named queue is
    /// checked under its generated name), so this is safe for both kinds.
    pub fn allows(&self, access: Access, resource_name: &str) -> bool {
        self.pattern(access)
            .regex
            .is_match(check_name(resource_name))
    }

    /// The configure pattern as given to [`Permission::new`].
    pub fn configure(&self) -> &str {
        &self.configure.source
    }

    /// The write pattern as given to [`Permission::new`].
    pub fn write(&self) -> &str {
        &self.write.source
    }

    /// The read pattern as given to [`Permission::new`].
    pub fn read(&self) -> &str {
        &self.read.source
    }

    fn pattern(&self, access: Access) -> &Pattern {
        match access {
            Access::Configure => &self.configure,
            Access::Write => &self.write,
            Access::Read => &self.read,
        }
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permission")
            .field("configure", &self.configure.source)
            .field("write", &self.write.source)
            .field("read", &self.read.source)
            .finish()
    }
}

impl PartialEq for Permission {
    fn eq(&self, other: &Self) -> bool {
        self.configure() == other.configure()
            && self.write() == other.write()
            && self.read() == other.read()
    }
}

impl Eq for Permission {}

/// The name a resource is checked under (`""` becomes `amq.default`).
pub(crate) fn check_name(resource_name: &str) -> &str {
    if resource_name.is_empty() {
        DEFAULT_EXCHANGE_ALIAS
    } else {
        resource_name
    }
}

#[derive(Clone)]
struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    fn new(source: &str) -> Result<Self, regex::Error> {
        // RabbitMQ: `<<"">> -> <<"^$">>`.
        let effective = if source.is_empty() { "^$" } else { source };
        Ok(Self {
            source: source.to_owned(),
            regex: Regex::new(effective)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(c: &str, w: &str, r: &str) -> Permission {
        match Permission::new(c, w, r) {
            Ok(p) => p,
            Err(e) => panic!("bad test pattern: {e}"),
        }
    }

    #[test]
    fn full_access() {
        let p = perm(".*", ".*", ".*");
        for a in [Access::Configure, Access::Write, Access::Read] {
            assert!(p.allows(a, "anything"));
            assert!(p.allows(a, ""));
        }
    }

    #[test]
    fn unanchored_match() {
        let p = perm("cfg", "^w", "r$");
        assert!(p.allows(Access::Configure, "acfgb"));
        assert!(!p.allows(Access::Configure, "xyz"));
        assert!(p.allows(Access::Write, "wq"));
        assert!(!p.allows(Access::Write, "qw"));
        assert!(p.allows(Access::Read, "qr"));
        assert!(!p.allows(Access::Read, "rq"));
    }

    #[test]
    fn case_sensitive() {
        let p = perm("Q1", "Q1", "Q1");
        assert!(!p.allows(Access::Configure, "q1"));
    }

    #[test]
    fn empty_pattern_matches_nothing() {
        let p = perm("", "", "");
        for a in [Access::Configure, Access::Write, Access::Read] {
            assert!(!p.allows(a, "q"));
            assert!(!p.allows(a, "amq.default"));
            assert!(!p.allows(a, ""));
        }
        assert_eq!(p.configure(), "");
    }

    #[test]
    fn default_exchange_is_amq_default() {
        let p = perm("", r"^amq\.default$", "");
        assert!(p.allows(Access::Write, ""));
        assert!(p.allows(Access::Write, "amq.default"));
        assert!(!p.allows(Access::Write, "amq.direct"));
        assert_eq!(check_name(""), "amq.default");
        assert_eq!(check_name("x"), "x");
    }

    #[test]
    fn only_the_requested_access_is_used() {
        let p = perm("^c$", "^w$", "^r$");
        assert!(p.allows(Access::Configure, "c"));
        assert!(!p.allows(Access::Configure, "w"));
        assert!(p.allows(Access::Write, "w"));
        assert!(!p.allows(Access::Write, "r"));
        assert!(p.allows(Access::Read, "r"));
        assert!(!p.allows(Access::Read, "c"));
    }

    #[test]
    fn invalid_regex_is_an_error() {
        assert!(Permission::new("(", ".*", ".*").is_err());
        assert!(Permission::new(".*", "[", ".*").is_err());
        assert!(Permission::new(".*", ".*", "(?=x)").is_err());
    }

    #[test]
    fn sources_kept_and_compared() {
        let p = perm("a", "b", "c");
        assert_eq!((p.configure(), p.write(), p.read()), ("a", "b", "c"));
        assert_eq!(p, perm("a", "b", "c"));
        assert_ne!(p, perm("a", "b", "d"));
        assert!(format!("{p:?}").contains("configure"));
    }
}
