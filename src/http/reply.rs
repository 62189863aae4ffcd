//! What a handler answers: a status, maybe a JSON body (whole, or streamed in chunks as a
//! long list is written), maybe a `Location`.

use super::error::ApiError;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_json::Value;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub(crate) struct Reply {
    status: StatusCode,
    body: ApiBody,
    location: Option<String>,
    challenge: bool,
}

/// A response body: nothing, all of it, or chunks from a channel.
pub(crate) enum ApiBody {
    Empty,
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ApiBody::Empty => Poll::Ready(None),
            ApiBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ApiBody::Stream(rx) => rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ApiBody::Empty | ApiBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ApiBody::Empty | ApiBody::Full(None) => SizeHint::with_exact(0),
            ApiBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ApiBody::Stream(_) => SizeHint::default(),
        }
    }
}

impl Reply {
    pub(crate) fn json(v: &Value) -> Self {
        Self::status(StatusCode::OK).with_body(v)
    }

    pub(crate) fn status(status: StatusCode) -> Self {
        Self {
            status,
            body: ApiBody::Empty,
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

    /// A JSON body written in chunks by another task.
    pub(crate) fn stream(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            body: ApiBody::Stream(rx),
            ..Self::status(StatusCode::OK)
        }
    }

    pub(crate) fn with_body(mut self, v: &Value) -> Self {
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        self.body = ApiBody::Full(Some(Bytes::from(bytes)));
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

    pub(crate) fn into_response(self) -> Response<ApiBody> {
        let mut builder = Response::builder().status(self.status);
        if !matches!(self.body, ApiBody::Empty) {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            builder = builder.header(LOCATION, l);
        }
        if self.challenge {
            builder = builder.header(WWW_AUTHENTICATE, "Basic realm=\"RabbitMQ Management\"");
        }
        builder
            .body(self.body)
            .unwrap_or_else(|_| Response::new(ApiBody::Empty))
    }
}
