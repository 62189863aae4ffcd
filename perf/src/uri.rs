//! `amqp://user:pass@host:port/vhost` parsing (RabbitMQ's URI spec, plain AMQP only).

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Virtual host.
    pub vhost: String,
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// Parses an AMQP URI. A missing user, password or vhost defaults to guest, guest and `/`.
pub fn parse(s: &str) -> Result<Uri, String> {
    let rest = if let Some(r) = s.strip_prefix("amqp://") {
        r
    } else if s.starts_with("amqps://") {
        return Err("amqps (TLS) is not supported by warren-perf".into());
    } else {
        return Err(format!("{s:?} is not an amqp:// URI"));
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (decode(u)?, decode(p)?),
            None => (decode(ui)?, "guest".to_string()),
        },
        None => ("guest".to_string(), "guest".to_string()),
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let end = h
            .find(']')
            .ok_or_else(|| format!("unterminated IPv6 address in {s:?}"))?;
        let port = h[end + 1..].strip_prefix(':');
        (h[..end].to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() => p
            .parse::<u16>()
            .map_err(|_| format!("bad port {p:?} in {s:?}"))?,
        _ => 5672,
    };
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        decode(&host)?
    };
    let vhost = match path {
        None | Some("") => "/".to_string(),
        Some(p) => decode(p)?,
    };
    Ok(Uri {
        host,
        port,
        user,
        password,
        vhost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_uri() {
        let u = parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(
            u,
            Uri {
                host: "127.0.0.1".into(),
                port: 5672,
                user: "guest".into(),
                password: "guest".into(),
                vhost: "/".into()
            }
        );
    }

    #[test]
    fn defaults_and_escapes() {
        let u = parse("amqp://localhost").unwrap();
        assert_eq!(
            (u.port, u.vhost.as_str(), u.user.as_str()),
            (5672, "/", "guest")
        );
        let u = parse("amqp://a%40b:p%3Aw@[::1]:5690/my%20vhost?heartbeat=0").unwrap();
        assert_eq!(u.user, "a@b");
        assert_eq!(u.password, "p:w");
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 5690);
        assert_eq!(u.vhost, "my vhost");
        let u = parse("amqp://h:1234/vh").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.vhost.as_str()),
            ("h", 1234, "vh")
        );
    }

    #[test]
    fn bad_uris() {
        assert!(parse("http://x").is_err());
        assert!(parse("amqps://x").is_err());
        assert!(parse("amqp://x:notaport/").is_err());
        assert!(parse("amqp://x/%zz").is_err());
        assert!(parse("amqp://[::1/").is_err());
    }
}
