//! The broker command layer driven directly, as the HTTP API and the cluster will drive it:
//! typed errors, the actor's rights, effects on live objects, and persistence across a
//! restart. (What AMQP clients see of the same commands is in the conformance suite.)

use crate::common;
use common::TestBroker;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::json;
use warren::auth::{hash_password, User};
use warren::broker::command::{
    Actor, Command, CommandError, Destination, Outcome, PolicySpec, QueueDecl,
};
use warren::store::definitions::VhostDefinition;

fn run(b: &TestBroker, cmd: Command) -> Result<Outcome, CommandError> {
    let applied = b.broker().execute(&Actor::BROKER, cmd)?;
    Ok(applied.outcome)
}

fn queue(vhost: &str, name: &str) -> Command {
    Command::DeclareQueue(QueueDecl {
        vhost: vhost.into(),
        name: name.into(),
        server_named: false,
        durable: true,
        auto_delete: false,
        exclusive_owner: None,
        arguments: FieldTable::default(),
        home: None,
    })
}

fn permissions(user: &str, vhost: &str) -> Command {
    Command::SetPermissions {
        user: user.into(),
        vhost: vhost.into(),
        configure: ".*".into(),
        write: ".*".into(),
        read: ".*".into(),
    }
}

#[tokio::test]
async fn vhosts_users_permissions_and_parameters_persist_and_go_with_their_vhost() {
    let b = TestBroker::start().await;
    for cmd in [
        Command::PutVhost(VhostDefinition::named("shop", "orders")),
        Command::PutUser {
            name: "ann".into(),
            password_hash: hash_password("pw"),
            hashing_algorithm: warren::auth::SHA256_ALGORITHM.into(),
            tags: vec!["management".into()],
            limits: None,
        },
        permissions("ann", "shop"),
        queue("shop", "orders"),
        Command::SetParameter {
            vhost: "shop".into(),
            component: "vhost-limits".into(),
            name: "limits".into(),
            value: json!({"max-queues": 10}),
        },
        Command::SetGlobalParameter {
            name: "cluster_name".into(),
            value: json!("warren-test"),
        },
    ] {
        run(&b, cmd).expect("applies");
    }
    let dir = b.stop().await;

    let b = TestBroker::start_in(dir).await;
    let vh = b.broker().vhost("shop").expect("vhost back");
    assert_eq!(vh.description(), "orders");
    assert!(vh.queue("orders").is_some());
    assert!(b.broker().permission("ann", "shop").is_some());
    let defs = b.broker().export_definitions();
    assert_eq!(defs.parameters.len(), 1, "{:?}", defs.parameters);
    assert_eq!(defs.parameters[0].value, json!({"max-queues": 10}));
    assert_eq!(defs.global_parameters[0].value, json!("warren-test"));

    run(
        &b,
        Command::DeleteVhost {
            name: "shop".into(),
        },
    )
    .expect("deleted");
    assert!(b.broker().permission("ann", "shop").is_none());
    assert!(vh.queue("orders").is_none(), "its queues went with it");
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    assert!(b.broker().vhost("shop").is_none());
    assert!(b.broker().export_definitions().parameters.is_empty());
    assert!(b.broker().user("ann").is_some(), "users outlive a vhost");
}

#[tokio::test]
async fn refusals_are_typed() {
    let b = TestBroker::start().await;
    let err = |cmd| run(&b, cmd).expect_err("refused");
    assert!(matches!(
        err(permissions("guest", "nowhere")),
        CommandError::NotFound(_)
    ));
    let bad_regex = Command::SetPermissions {
        user: "guest".into(),
        vhost: "/".into(),
        configure: "(".into(),
        write: "".into(),
        read: "".into(),
    };
    assert!(matches!(err(bad_regex), CommandError::Invalid(_)));
    assert_eq!(
        err(Command::SetParameter {
            vhost: "/".into(),
            component: "vhost-limits".into(),
            name: "limits".into(),
            value: json!({"max-connections": "x"}),
        }),
        CommandError::Invalid(
            "Validation failed\n\nmax-connections should be a number, actually was <<\"x\">>\n"
                .into()
        )
    );
    assert!(matches!(
        err(Command::ClearPolicy {
            vhost: "/".into(),
            name: "none".into()
        }),
        CommandError::NotFound(_)
    ));
    assert!(matches!(
        err(Command::DeclareQueue(QueueDecl {
            name: "amq.mine".into(),
            ..match queue("/", "x") {
                Command::DeclareQueue(d) => d,
                _ => unreachable!(),
            }
        })),
        CommandError::AccessRefused(_)
    ));
    assert!(matches!(
        err(Command::Bind(warren::broker::command::BindingSpec {
            vhost: "/".into(),
            source: "amq.direct".into(),
            destination: Destination::Queue("missing".into()),
            routing_key: "k".into(),
            arguments: FieldTable::default(),
        })),
        CommandError::NotFound(_)
    ));
}

#[tokio::test]
async fn a_user_needs_the_right_tags_and_permissions() {
    let b = TestBroker::start().await;
    let user = User {
        name: "mona".into(),
        password_hash: String::new(),
        hashing_algorithm: warren::auth::SHA256_ALGORITHM.into(),
        tags: vec!["management".into()],
        limits: Default::default(),
    };
    let mona = Actor {
        user: Some(&user),
        permission: None,
        connection: None,
    };
    let add_vhost = Command::PutVhost(VhostDefinition::named("v", ""));
    let refused = b.broker().execute(&mona, add_vhost).err();
    assert!(matches!(refused, Some(CommandError::AccessRefused(_))));
    // No permission in "/": a declare is refused with RabbitMQ's text.
    let refused = b.broker().execute(&mona, queue("/", "q")).err();
    assert_eq!(
        refused,
        Some(CommandError::AccessRefused(
            "access to queue 'q' in vhost '/' refused for user 'mona'".into()
        ))
    );
}

#[tokio::test]
async fn a_policy_set_by_command_applies_at_once_to_an_existing_queue() {
    let b = TestBroker::start().await;
    run(&b, queue("/", "capped")).unwrap();
    let policy = PolicySpec {
        vhost: "/".into(),
        name: "cap".into(),
        pattern: "^capped$".into(),
        apply_to: "queues".into(),
        priority: 0,
        definition: json!({"max-length": 1}).as_object().unwrap().clone(),
    };
    run(&b, Command::SetPolicy(policy)).unwrap();
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    for body in [&b"1"[..], b"2", b"3"] {
        ch.basic_publish(
            "".into(),
            "capped".into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    assert_eq!(common::ready_count(&ch, "capped").await, 1);
}

#[test]
fn commands_are_plain_values() {
    let cmd = Command::Bind(warren::broker::command::BindingSpec {
        vhost: "/".into(),
        source: "x".into(),
        destination: Destination::Exchange("y".into()),
        routing_key: "a.#".into(),
        arguments: FieldTable::default(),
    });
    let json = serde_json::to_string(&cmd).unwrap();
    assert!(json.starts_with(r#"{"command":"bind""#), "{json}");
    let back: Command = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cmd);
}

type Closed = std::pin::Pin<Box<dyn std::future::Future<Output = (u16, String)> + Send>>;

/// A connection as `user` (password "pw") to `vhost`, kept open, and the first error it
/// reports (its reply code and text).
async fn connect_as(b: &TestBroker, user: &str, vhost: &str) -> (lapin::Connection, Closed) {
    use futures_lite::StreamExt;
    let url = b.url().replace("guest:guest", &format!("{user}:pw"));
    let url = format!("{}/{vhost}", url.trim_end_matches("/%2f"));
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .expect("connects");
    let mut events = conn.events_listener();
    let closed = Box::pin(async move {
        while let Some(ev) = events.next().await {
            if let lapin::Event::Error(e) = ev {
                return (common::amqp_code(&e).unwrap_or(0), e.to_string());
            }
        }
        (0, "no error reported".to_string())
    });
    (conn, closed)
}

/// As in RabbitMQ 3.10: deleting a user closes its connections with 320 "user 'u' is
/// deleted", deleting a vhost closes the connections to it with 320 "vhost 'v' is down";
/// other connections stay.
#[tokio::test]
async fn deleting_a_vhost_or_a_user_closes_their_connections() {
    let b = TestBroker::start().await;
    for cmd in [
        Command::PutVhost(VhostDefinition::named("doomed", "")),
        Command::PutUser {
            name: "bob".into(),
            password_hash: hash_password("pw"),
            hashing_algorithm: warren::auth::SHA256_ALGORITHM.into(),
            tags: vec![],
            limits: None,
        },
        Command::PutUser {
            name: "eve".into(),
            password_hash: hash_password("pw"),
            hashing_algorithm: warren::auth::SHA256_ALGORITHM.into(),
            tags: vec![],
            limits: None,
        },
        permissions("bob", "doomed"),
        permissions("eve", "doomed"),
        permissions("eve", "/"),
    ] {
        run(&b, cmd).expect("set up");
    }
    let wait = std::time::Duration::from_secs(5);
    let (_bob, bob_closed) = connect_as(&b, "bob", "doomed").await;
    let (_eve, eve_closed) = connect_as(&b, "eve", "doomed").await;
    let (eve_root, _) = connect_as(&b, "eve", "%2f").await;
    run(&b, Command::DeleteUser { name: "bob".into() }).expect("user deleted");
    let (code, text) = tokio::time::timeout(wait, bob_closed)
        .await
        .expect("closed");
    assert_eq!(code, 320, "{text}");
    assert!(text.contains("user 'bob' is deleted"), "{text}");
    run(
        &b,
        Command::DeleteVhost {
            name: "doomed".into(),
        },
    )
    .expect("vhost deleted");
    let (code, text) = tokio::time::timeout(wait, eve_closed)
        .await
        .expect("closed");
    assert_eq!(code, 320, "{text}");
    assert!(text.contains("vhost 'doomed' is down"), "{text}");
    // Eve's connection to another vhost stays open and works.
    let ch = eve_root.create_channel().await.expect("still open");
    ch.queue_declare(
        "".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("still works");
}
