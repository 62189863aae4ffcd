//! The `warren` command line ([`Cli`], parsed with clap) and how its flags override the
//! configuration file.

use std::path::PathBuf;

use super::errors::flag_error;
use super::validate::check_socket_addr;
use super::{Config, ConfigError};

/// The `warren` command line. Flags given here override the configuration file.
#[derive(clap::Parser, Debug, Default, Clone)]
#[command(
    name = "warren",
    version,
    about = "A RabbitMQ-compatible AMQP 0-9-1 broker",
    after_help = "To manage a running broker through its management API: warren ctl --help"
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

impl Config {
    pub(super) fn apply_cli(&mut self, cli: &Cli) -> Result<(), ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::EXAMPLE;
    use clap::Parser;

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
}
