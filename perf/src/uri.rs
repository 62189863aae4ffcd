//! `amqp://user:pass@host:port/vhost` and `amqps://...?cacertfile=...` parsing (RabbitMQ's
//! URI spec; for amqps the TLS files come as its query parameters).

/// TLS settings of an `amqps://` URI, from its query (as RabbitMQ's Erlang client reads
/// them): `cacertfile` (required: warren-perf has no system trust store), `certfile` and
/// `keyfile` (a client certificate, both or neither), `server_name_indication` (the name
/// the server certificate is checked against; default: the host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tls {
    /// PEM file of the CAs that the server certificate must chain to.
    pub cacertfile: String,
    /// PEM client certificate chain.
    pub certfile: Option<String>,
    /// PEM private key of the client certificate.
    pub keyfile: Option<String>,
    /// Name to verify the server certificate against.
    pub server_name: String,
}

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
    /// TLS (`amqps://`), or plain TCP.
    pub tls: Option<Tls>,
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

/// The query parameters of a URI, decoded, in order.
fn query(s: &str) -> Result<Vec<(String, String)>, String> {
    let Some(q) = s
        .split('#')
        .next()
        .and_then(|s| s.split_once('?'))
        .map(|(_, q)| q)
    else {
        return Ok(Vec::new());
    };
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The TLS settings from an amqps URI's query; other parameters (heartbeat, ...) are
/// ignored, as for amqp://.
fn tls_of(s: &str, host: &str) -> Result<Tls, String> {
    let mut tls = Tls {
        cacertfile: String::new(),
        certfile: None,
        keyfile: None,
        server_name: host.to_string(),
    };
    for (k, v) in query(s)? {
        match k.as_str() {
            "cacertfile" => tls.cacertfile = v,
            "certfile" => tls.certfile = Some(v),
            "keyfile" => tls.keyfile = Some(v),
            "server_name_indication" => tls.server_name = v,
            _ => {}
        }
    }
    if tls.cacertfile.is_empty() {
        return Err(format!(
            "{s:?}: amqps needs ?cacertfile=PATH (the CA that signed the server certificate)"
        ));
    }
    if tls.certfile.is_some() != tls.keyfile.is_some() {
        return Err(format!("{s:?}: give certfile and keyfile together"));
    }
    Ok(tls)
}

/// Parses an AMQP URI. A missing user, password or vhost defaults to guest, guest and `/`;
/// a missing port to 5672 (amqp) or 5671 (amqps).
pub fn parse(s: &str) -> Result<Uri, String> {
    let (rest, secure) = if let Some(r) = s.strip_prefix("amqp://") {
        (r, false)
    } else if let Some(r) = s.strip_prefix("amqps://") {
        (r, true)
    } else {
        return Err(format!("{s:?} is not an amqp:// or amqps:// URI"));
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
        _ if secure => 5671,
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
    let tls = if secure {
        Some(tls_of(s, &host)?)
    } else {
        None
    };
    Ok(Uri {
        host,
        port,
        user,
        password,
        vhost,
        tls,
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
                vhost: "/".into(),
                tls: None,
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
    fn amqps_takes_its_files_from_the_query() {
        let u = parse("amqps://u:p@127.0.0.1/%2f?cacertfile=%2Ftmp%2Fca.crt&heartbeat=0").unwrap();
        assert_eq!(u.port, 5671);
        assert_eq!(
            u.tls,
            Some(Tls {
                cacertfile: "/tmp/ca.crt".into(),
                certfile: None,
                keyfile: None,
                server_name: "127.0.0.1".into(),
            })
        );
        let u = parse(
            "amqps://h:5699?cacertfile=ca.pem&certfile=c.pem&keyfile=k.pem&server_name_indication=localhost",
        )
        .unwrap();
        let t = u.tls.unwrap();
        assert_eq!((u.port, u.vhost.as_str()), (5699, "/"));
        assert_eq!(t.certfile.as_deref(), Some("c.pem"));
        assert_eq!(t.keyfile.as_deref(), Some("k.pem"));
        assert_eq!(t.server_name, "localhost");
        assert_eq!(parse("amqp://h?cacertfile=ca.pem").unwrap().tls, None);
    }

    #[test]
    fn bad_uris() {
        assert!(parse("http://x").is_err());
        assert!(parse("amqps://x").unwrap_err().contains("cacertfile"));
        assert!(parse("amqps://x?cacertfile=ca&certfile=c")
            .unwrap_err()
            .contains("keyfile"));
        assert!(parse("amqp://x:notaport/").is_err());
        assert!(parse("amqp://x/%zz").is_err());
        assert!(parse("amqp://[::1/").is_err());
    }
}
