//! What a handler answers: a status, maybe a JSON body, maybe a `Location`.

use super::error::ApiError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_json::Value;

pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Bytes>,
    location: Option<String>,
    challenge: bool,
}

impl Reply {
    pub(crate) fn json(v: &Value) -> Self {
        Self::status(StatusCode::OK).with_body(v)
    }

    pub(crate) fn status(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            location: None,
            challenge: false,
        }
    }

    /// 201 for a new object, 204 for a changed one (RabbitMQ's PUT answers).
    pub(crate) fn put(created: bool) -> Self {
        Self::status(if created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        })
    }

    pub(crate) fn no_content() -> Self {
        Self::status(StatusCode::NO_CONTENT)
    }

    pub(crate) fn with_body(mut self, v: &Value) -> Self {
        self.body = Some(Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
        self
    }

    pub(crate) fn with_location(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }

    pub(crate) fn error(e: ApiError) -> Self {
        let challenge = e.status == StatusCode::UNAUTHORIZED && e.error == "not_authorized";
        let mut r = Self::status(e.status).with_body(&e.body());
        r.challenge = challenge;
        r
    }

    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut builder = Response::builder().status(self.status);
        if self.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            builder = builder.header(LOCATION, l);
        }
        if self.challenge {
            builder = builder.header(WWW_AUTHENTICATE, "Basic realm=\"RabbitMQ Management\"");
        }
        builder
            .body(Full::new(self.body.unwrap_or_default()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}
