//! Why a `warren ctl` command failed, worded for its `Error: ...` line.

use std::fmt;

#[derive(Debug)]
pub(crate) enum CtlError {
    /// The API answered with a status other than 2xx; `reason` comes from its
    /// `{"error", "reason"}` body (or the body's text, or the status, when it has none).
    Api(String),
    /// The API could not be reached at all.
    Unreachable { url: String, cause: String },
    /// The command line asks for something impossible (a bad `--url`, an empty name);
    /// exits with 2, as clap's own usage errors do.
    Usage(String),
    /// Anything else (a file that cannot be read, an answer that is not JSON, ...).
    Other(String),
}

impl CtlError {
    pub(crate) fn other(message: impl Into<String>) -> Self {
        CtlError::Other(message.into())
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CtlError::Usage(message.into())
    }

    /// The process's exit code: 2 for usage errors, 1 for the rest.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The error of a non-2xx answer: the API's `reason` (a string as is, anything else as
    /// compact JSON), else the body's text, else the status line.
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Self {
        let reason = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(o)) => match o.get("reason").or_else(|| o.get("error")) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => serde_json::Value::Object(o).to_string(),
            },
            _ => String::from_utf8_lossy(body).trim().to_string(),
        };
        let reason = if reason.is_empty() {
            format!("the API answered HTTP {status}")
        } else {
            reason
        };
        CtlError::Api(reason)
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Api(reason) => f.write_str(reason),
            CtlError::Unreachable { url, cause } => {
                write!(f, "could not reach the management API at {url}: {cause}")
            }
            CtlError::Usage(m) | CtlError::Other(m) => f.write_str(m),
        }
    }
}

pub(crate) type CtlResult<T> = Result<T, CtlError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_comes_from_the_body_when_there_is_one() {
        let e = CtlError::from_answer(
            401,
            br#"{"error":"not_authorized","reason":"Login failed"}"#,
        );
        assert_eq!(e.to_string(), "Login failed");
        let e = CtlError::from_answer(
            400,
            br#"{"error":"bad_request","reason":["no_such_user","x"]}"#,
        );
        assert_eq!(e.to_string(), r#"["no_such_user","x"]"#);
        assert_eq!(
            CtlError::from_answer(502, b"Bad gateway\n").to_string(),
            "Bad gateway"
        );
        assert_eq!(
            CtlError::from_answer(500, b"").to_string(),
            "the API answered HTTP 500"
        );
    }
}
