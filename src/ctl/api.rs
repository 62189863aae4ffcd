//! The management API as `warren ctl` uses it: where it is (`--url`), paths built from
//! percent-encoded segments, and answers turned into JSON or a [`CtlError`].

use super::client::{Client, Response};
use super::error::{CtlError, CtlResult};
use bytes::Bytes;
use hyper::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::time::Duration;

/// Everything but RFC 3986's unreserved characters is encoded, `/` included (a vhost named
/// `/` is `%2F`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) struct Api {
    client: Client,
    /// The URL as given, for messages.
    url: String,
    /// A path the API is served under (`http://host:15672/rabbitmq`), without a trailing
    /// slash; usually empty.
    prefix: String,
}

impl Api {
    /// `url` is `http://host[:port][/prefix]` (the scheme may be left out; the port
    /// defaults to 80, as in any HTTP URL).
    pub(crate) fn new(url: &str, user: &str, password: &str) -> CtlResult<Api> {
        let (address, prefix) = parse_url(url)?;
        Ok(Api {
            client: Client::new(&address, user, password),
            url: url.to_string(),
            prefix,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// How long one request may take.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.client.timeout = timeout;
    }

    /// `/api/` followed by the segments, each percent-encoded.
    pub(crate) fn path(segments: &[&str]) -> CtlResult<String> {
        let mut path = String::from("/api");
        for s in segments {
            if s.is_empty() {
                return Err(CtlError::usage("names must not be empty"));
            }
            path.push('/');
            match *s {
                // Encoded, or they would mean "this" and "parent" in a path.
                "." => path.push_str("%2E"),
                ".." => path.push_str("%2E%2E"),
                s => path.extend(utf8_percent_encode(s, SEGMENT)),
            }
        }
        Ok(path)
    }

    /// Sends a request and hands back the answer whatever its status; only a transport
    /// failure is an error.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> CtlResult<Response> {
        let full = format!("{}{path}", self.prefix);
        self.client
            .send_with_headers(method, &full, headers, body)
            .await
            .map_err(|e| CtlError::Unreachable {
                url: self.url.clone(),
                cause: format!("{e:#}"),
            })
    }

    /// Sends a request; a non-2xx answer is an error carrying the API's reason.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> CtlResult<Response> {
        let r = self.send(method, path, headers, body).await?;
        if (200..300).contains(&r.status) {
            Ok(r)
        } else {
            Err(CtlError::from_answer(r.status, &r.body))
        }
    }

    /// GETs a JSON document.
    pub(crate) async fn get_json(&self, path: &str) -> CtlResult<Value> {
        let r = self.call(Method::GET, path, &[], None).await?;
        serde_json::from_slice(&r.body)
            .map_err(|e| CtlError::other(format!("the answer to GET {path} is not JSON: {e}")))
    }

    /// GETs an object that may not exist: `None` on 404.
    pub(crate) async fn get_if_exists(&self, path: &str) -> CtlResult<Option<Value>> {
        let r = self.send(Method::GET, path, &[], None).await?;
        match r.status {
            404 => Ok(None),
            200..=299 => serde_json::from_slice(&r.body)
                .map(Some)
                .map_err(|e| CtlError::other(format!("the answer to GET {path} is not JSON: {e}"))),
            status => Err(CtlError::from_answer(status, &r.body)),
        }
    }

    pub(crate) async fn put_json(&self, path: &str, body: &Value) -> CtlResult<()> {
        let body = Bytes::from(body.to_string());
        self.call(Method::PUT, path, &[], Some(body))
            .await
            .map(drop)
    }

    pub(crate) async fn post_raw(&self, path: &str, body: Bytes) -> CtlResult<()> {
        self.call(Method::POST, path, &[], Some(body))
            .await
            .map(drop)
    }

    pub(crate) async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> CtlResult<()> {
        self.call(Method::DELETE, path, headers, None)
            .await
            .map(drop)
    }
}

/// Splits `http://host[:port][/prefix]` into `host:port` and the prefix.
fn parse_url(url: &str) -> CtlResult<(String, String)> {
    let bad = |why: &str| CtlError::usage(format!("invalid --url {url:?}: {why}"));
    let rest = match url.split_once("://") {
        None => url,
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
            return Err(bad("https is not supported; use http://"))
        }
        Some(_) => return Err(bad("the scheme must be http")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains('@') {
        return Err(bad("give the credentials with --user and --password"));
    }
    if path.contains(['?', '#']) {
        return Err(bad("no query or fragment allowed"));
    }
    let port = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => None,
            Some((_, after)) => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(bad("a port follows the address after a colon")),
            },
            None => return Err(bad("an IPv6 address opened with [ is not closed")),
        },
        None => match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(bad(
                    "put an IPv6 address in brackets, as in http://[::1]:15672",
                ))
            }
            Some((_, port)) => Some(port),
            None => None,
        },
    };
    let address = match port {
        Some(p) if p.parse::<u16>().is_ok() => authority.to_string(),
        Some(_) => return Err(bad("the port must be a number from 0 to 65535")),
        None => format!("{authority}:80"),
    };
    Ok((address, path.trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_is_percent_encoded() {
        assert_eq!(
            Api::path(&["queues", "/", "a b"]).ok().as_deref(),
            Some("/api/queues/%2F/a%20b")
        );
        assert_eq!(
            Api::path(&["users", "ä/x?#%"]).ok().as_deref(),
            Some("/api/users/%C3%A4%2Fx%3F%23%25")
        );
        assert_eq!(
            Api::path(&["queues", "..", "a.b"]).ok().as_deref(),
            Some("/api/queues/%2E%2E/a.b")
        );
        assert!(Api::path(&["queues", ""]).is_err());
    }

    #[test]
    fn urls_give_an_address_and_a_prefix() {
        let ok = |u: &str| parse_url(u).ok();
        let pair = |a: &str, p: &str| Some((a.to_string(), p.to_string()));
        assert_eq!(ok("http://127.0.0.1:15672"), pair("127.0.0.1:15672", ""));
        assert_eq!(ok("http://127.0.0.1:15672/"), pair("127.0.0.1:15672", ""));
        assert_eq!(ok("127.0.0.1:1"), pair("127.0.0.1:1", ""));
        assert_eq!(ok("HTTP://h:2/rabbit/"), pair("h:2", "/rabbit"));
        assert_eq!(ok("http://localhost"), pair("localhost:80", ""));
        assert_eq!(ok("http://[::1]:15672"), pair("[::1]:15672", ""));
        assert_eq!(ok("http://[::1]"), pair("[::1]:80", ""));
        for bad in [
            "https://h:1",
            "ftp://h",
            "http://",
            "http://u:p@h:1",
            "http://h:99999",
            "http://h:x",
            "http://::1:15672",
            "http://h:1/?a",
        ] {
            let e = parse_url(bad).err();
            assert!(matches!(e, Some(CtlError::Usage(_))), "{bad}: {e:?}");
        }
    }
}
