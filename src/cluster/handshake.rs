//! The start of every inter-node connection: both sides prove they know the cluster's
//! shared secret (the cookie) without sending it, each with an HMAC-SHA256 over both fresh
//! nonces and its own name, and learn who the other is.
//!
//! ```text
//! dialer   -> Hello   { dialer, nonce_d }
//! acceptor -> Welcome { acceptor, nonce_a, mac(cookie, "accept" nonce_d nonce_a acceptor) }
//! dialer   -> Proof   { mac(cookie, "dial" nonce_a nonce_d dialer) }
//! acceptor -> Ready | Refused { reason }
//! ```

use super::node::Member;
use super::wire;
use rand::RngCore;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// A handshake that takes longer than this is dropped.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// Handshake frames are small.
const MAX: u32 = 4096;

#[derive(Serialize, Deserialize)]
enum Step {
    Hello {
        member: Member,
        nonce: String,
    },
    Welcome {
        member: Member,
        nonce: String,
        mac: String,
    },
    Proof {
        mac: String,
    },
    Ready,
    Refused {
        reason: String,
    },
}

fn nonce() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex(&b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mac(cookie: &[u8], parts: &[&str]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, cookie);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    hex(ctx.sign().as_ref())
}

fn verify(cookie: &[u8], parts: &[&str], given: &str) -> bool {
    let expected = mac(cookie, parts);
    // Same length always (hex of 32 bytes); compare without an early exit.
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn refused(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, reason.into())
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, s: &Step) -> io::Result<()> {
    wire::write(w, s).await?;
    w.flush().await
}

/// The dialing side: returns the acceptor.
pub(crate) async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Member,
    cookie: &[u8],
) -> io::Result<Member> {
    let mine = nonce();
    send(
        s,
        &Step::Hello {
            member: me.clone(),
            nonce: mine.clone(),
        },
    )
    .await?;
    let Step::Welcome { member, nonce, mac } = wire::read(s, MAX).await? else {
        return Err(refused("the peer did not answer the handshake"));
    };
    if !verify(cookie, &["accept", &mine, &nonce, &member.name], &mac) {
        let reason = "wrong cookie".to_string();
        let _ = send(s, &Step::Refused { reason }).await;
        return Err(refused(format!(
            "{}: wrong cookie (it does not know this cluster's)",
            member.name
        )));
    }
    let proof = self::mac(cookie, &["dial", &nonce, &mine, &me.name]);
    send(s, &Step::Proof { mac: proof }).await?;
    match wire::read(s, MAX).await? {
        Step::Ready => Ok(member),
        Step::Refused { reason } => Err(refused(reason)),
        _ => Err(refused("the peer did not answer the handshake")),
    }
}

/// The accepting side: returns the dialer once it proved it knows the cookie.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Member,
    cookie: &[u8],
) -> io::Result<Member> {
    let Step::Hello { member, nonce } = wire::read(s, MAX).await? else {
        return Err(refused("the first frame was not a hello"));
    };
    let mine = self::nonce();
    let m = mac(cookie, &["accept", &nonce, &mine, &me.name]);
    send(
        s,
        &Step::Welcome {
            member: me.clone(),
            nonce: mine.clone(),
            mac: m,
        },
    )
    .await?;
    let proof = match wire::read(s, MAX).await? {
        Step::Proof { mac } => mac,
        Step::Refused { reason } => return Err(refused(format!("{}: {reason}", member.name))),
        _ => return Err(refused("no proof of the cookie")),
    };
    if !verify(cookie, &["dial", &mine, &nonce, &member.name], &proof) {
        let reason = "wrong cookie".to_string();
        send(
            s,
            &Step::Refused {
                reason: reason.clone(),
            },
        )
        .await?;
        return Err(refused(format!("{}: {reason}", member.name)));
    }
    if member.name == me.name {
        let reason = format!("a node named {} is this node", me.name);
        send(
            s,
            &Step::Refused {
                reason: reason.clone(),
            },
        )
        .await?;
        return Err(refused(reason));
    }
    send(s, &Step::Ready).await?;
    Ok(member)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: &str) -> Member {
        Member {
            name: n.into(),
            addr: "127.0.0.1:1".into(),
        }
    }

    async fn pair(dial_cookie: &'static [u8], accept_cookie: &'static [u8]) -> (bool, bool) {
        let (mut a, mut b) = tokio::io::duplex(8192);
        let d = tokio::spawn(async move { dial(&mut a, &member("a"), dial_cookie).await });
        let acc = accept(&mut b, &member("b"), accept_cookie).await;
        let d = d.await.expect("dialer task");
        (d.is_ok(), acc.is_ok())
    }

    #[tokio::test]
    async fn the_same_cookie_connects_and_names_both_sides() {
        let (mut a, mut b) = tokio::io::duplex(8192);
        let d = tokio::spawn(async move { dial(&mut a, &member("a"), b"secret-1").await });
        let acc = accept(&mut b, &member("b"), b"secret-1")
            .await
            .expect("accepted");
        assert_eq!(acc.name, "a");
        assert_eq!(d.await.expect("task").expect("dialed").name, "b");
    }

    #[tokio::test]
    async fn a_different_cookie_is_refused_on_both_sides() {
        assert_eq!(pair(b"secret-1", b"secret-2").await, (false, false));
    }
}
