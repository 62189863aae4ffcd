//! A small HTTP client for the management API: one connection per request, basic auth,
//! JSON bodies. `warren ctl` and the tests use it.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// Where the API is and who logs in.
#[derive(Clone, Debug)]
pub struct Client {
    /// `host:port`.
    pub address: String,
    authorization: Option<String>,
    pub timeout: Duration,
}

/// An answer: status, headers and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The body as JSON (`null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn new(address: &str, user: &str, password: &str) -> Self {
        Self::anonymous(address).with_login(user, password)
    }

    /// A client that sends no credentials.
    pub fn anonymous(address: &str) -> Self {
        Self {
            address: address.to_string(),
            authorization: None,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn with_login(mut self, user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Response> {
        self.send(Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<Response> {
        self.send(Method::PUT, path, Some(body.to_string().into()))
            .await
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<Response> {
        self.send(Method::POST, path, Some(body.to_string().into()))
            .await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Response> {
        self.send(Method::DELETE, path, None).await
    }

    /// Sends one request (`path` starts with `/api/`) with a raw body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Response> {
        self.send_with_headers(method, path, &[], body).await
    }

    /// Sends one request with extra headers (such as `X-Reason`) and a raw body.
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> anyhow::Result<Response> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, headers, body))
            .await
            .map_err(|_| {
                anyhow::anyhow!("no answer from {} within {:?}", self.address, self.timeout)
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> anyhow::Result<Response> {
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", self.address))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.address);
        if let Some(a) = &self.authorization {
            req = req.header(AUTHORIZATION, a);
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = sender
            .send_request(req.body(Full::new(body.unwrap_or_default()))?)
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        driver.abort();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
