//! The management HTTP API against a real broker over real sockets: authentication and
//! tags, the objects' life cycles (and that AMQP clients see what the API did), messages
//! through the API, policies applied at once, list conventions, definitions round trips,
//! health checks, and bad input answered with a 4xx.

use crate::common;
use common::TestBroker;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::{json, Value};
use warren::ctl::client::Client;

#[tokio::test]
async fn logins_and_tags_decide_access_as_in_rabbitmq() {
    let b = TestBroker::start().await;
    let addr = b.http_addr.to_string();
    let r = Client::anonymous(&addr).get("/api/overview").await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers.get("www-authenticate").unwrap(),
        "Basic realm=\"RabbitMQ Management\""
    );
    let r = Client::new(&addr, "guest", "nope")
        .get("/api/overview")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"error": "not_authorized", "reason": "Login failed"})
    );

    let api = b.api();
    for (user, tags) in [
        ("plain", ""),
        ("mona", "management"),
        ("pat", "policymaker"),
    ] {
        let r = api
            .put(
                &format!("/api/users/{user}"),
                &json!({"password": "pw", "tags": tags}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = Client::new(&addr, "plain", "pw")
        .get("/api/overview")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["reason"], "Not management user");
    assert!(r.headers.get("www-authenticate").is_none());

    let mona = Client::new(&addr, "mona", "pw");
    let r = mona.get("/api/users").await.unwrap();
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (401, json!("Not administrator user"))
    );
    // Without permissions she sees no vhost, and may not look into one.
    assert_eq!(mona.get("/api/vhosts").await.unwrap().json(), json!([]));
    let r = mona.get("/api/queues/%2F").await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["reason"],
        "User not authorised to access virtual host"
    );
    let r = mona.get("/api/whoami").await.unwrap();
    assert_eq!(r.json(), json!({"name": "mona", "tags": ["management"]}));

    // With permissions matching only `m-.*` for configure, she declares those only.
    let perm = json!({"configure": "^m-", "write": ".*", "read": ".*"});
    assert_eq!(
        api.put("/api/permissions/%2F/mona", &perm)
            .await
            .unwrap()
            .status,
        201
    );
    assert_eq!(
        mona.put("/api/queues/%2F/m-1", &json!({}))
            .await
            .unwrap()
            .status,
        201
    );
    let r = mona.put("/api/queues/%2F/other", &json!({})).await.unwrap();
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (401, json!("Access refused."))
    );
    let r = mona
        .put(
            "/api/policies/%2F/p",
            &json!({"pattern": ".*", "definition": {}}),
        )
        .await;
    assert_eq!(r.unwrap().status, 401);
    let pat = Client::new(&addr, "pat", "pw");
    assert_eq!(
        api.put("/api/permissions/%2F/pat", &perm)
            .await
            .unwrap()
            .status,
        201
    );
    let r = pat
        .put(
            "/api/policies/%2F/p",
            &json!({"pattern": "^m-", "definition": {"max-length": 5}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn vhosts_and_users_made_by_the_api_work_over_amqp() {
    let b = TestBroker::start().await;
    let api = b.api();
    let r = api
        .put(
            "/api/vhosts/shop",
            &json!({"description": "orders", "tags": "a,b", "tracing": "true"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let v = api.get("/api/vhosts/shop").await.unwrap().json();
    assert_eq!(v["description"], "orders");
    assert_eq!(v["tags"], json!(["a", "b"]));
    assert_eq!(v["tracing"], true);
    // Its creator may use it at once, as in RabbitMQ.
    let p = api.get("/api/permissions/shop/guest").await.unwrap().json();
    assert_eq!(p["configure"], ".*");
    assert_eq!(
        api.put("/api/vhosts/shop", &json!({"description": "x"}))
            .await
            .unwrap()
            .status,
        204
    );

    // A user given as a SHA-512 hash (as another broker exported it) logs in over AMQP.
    let hash = sha512_hash("secret");
    let r = api
        .put(
            "/api/users/ann",
            &json!({"password_hash": hash, "hashing_algorithm": "rabbit_password_hashing_sha512",
                    "tags": ["management"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let all = json!({"configure": ".*", "write": ".*", "read": ".*"});
    assert_eq!(
        api.put("/api/permissions/shop/ann", &all)
            .await
            .unwrap()
            .status,
        201
    );
    let url = format!("amqp://ann:secret@{}/shop", b.addr);
    let conn = lapin::Connection::connect(&url, Default::default())
        .await
        .expect("ann logs in");
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "from-amqp".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let q = api.get("/api/queues/shop/from-amqp").await.unwrap();
    assert_eq!(q.status, 200);
    assert_eq!(q.json()["vhost"], "shop");

    let u = api.get("/api/users/ann").await.unwrap().json();
    assert_eq!(u["hashing_algorithm"], "rabbit_password_hashing_sha512");
    let without = api
        .get("/api/users/without-permissions")
        .await
        .unwrap()
        .json();
    assert_eq!(without, json!([]));
    api.put("/api/users/tmp1", &json!({"password": "x", "tags": ""}))
        .await
        .unwrap();
    api.put("/api/users/tmp2", &json!({"password": "x", "tags": ""}))
        .await
        .unwrap();
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_string())
            .collect()
    };
    let without = api
        .get("/api/users/without-permissions")
        .await
        .unwrap()
        .json();
    assert_eq!(names(without), ["tmp1", "tmp2"]);
    let r = api
        .post(
            "/api/users/bulk-delete",
            &json!({"users": ["tmp1", "tmp2"]}),
        )
        .await;
    assert_eq!(r.unwrap().status, 204);
    assert_eq!(api.get("/api/users/tmp1").await.unwrap().status, 404);

    // Deleting the vhost closes its connections and removes it.
    assert_eq!(api.delete("/api/vhosts/shop").await.unwrap().status, 204);
    assert_eq!(api.get("/api/vhosts/shop").await.unwrap().status, 404);
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while conn.status().connected() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the vhost's connection is closed");
}

fn sha512_hash(password: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let salt = [1u8, 2, 3, 4];
    let mut h = sha2::Sha512::new();
    h.update(salt);
    h.update(password.as_bytes());
    let mut out = salt.to_vec();
    out.extend_from_slice(&h.finalize());
    base64::engine::general_purpose::STANDARD.encode(out)
}

#[tokio::test]
async fn messages_published_and_fetched_through_the_api() {
    let b = TestBroker::start().await;
    let api = b.api();
    assert_eq!(
        api.put("/api/queues/%2F/q", &json!({"durable": true}))
            .await
            .unwrap()
            .status,
        201
    );
    assert_eq!(
        api.put("/api/queues/%2F/q", &json!({"durable": true}))
            .await
            .unwrap()
            .status,
        204
    );
    let r = api
        .put("/api/queues/%2F/q", &json!({"durable": false}))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["reason"]
        .as_str()
        .unwrap()
        .contains("inequivalent arg 'durable'"));
    let r = api
        .put(
            "/api/exchanges/%2F/x",
            &json!({"type": "topic", "durable": true}),
        )
        .await;
    assert_eq!(r.unwrap().status, 201);
    let r = api
        .post(
            "/api/bindings/%2F/e/x/q/q",
            &json!({"routing_key": "a.*", "arguments": {}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(
        r.headers.get("location").unwrap(),
        "/api/bindings/%2F/e/x/q/q/a.%252A"
    );

    let publish = |rk: &str, payload: &str| {
        json!({"routing_key": rk, "payload": payload, "payload_encoding": "string",
               "properties": {"delivery_mode": 2, "headers": {"n": 1}}})
    };
    let r = api
        .post("/api/exchanges/%2F/x/publish", &publish("a.b", "one"))
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"routed": true}));
    let r = api
        .post("/api/exchanges/%2F/x/publish", &publish("z", "lost"))
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"routed": false}));
    let r = api
        .post(
            "/api/exchanges/%2F/amq.default/publish",
            &publish("q", "two"),
        )
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"routed": true}));
    // An AMQP publisher's message lands in the same queue.
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.basic_publish(
        "".into(),
        "q".into(),
        BasicPublishOptions::default(),
        b"\xff\x00",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let counts = |v: Value| (v["messages"].clone(), v["messages_ready"].clone());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        counts(api.get("/api/queues/%2F/q").await.unwrap().json()),
        (json!(3), json!(3))
    );

    let get = |ackmode: &str, encoding: &str| json!({"count": 10, "ackmode": ackmode, "encoding": encoding, "truncate": 2});
    let got = api
        .post("/api/queues/%2F/q/get", &get("ack_requeue_true", "auto"))
        .await
        .unwrap();
    let got = got.json();
    assert_eq!(got.as_array().unwrap().len(), 3);
    assert_eq!(got[0]["payload"], "on");
    assert_eq!(got[0]["payload_bytes"], 3);
    assert_eq!(got[0]["exchange"], "x");
    assert_eq!(
        got[0]["properties"],
        json!({"delivery_mode": 2, "headers": {"n": 1}})
    );
    assert_eq!(got[2]["payload_encoding"], "base64");
    assert_eq!(got[2]["payload"], "/wA=");
    // Requeued: all three are still there, now redelivered.
    let again = api
        .post("/api/queues/%2F/q/get", &get("ack_requeue_false", "base64"))
        .await;
    let again = again.unwrap().json();
    assert_eq!(again.as_array().unwrap().len(), 3);
    assert_eq!(again[0]["redelivered"], true);
    assert_eq!(again[0]["payload"], "b24=");
    assert_eq!(
        counts(api.get("/api/queues/%2F/q").await.unwrap().json()),
        (json!(0), json!(0))
    );

    api.post(
        "/api/exchanges/%2F/amq.default/publish",
        &publish("q", "three"),
    )
    .await
    .unwrap();
    assert_eq!(
        api.delete("/api/queues/%2F/q/contents")
            .await
            .unwrap()
            .status,
        204
    );
    assert_eq!(
        api.get("/api/queues/%2F/q").await.unwrap().json()["messages"],
        0
    );
    let r = api
        .post("/api/queues/%2F/q/get", &get("nonsense", "auto"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);

    // Unbinding by the binding's properties_key, then deleting.
    let bindings = api.get("/api/queues/%2F/q/bindings").await.unwrap().json();
    let key = bindings[1]["properties_key"].as_str().unwrap().to_string();
    let path = format!("/api/bindings/%2F/e/x/q/q/{key}");
    assert_eq!(api.get(&path).await.unwrap().status, 200);
    assert_eq!(api.delete(&path).await.unwrap().status, 204);
    assert_eq!(api.get(&path).await.unwrap().status, 404);
    let r = api.delete("/api/exchanges/%2F/x").await.unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(api.delete("/api/queues/%2F/q").await.unwrap().status, 204);
    assert_eq!(api.get("/api/queues/%2F/q").await.unwrap().status, 404);
}

#[tokio::test]
async fn a_policy_set_through_the_api_applies_at_once_to_existing_queues() {
    let b = TestBroker::start().await;
    let api = b.api();
    api.put("/api/queues/%2F/capped", &json!({})).await.unwrap();
    let p = json!({"pattern": "^capped$", "definition": {"max-length": 1}, "apply-to": "queues"});
    assert_eq!(
        api.put("/api/policies/%2F/cap", &p).await.unwrap().status,
        201
    );
    for i in 0..3 {
        let m = json!({"routing_key": "capped", "payload": format!("m{i}"),
                       "payload_encoding": "string", "properties": {}});
        api.post("/api/exchanges/%2F/amq.default/publish", &m)
            .await
            .unwrap();
    }
    let q = api.get("/api/queues/%2F/capped").await.unwrap().json();
    assert_eq!(q["messages"], 1);
    assert_eq!(q["policy"], "cap");
    assert_eq!(q["effective_policy_definition"], json!({"max-length": 1}));
    let bad = json!({"pattern": "x", "definition": {"max-length": "many"}});
    let r = api.put("/api/policies/%2F/bad", &bad).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        api.delete("/api/policies/%2F/cap").await.unwrap().status,
        204
    );
    assert_eq!(
        api.delete("/api/policies/%2F/cap").await.unwrap().status,
        404
    );
    assert_eq!(
        api.get("/api/queues/%2F/capped").await.unwrap().json()["policy"],
        Value::Null
    );
}

#[tokio::test]
async fn lists_sort_page_filter_and_pick_columns() {
    let b = TestBroker::start().await;
    let api = b.api();
    for name in ["Abc", "abd", "xyz", "q1"] {
        api.put(&format!("/api/queues/%2F/{name}"), &json!({}))
            .await
            .unwrap();
    }
    let r = api
        .get("/api/queues?page=1&page_size=2&name=ab&columns=name")
        .await
        .unwrap();
    assert_eq!(
        r.json(),
        json!({"filtered_count": 2, "item_count": 2, "items": [{"name": "Abc"}, {"name": "abd"}],
               "page": 1, "page_count": 1, "page_size": 2, "total_count": 4})
    );
    let r = api
        .get("/api/queues?page=1&page_size=2&name=^x&use_regex=true&columns=name")
        .await;
    assert_eq!(r.unwrap().json()["items"], json!([{"name": "xyz"}]));
    let r = api
        .get("/api/queues?sort=name&sort_reverse=true&columns=name,vhost")
        .await
        .unwrap();
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["xyz", "q1", "abd", "Abc"]);
    let r = api.get("/api/queues?page=1&page_size=501").await.unwrap();
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_pagination_parameters"))
    );
    let r = api.get("/api/queues?page=9&page_size=2").await.unwrap();
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("page_out_of_range"))
    );
    let r = api
        .get("/api/queues?page=1&name=(&use_regex=true")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = api
        .get("/api/exchanges/%2F/amq.default?columns=name,type")
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"name": "", "type": "direct"}));
}

#[tokio::test]
async fn definitions_exported_by_one_broker_import_into_another() {
    let a = TestBroker::start().await;
    let api = a.api();
    api.put("/api/vhosts/v", &json!({"description": "vee"}))
        .await
        .unwrap();
    api.put(
        "/api/users/ann",
        &json!({"password": "pw", "tags": "management"}),
    )
    .await
    .unwrap();
    let all = json!({"configure": ".*", "write": ".*", "read": ".*"});
    api.put("/api/permissions/v/ann", &all).await.unwrap();
    api.put(
        "/api/queues/v/dq",
        &json!({"durable": true, "arguments": {"x-max-length": 9}}),
    )
    .await
    .unwrap();
    api.put(
        "/api/exchanges/v/dx",
        &json!({"type": "fanout", "durable": true}),
    )
    .await
    .unwrap();
    api.post("/api/bindings/v/e/dx/q/dq", &json!({"routing_key": "k"}))
        .await
        .unwrap();
    let p = json!({"pattern": "^dq", "definition": {"message-ttl": 1000}});
    api.put("/api/policies/v/ttl", &p).await.unwrap();
    let defs = api.get("/api/definitions").await.unwrap().json();
    assert_eq!(defs["rabbitmq_version"], "3.10.8");

    let b = TestBroker::start().await;
    let r = b.api().post("/api/definitions", &defs).await.unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let again = b.api().get("/api/definitions").await.unwrap().json();
    for key in [
        "vhosts",
        "permissions",
        "queues",
        "exchanges",
        "bindings",
        "policies",
    ] {
        assert_eq!(again[key], defs[key], "{key}");
    }
    // ann logs in to the imported vhost with her password (the hash came along).
    let url = format!("amqp://ann:pw@{}/v", b.addr);
    lapin::Connection::connect(&url, Default::default())
        .await
        .expect("ann logs in");

    // One vhost's definitions, into another vhost.
    let one = api.get("/api/definitions/v").await.unwrap().json();
    assert!(one.get("users").is_none());
    assert!(one["queues"][0].get("vhost").is_none());
    api.put("/api/vhosts/w", &json!({})).await.unwrap();
    let r = api.post("/api/definitions/w", &one).await.unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        api.get("/api/queues/w/dq").await.unwrap().json()["arguments"],
        json!({"x-max-length": 9})
    );

    let r = api
        .post(
            "/api/definitions",
            &json!({"queues": [{"name": "q", "vhost": "nope"}]}),
        )
        .await;
    let r = r.unwrap();
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (400, json!(["no_such_vhost", "nope"]))
    );
}

#[tokio::test]
async fn health_checks_and_aliveness() {
    let b = TestBroker::start().await;
    let api = b.api();
    let ok = json!({"status": "ok"});
    assert_eq!(api.get("/api/aliveness-test/%2F").await.unwrap().json(), ok);
    assert_eq!(
        api.get("/api/health/checks/alarms").await.unwrap().json(),
        ok
    );
    let port = b.addr.port();
    let r = api
        .get(&format!("/api/health/checks/port-listener/{port}"))
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"status": "ok", "port": port}));
    let r = api.get("/api/health/checks/port-listener/1").await.unwrap();
    assert_eq!(r.status, 503);
    let r = api
        .get("/api/health/checks/protocol-listener/amqp")
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"status": "ok", "protocol": "amqp"}));
    let r = api
        .get("/api/health/checks/certificate-expiration/x/y")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    b.broker().set_memory_alarm(true);
    let r = api.get("/api/health/checks/local-alarms").await.unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["alarms"][0]["resource"], "memory");
    b.broker().set_memory_alarm(false);
    let o = api.get("/api/overview").await.unwrap().json();
    assert_eq!(o["object_totals"]["queues"], 1);
    assert_eq!(o["listeners"].as_array().unwrap().len(), 2);
    let node = o["node"].as_str().unwrap().to_string();
    let n = api
        .get(&format!("/api/nodes/{node}?memory=true"))
        .await
        .unwrap()
        .json();
    assert!(n["mem_used"].as_u64().unwrap() > 0);
    assert!(n["fd_used"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_reason_and_never_stops_the_broker() {
    let b = TestBroker::start().await;
    let api = b.api();
    let raw = |method: &str, path: &str, body: &'static [u8]| {
        let api = api.clone();
        let (method, path) = (method.parse().unwrap(), path.to_string());
        async move { api.send(method, &path, Some(body.into())).await.unwrap() }
    };
    for (method, path, body) in [
        ("PUT", "/api/queues/%2F/q", &b"{bad"[..]),
        ("PUT", "/api/queues/%2F/q", b"[1,2]"),
        ("PUT", "/api/queues/%2F/q", b"{\"durable\": 7}"),
        ("PUT", "/api/queues/%2F/q", b"{\"arguments\": \"x\"}"),
        ("PUT", "/api/queues/%2F/q", b"{\"arguments\": {\"x-max-length\": \"x\"}}"),
        ("PUT", "/api/queues/nope/q", b"{}"),
        ("PUT", "/api/users/u", b"{\"password\": \"p\"}"),
        ("PUT", "/api/users/u", b"{\"tags\": 5}"),
        ("PUT", "/api/permissions/%2F/nobody", b"{}"),
        ("PUT", "/api/permissions/%2F/guest", b"{\"configure\": \"(\", \"write\": \"\", \"read\": \"\"}"),
        ("PUT", "/api/policies/%2F/p", b"{\"pattern\": \"(\", \"definition\": {}}"),
        ("PUT", "/api/exchanges/%2F/x", b"{\"type\": \"nope\"}"),
        ("POST", "/api/exchanges/%2F/amq.default/publish", b"{}"),
        ("POST", "/api/exchanges/%2F/amq.default/publish",
            b"{\"routing_key\":\"q\",\"payload\":\"x\",\"payload_encoding\":\"base64\",\"properties\":{}}"),
        ("POST", "/api/exchanges/%2F/amq.default/publish",
            b"{\"routing_key\":\"q\",\"payload\":\"x\",\"payload_encoding\":\"string\",\"properties\":{\"expiration\":\"-1\"}}"),
        ("POST", "/api/definitions", b"{\"users\": 5}"),
        ("GET", "/api/queues/..%2F..%2Fetc/passwd", b""),
        ("GET", "/api/queues/%2F/%FF", b""),
        ("DELETE", "/api/queues/%2F/missing", b""),
        ("GET", "/api/nodes/nonode", b""),
        ("POST", "/api/queues/%2F/q", b"{}"),
    ] {
        let r = raw(method, path, body).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} {}: {} {}",
            String::from_utf8_lossy(body),
            r.status,
            r.text()
        );
        let reason = &r.json()["reason"];
        assert!(!reason.is_null(), "{method} {path}: no reason in {}", r.text());
    }
    // A body over the bound is refused without being read into memory whole.
    let huge = vec![b' '; 65 << 20];
    let r = api
        .send(
            "PUT".parse().unwrap(),
            "/api/queues/%2F/q",
            Some(huge.into()),
        )
        .await;
    assert!(
        matches!(r, Ok(ref r) if r.status == 413) || r.is_err(),
        "{r:?}"
    );
    assert_eq!(api.get("/api/overview").await.unwrap().status, 200);
}

#[tokio::test]
async fn long_lists_stream_whole_and_sort_by_any_field() {
    let b = TestBroker::start().await;
    let api = b.api();
    let queues: Vec<Value> = (0..1200)
        .map(|i| {
            json!({"name": format!("q{i:04}"), "vhost": "/", "durable": false,
                        "auto_delete": false, "arguments": {"x-max-length": 5000 - i}})
        })
        .collect();
    let r = api
        .post("/api/definitions", &json!({"queues": queues}))
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    // More rows than one streamed chunk: the array arrives whole and in order.
    let all = api.get("/api/queues?columns=name").await.unwrap().json();
    let all = all.as_array().expect("a JSON array");
    assert_eq!(all.len(), 1200);
    assert_eq!(all[0], json!({"name": "q0000"}));
    assert_eq!(all[1199], json!({"name": "q1199"}));
    // A field the rows do not keep at hand: sorted through their JSON.
    let r = api
        .get("/api/queues?sort=arguments.x-max-length&page=1&page_size=2&columns=name")
        .await
        .unwrap();
    assert_eq!(
        r.json()["items"],
        json!([{"name": "q1199"}, {"name": "q1198"}])
    );
    let r = api
        .get("/api/queues?sort=messages&sort_reverse=true&page=3&page_size=500&columns=name")
        .await
        .unwrap();
    assert_eq!(r.json()["item_count"], 200);
}
