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

mod cli;
mod cluster;
mod errors;
mod key_index;
mod memory;
mod sections;
mod size;
#[cfg(test)]
mod test_support;
mod tls;
mod validate;

use std::path::Path;

pub use cli::Cli;
pub use cluster::{node_type_file, ClusterConfig, NodeType, PartitionHandling};
pub use errors::ConfigError;
use errors::{problem_error, toml_error};
pub use memory::{
    effective_total_memory, parse_cgroup_limit, parse_meminfo_total, total_memory_bytes,
    MemoryWatermark,
};
pub use sections::{
    AmqpConfig, Config, HttpConfig, PermissionDef, PolicyDef, ResourcesConfig, UserDef, VhostDef,
    DEFAULT_MAX_MESSAGE_SIZE, FRAME_MIN_SIZE, MAX_MESSAGE_SIZE_CEILING,
};
pub use size::{parse_size, ByteSize};
pub use tls::{cipher_suite_names, CertLoginFrom, SanType, TlsConfig, Verify, TLS_VERSIONS};

/// Origin label used for configuration text that did not come from a file.
const STRING_ORIGIN: &str = "<config>";

// ---------------------------------------------------------------------------
// Loading and printing
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{json_map, EXAMPLE, POLICIES};

    #[test]
    fn channel_max_zero_means_no_limit() {
        let c = Config::from_toml_str("[amqp]\nchannel_max = 0\n").unwrap();
        assert_eq!(c.amqp.channel_max, 65535);
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
}
