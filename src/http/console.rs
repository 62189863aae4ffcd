//! The web console: the static files of `www/`, embedded in the binary at build time (read
//! from disk in debug builds, so a reload shows an edit). Every path outside `/api` is a
//! console file; `/` is `index.html`. Files are answered with `Cache-Control: no-cache` and an
//! ETag made from their hash, so a browser revalidates each time and gets a 304 when nothing
//! changed. The console talks to the API like any other client; nothing here authenticates.

use super::error::ApiError;
use super::reply::{ApiBody, Reply};
use bytes::Bytes;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{HeaderMap, Method, Response, StatusCode};
use std::fmt::Write;

/// `www/` without what only builds or documents it (npm's files, the vendoring script, README).
#[derive(rust_embed::Embed)]
#[folder = "www/"]
#[exclude = "node_modules/*"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = "scripts/*"]
#[exclude = "README.md"]
struct Www;

/// The console's pages load only their own scripts, styles and data.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   object-src 'none'; frame-ancestors 'self'";

/// Answers a request for a console file.
pub(super) fn serve(method: &Method, path: &str, headers: &HeaderMap) -> Response<ApiBody> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = Reply::error(ApiError::method_not_allowed()).into_response();
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let Some((name, file)) = file_name(path).and_then(|n| Some((n, Www::get(n)?))) else {
        return Reply::error(ApiError::not_found()).into_response();
    };
    let etag = etag(&file.metadata.sha256_hash());
    let unchanged = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches_etag(v, &etag));
    let (status, body) = if unchanged {
        (StatusCode::NOT_MODIFIED, ApiBody::Empty)
    } else {
        let data = Bytes::from(file.data.into_owned());
        (StatusCode::OK, ApiBody::Full(Some(data)))
    };
    let mut builder = Response::builder()
        .status(status)
        .header(CACHE_CONTROL, "no-cache")
        .header(ETAG, etag)
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff");
    if !unchanged {
        builder = builder.header(CONTENT_TYPE, content_type(name));
    }
    if name.ends_with(".html") {
        builder = builder.header(CONTENT_SECURITY_POLICY, CSP);
    }
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(ApiBody::Empty))
}

/// The embedded file a path names, or `None` for a path that could leave `www/`.
fn file_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix('/')?;
    if name.is_empty() {
        return Some("index.html");
    }
    let safe = !name.contains('\\')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    safe.then_some(name)
}

/// A strong ETag: the first 16 bytes of the file's SHA-256, in hex.
fn etag(hash: &[u8; 32]) -> String {
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &hash[..16] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}

/// `If-None-Match`: `*` or a list of tags, weak ones compared weakly (RFC 9110 13.1.2).
fn matches_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_files_inside_www_only() {
        assert_eq!(file_name("/"), Some("index.html"));
        assert_eq!(file_name("/js/app.js"), Some("js/app.js"));
        assert_eq!(file_name("/../Cargo.toml"), None);
        assert_eq!(file_name("/js/../../x"), None);
        assert_eq!(file_name("/js//app.js"), None);
        assert_eq!(file_name("/a\\b"), None);
        assert_eq!(file_name("relative"), None);
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        assert!(matches_etag("\"abc\"", tag));
        assert!(matches_etag("\"x\", W/\"abc\"", tag));
        assert!(matches_etag("*", tag));
        assert!(!matches_etag("\"abd\"", tag));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("css/app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn index_is_embedded() {
        assert!(Www::get("index.html").is_some());
        assert!(Www::get("package.json").is_none());
    }
}
