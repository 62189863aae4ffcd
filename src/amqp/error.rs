//! AMQP errors that carry a reply code. The code decides the level: a soft code closes the
//! channel, a hard code (or any error on channel 0) closes the connection, exactly as
//! RabbitMQ's `rabbit_binary_generator:map_exception/3` does.

use crate::broker::command::CommandError;
use std::fmt;

/// Reply codes used by the broker (AMQP 0-9-1 constants).
pub(crate) mod code {
    pub(crate) const CONNECTION_FORCED: u16 = 320;
    pub(crate) const ACCESS_REFUSED: u16 = 403;
    pub(crate) const NOT_FOUND: u16 = 404;
    pub(crate) const RESOURCE_LOCKED: u16 = 405;
    pub(crate) const PRECONDITION_FAILED: u16 = 406;
    pub(crate) const FRAME_ERROR: u16 = 501;
    pub(crate) const COMMAND_INVALID: u16 = 503;
    pub(crate) const CHANNEL_ERROR: u16 = 504;
    pub(crate) const UNEXPECTED_FRAME: u16 = 505;
    pub(crate) const NOT_ALLOWED: u16 = 530;
    pub(crate) const NOT_IMPLEMENTED: u16 = 540;
    pub(crate) const INTERNAL_ERROR: u16 = 541;
    pub(crate) const NO_ROUTE: u16 = 312;
}

/// An error answered with `channel.close` or `connection.close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpError {
    pub code: u16,
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

impl AmqpError {
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
            class_id: 0,
            method_id: 0,
        }
    }

    /// Records the method that caused the error (sent back in the close method).
    pub fn on(mut self, class_id: u16, method_id: u16) -> Self {
        if self.class_id == 0 {
            self.class_id = class_id;
            self.method_id = method_id;
        }
        self
    }

    /// Hard errors close the whole connection.
    pub fn is_hard(&self) -> bool {
        !matches!(self.code, 311..=313 | 403..=406)
    }

    /// The reply text as RabbitMQ formats it: `NAME - detail`.
    pub fn reply_text(&self) -> String {
        format!("{} - {}", name(self.code), self.text)
    }

    pub fn access_refused(text: impl Into<String>) -> Self {
        Self::new(code::ACCESS_REFUSED, text)
    }
    pub fn not_found(text: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, text)
    }
    pub fn resource_locked(text: impl Into<String>) -> Self {
        Self::new(code::RESOURCE_LOCKED, text)
    }
    pub fn precondition(text: impl Into<String>) -> Self {
        Self::new(code::PRECONDITION_FAILED, text)
    }
    pub fn not_allowed(text: impl Into<String>) -> Self {
        Self::new(code::NOT_ALLOWED, text)
    }
    pub fn not_implemented(text: impl Into<String>) -> Self {
        Self::new(code::NOT_IMPLEMENTED, text)
    }
    pub fn command_invalid(text: impl Into<String>) -> Self {
        Self::new(code::COMMAND_INVALID, text)
    }
    pub fn channel_error(text: impl Into<String>) -> Self {
        Self::new(code::CHANNEL_ERROR, text)
    }
    pub fn frame_error(text: impl Into<String>) -> Self {
        Self::new(code::FRAME_ERROR, text)
    }
    pub fn unexpected_frame(text: impl Into<String>) -> Self {
        Self::new(code::UNEXPECTED_FRAME, text)
    }
    pub fn internal(text: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, text)
    }
}

impl fmt::Display for AmqpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.reply_text())
    }
}

impl std::error::Error for AmqpError {}

/// The spec's name of a reply code.
pub(crate) fn name(code: u16) -> &'static str {
    match code {
        200 => "OK",
        311 => "CONTENT_TOO_LARGE",
        312 => "NO_ROUTE",
        313 => "NO_CONSUMERS",
        320 => "CONNECTION_FORCED",
        402 => "INVALID_PATH",
        403 => "ACCESS_REFUSED",
        404 => "NOT_FOUND",
        405 => "RESOURCE_LOCKED",
        406 => "PRECONDITION_FAILED",
        501 => "FRAME_ERROR",
        502 => "SYNTAX_ERROR",
        503 => "COMMAND_INVALID",
        504 => "CHANNEL_ERROR",
        505 => "UNEXPECTED_FRAME",
        506 => "RESOURCE_ERROR",
        530 => "NOT_ALLOWED",
        540 => "NOT_IMPLEMENTED",
        541 => "INTERNAL_ERROR",
        _ => "UNKNOWN",
    }
}

pub(crate) type AmqpResult<T> = Result<T, AmqpError>;

/// A refused broker command, with the reply code RabbitMQ sends for it.
impl From<CommandError> for AmqpError {
    fn from(e: CommandError) -> Self {
        let code = match &e {
            CommandError::NotFound(_) => code::NOT_FOUND,
            CommandError::AccessRefused(_) => code::ACCESS_REFUSED,
            CommandError::ResourceLocked(_) => code::RESOURCE_LOCKED,
            CommandError::PreconditionFailed(_) => code::PRECONDITION_FAILED,
            CommandError::Invalid(_) => code::COMMAND_INVALID,
            CommandError::NotAllowed(_) => code::NOT_ALLOWED,
            CommandError::Internal(_) => code::INTERNAL_ERROR,
        };
        AmqpError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_spec_classes() {
        for soft in [403, 404, 405, 406] {
            assert!(!AmqpError::new(soft, "x").is_hard(), "{soft}");
        }
        for hard in [320, 501, 502, 503, 504, 505, 530, 540, 541] {
            assert!(AmqpError::new(hard, "x").is_hard(), "{hard}");
        }
    }

    #[test]
    fn reply_text_has_rabbitmq_shape() {
        let e = AmqpError::not_found("no queue 'q' in vhost '/'");
        assert_eq!(e.reply_text(), "NOT_FOUND - no queue 'q' in vhost '/'");
    }
}
