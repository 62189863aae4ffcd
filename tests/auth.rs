//! Login: refused credentials (with and without the `authentication_failure_close`
//! capability), unknown or forbidden vhosts, and the AMQPLAIN mechanism.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ (the test that adds a user runs against Warren only).

use crate::common;
use common::raw::{Login, Mechanism, RawClient, WAIT};
use common::{Target, TestBroker};

fn login(user: &str, password: &str) -> Login {
    Login {
        user: user.into(),
        password: password.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn wrong_password_with_authentication_failure_close_gets_403() {
    let t = Target::start().await;
    let l = Login {
        capabilities: vec!["authentication_failure_close"],
        ..login("guest", "wrong")
    };
    let failure = RawClient::try_open(t.addr, &l)
        .await
        .err()
        .expect("a wrong password is refused");
    let close = failure
        .close
        .expect("with the capability the server explains with connection.close");
    assert_eq!(close.reply_code, 403, "{close:?}");
    assert!(
        close
            .reply_text
            .as_str()
            .starts_with("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"),
        "{close:?}"
    );
    assert_eq!(failure.step, "tune", "refused instead of connection.tune");
}

#[tokio::test]
async fn wrong_password_without_the_capability_just_closes_the_socket() {
    let t = Target::start().await;
    let failure = RawClient::try_open(t.addr, &login("guest", "wrong"))
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(
        failure.close.is_none(),
        "no connection.close without the capability: {:?}",
        failure.close
    );
    assert_eq!(failure.step, "tune");
}

#[tokio::test]
async fn unknown_user_is_refused_like_a_wrong_password() {
    let t = Target::start().await;
    let l = Login {
        capabilities: vec!["authentication_failure_close"],
        ..login("nobody-at-all", "guest")
    };
    let failure = RawClient::try_open(t.addr, &l)
        .await
        .err()
        .expect("refused");
    assert_eq!(failure.close.expect("connection.close").reply_code, 403);
}

#[tokio::test]
async fn vhost_that_does_not_exist_is_not_allowed() {
    let t = Target::start().await;
    let l = Login {
        vhost: "no-such-vhost".into(),
        ..Default::default()
    };
    let mut c = RawClient::connect(t.addr).await;
    let failure = c.handshake(&l).await.expect_err("refused");
    assert_eq!(failure.step, "open");
    let close = failure.close.expect("connection.close");
    assert_eq!(close.reply_code, 530, "{close:?}");
    assert!(
        close.reply_text.as_str().contains("no-such-vhost"),
        "{close:?}"
    );
    // After our close-ok the server closes the socket.
    c.expect_eof(WAIT).await;
}

#[tokio::test]
async fn amqplain_login_works() {
    let t = Target::start().await;
    let l = Login {
        mechanism: Mechanism::AmqPlain,
        ..Default::default()
    };
    let mut c = RawClient::open_with(t.addr, &l).await;
    c.open_channel(1).await;
}

#[tokio::test]
async fn amqplain_with_a_wrong_password_is_refused() {
    let t = Target::start().await;
    let l = Login {
        mechanism: Mechanism::AmqPlain,
        capabilities: vec!["authentication_failure_close"],
        ..login("guest", "wrong")
    };
    let close = RawClient::try_open(t.addr, &l)
        .await
        .err()
        .expect("refused")
        .close
        .expect("connection.close");
    assert_eq!(close.reply_code, 403, "{close:?}");
    assert!(close.reply_text.as_str().contains("AMQPLAIN"), "{close:?}");
}

/// RabbitMQ 3.10.8 raises 503 COMMAND_INVALID "unknown authentication mechanism" but, as
/// for every handshake error other than a refused login, closes the socket without sending
/// it (after a 3 s delay). Sending the 503 is the graceful form of the same refusal.
#[tokio::test]
async fn unknown_mechanism_is_refused() {
    let t = Target::start().await;
    let l = Login {
        mechanism: Mechanism::Other("SCRAM-SHA-1"),
        capabilities: vec!["authentication_failure_close"],
        ..Default::default()
    };
    let failure = RawClient::try_open(t.addr, &l)
        .await
        .err()
        .expect("refused");
    assert_eq!(failure.step, "tune", "refused instead of connection.tune");
    if let Some(close) = failure.close {
        assert_eq!(close.reply_code, 503, "{close:?}");
    }
}

#[tokio::test]
async fn user_without_permissions_on_the_vhost_is_not_allowed() {
    let b = TestBroker::start().await;
    let user = warren::broker::command::Command::PutUser {
        name: "bob".into(),
        password_hash: warren::auth::hash_password("pw"),
        hashing_algorithm: warren::auth::SHA256_ALGORITHM.into(),
        tags: vec![],
        limits: None,
    };
    b.broker()
        .execute(&warren::broker::command::Actor::BROKER, user)
        .expect("bob added");
    let mut c = RawClient::connect(b.addr).await;
    let failure = c
        .handshake(&login("bob", "pw"))
        .await
        .expect_err("bob has no permissions on /");
    assert_eq!(failure.step, "open");
    let close = failure.close.expect("connection.close");
    assert_eq!(close.reply_code, 530, "{close:?}");
    assert!(close.reply_text.as_str().contains("bob"), "{close:?}");
    c.expect_eof(WAIT).await;
}
