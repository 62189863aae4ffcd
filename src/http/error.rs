//! API errors as RabbitMQ writes them: a status and `{"error": ..., "reason": ...}`.

use crate::broker::command::CommandError;
use hyper::StatusCode;
use serde_json::{json, Value};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    /// Usually a string; RabbitMQ sends a list for some validation errors.
    pub reason: Value,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: &'static str, reason: impl Into<Value>) -> Self {
        Self {
            status,
            error,
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_request(reason: impl Into<Value>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Object Not Found", "Not Found")
    }

    /// 404 with a reason (a queue whose home node is down).
    pub(crate) fn not_found_because(reason: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", reason)
    }

    /// What RabbitMQ answers to a write in a vhost that does not exist.
    pub(crate) fn no_vhost() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "vhost_not_found")
    }

    /// Authenticated, but not allowed (RabbitMQ answers 401 here too, without a challenge).
    pub(crate) fn not_authorised(reason: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authorised", reason)
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
        )
    }

    pub(crate) fn body(&self) -> Value {
        json!({"error": self.error, "reason": self.reason})
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound(r) => Self::new(StatusCode::NOT_FOUND, "not_found", r),
            CommandError::AccessRefused(_) => Self::not_authorised("Access refused."),
            CommandError::ResourceLocked(r)
            | CommandError::PreconditionFailed(r)
            | CommandError::Invalid(r)
            | CommandError::NotAllowed(r) => Self::bad_request(r),
            CommandError::Internal(r) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", r)
            }
        }
    }
}
