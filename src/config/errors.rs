//! Configuration errors: [`ConfigError`], validation [`Problem`]s, and placing both in the
//! source text (file path, line and column, dotted key path) for messages.

use std::path::PathBuf;

use super::key_index::KeyIndex;

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
        /// The file path, or `<config>` for text passed to
        /// [`Config::from_toml_str`](super::Config::from_toml_str).
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
pub(super) struct Problem {
    pub(super) key: String,
    message: String,
}

impl Problem {
    pub(super) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

pub(super) fn flag_error(flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Flag {
        flag,
        message: message.into(),
    }
}

/// Converts a TOML/serde error into a [`ConfigError`] naming the key it is about.
pub(super) fn toml_error(src: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
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
pub(super) fn problem_error(src: &str, origin: &str, problem: Problem) -> ConfigError {
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

#[cfg(test)]
mod tests {
    use crate::config::test_support::assert_err_contains;

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
}
