//! A minimal HTTP/1.0 client for the management API (GET/PUT/DELETE with
//! basic auth and JSON bodies), so the suite needs no HTTP stack.

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
        })
    }

    /// Perform a request; returns the status code and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, String), String> {
        let fut = async {
            let mut s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("management API at {}: {e}", self.addr))?;
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let auth = base64(format!("{}:{}", self.user, self.password).as_bytes());
            let req = format!(
                "{method} {}{path} HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                self.prefix,
                self.addr,
                body.len()
            );
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| format!("management API write: {e}"))?;
            let mut resp = Vec::new();
            s.read_to_end(&mut resp)
                .await
                .map_err(|e| format!("management API read: {e}"))?;
            let text = String::from_utf8_lossy(&resp).to_string();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| format!("bad HTTP response: {head}"))?;
            Ok((status, body.to_string()))
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
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
