//! A minimal HTTP/1.0 client for the management API (any method, basic auth
//! or none, JSON or raw bodies, extra headers; the answer's status, headers
//! and body), so the suite needs no HTTP stack.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Management API endpoint.
#[derive(Debug, Clone)]
pub struct Mgmt {
    /// host:port
    pub addr: String,
    /// User name for basic auth.
    pub user: String,
    /// Password.
    pub password: String,
    /// Path prefix (usually empty).
    pub prefix: String,
    /// Send the `Authorization` header (false: ask anonymously).
    pub send_auth: bool,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Resp {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| {
            format!(
                "HTTP {}: body is not JSON ({e}): {}",
                self.status, self.body
            )
        })
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Percent-encode one path segment (vhost names, queue names).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The Content-Length of a response head, if it has one.
fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

impl Mgmt {
    /// Parse `http://[user:pass@]host:port[/prefix]`; missing credentials
    /// default to the given ones (normally those of the AMQP URL).
    pub fn parse(url: &str, default_user: &str, default_password: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("management URL must start with http://: {url}"))?;
        let (hostpart, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
            None => (rest, String::new()),
        };
        let (user, password, addr) = match hostpart.rsplit_once('@') {
            Some((cred, addr)) => {
                let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
                (u.to_string(), p.to_string(), addr.to_string())
            }
            None => (
                default_user.to_string(),
                default_password.to_string(),
                hostpart.to_string(),
            ),
        };
        let addr = if addr.contains(':') {
            addr
        } else {
            format!("{addr}:80")
        };
        Ok(Mgmt {
            addr,
            user,
            password,
            prefix,
            send_auth: true,
        })
    }

    /// The same endpoint with other credentials.
    pub fn as_user(&self, user: &str, password: &str) -> Mgmt {
        Mgmt {
            user: user.to_string(),
            password: password.to_string(),
            send_auth: true,
            ..self.clone()
        }
    }

    /// The same endpoint without credentials.
    pub fn anonymous(&self) -> Mgmt {
        Mgmt {
            send_auth: false,
            ..self.clone()
        }
    }

    /// Perform a request with a JSON body (or none); returns the status code
    /// and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, String), String> {
        let body = body.map(|b| b.to_string());
        let r = self
            .send(method, path, body.as_deref(), Some("application/json"), &[])
            .await?;
        Ok((r.status, r.body))
    }

    /// Perform a request with a raw body, its content type (none: no
    /// `Content-Type` header) and extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        let fut = async {
            let mut s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("management API at {}: {e}", self.addr))?;
            let body = body.unwrap_or_default();
            let mut req = format!(
                "{method} {}{path} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                self.prefix,
                self.addr,
                body.len()
            );
            if self.send_auth {
                let auth = base64(format!("{}:{}", self.user, self.password).as_bytes());
                req.push_str(&format!("Authorization: Basic {auth}\r\n"));
            }
            if let Some(ct) = content_type {
                req.push_str(&format!("Content-Type: {ct}\r\n"));
            }
            for (n, v) in headers {
                req.push_str(&format!("{n}: {v}\r\n"));
            }
            req.push_str("\r\n");
            req.push_str(body);
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| format!("management API write: {e}"))?;
            // Read the head, then as many bytes as Content-Length says (to the
            // end of the stream without it): a server that answers and keeps
            // the socket open is not a timeout.
            let mut resp = Vec::new();
            let mut buf = [0u8; 8192];
            let mut head_end = None;
            loop {
                if let Some(end) = head_end {
                    let want = content_length(&resp[..end]);
                    if want.is_some_and(|n| resp.len() >= end + 4 + n) {
                        break;
                    }
                }
                let n = s
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("management API read: {e}"))?;
                if n == 0 {
                    break;
                }
                resp.extend_from_slice(&buf[..n]);
                if head_end.is_none() {
                    head_end = resp.windows(4).position(|w| w == b"\r\n\r\n");
                }
            }
            let text = String::from_utf8_lossy(&resp).to_string();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| format!("bad HTTP response: {head}"))?;
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            Ok(Resp {
                status,
                headers,
                body: body.to_string(),
            })
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .map_err(|_| format!("management API {method} {path} timed out"))?
    }

    /// GET and parse JSON; non-2xx is an error.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, String> {
        let (status, body) = self.request("GET", path, None).await?;
        if !(200..300).contains(&status) {
            return Err(format!("GET {path}: HTTP {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: bad JSON ({e}): {body}"))
    }

    /// Poll `/api/connections` until a connection with this
    /// `user_provided_name` shows up (stats are emitted every few seconds).
    pub async fn find_connection(
        &self,
        user_provided_name: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.get_json("/api/connections").await?;
            if let Some(c) = v.as_array().and_then(|a| {
                a.iter()
                    .find(|c| c["user_provided_name"] == user_provided_name)
            }) {
                return Ok(c.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "connection '{user_provided_name}' not listed in /api/connections after {}s",
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
