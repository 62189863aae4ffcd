//! The web console's files served by the HTTP listener beside the API: `/` is the console's
//! page, its modules have a JavaScript type, a file that is not there is 404, anything but
//! GET/HEAD is 405, and an unchanged file revalidates with 304. The API keeps its paths.

use crate::common;
use common::TestBroker;
use hyper::Method;
use warren::ctl::client::{Client, Response};

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_console_is_served_beside_the_api() {
    let b = TestBroker::start().await;
    let web = Client::anonymous(&b.http_addr.to_string());

    let r = web.get("/").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    assert!(r.text().contains("js/main.js"), "{}", r.text());
    assert!(header(&r, "content-security-policy").contains("default-src 'self'"));

    let r = web.get("/js/main.js").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
    assert!(r.text().contains("import"), "{}", r.text());
    let etag = header(&r, "etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

    let r = web
        .send_with_headers(
            Method::GET,
            "/js/main.js",
            &[("if-none-match", &etag)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 304);
    assert!(r.text().is_empty());
    let r = web
        .send_with_headers(
            Method::GET,
            "/js/main.js",
            &[("if-none-match", "\"old\"")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    let r = web.get("/css/console.css").await.unwrap();
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");
    let r = web.get("/vendor/uPlot.esm.js").await.unwrap();
    assert_eq!(r.status, 200);

    for missing in [
        "/nope.js",
        "/js/",
        "/package.json",
        "/README.md",
        "/../Cargo.toml",
        "/apifoo",
    ] {
        let r = web.get(missing).await.unwrap();
        assert_eq!(r.status, 404, "{missing}");
    }
    let r = web.send(Method::POST, "/", None).await.unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD");

    let r = web.send(Method::HEAD, "/", None).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");

    // The API is where it was, with its own 404s and its login challenge.
    assert_eq!(web.get("/api/overview").await.unwrap().status, 401);
    assert_eq!(b.api().get("/api/overview").await.unwrap().status, 200);
    let r = b.api().get("/api/no-such-thing").await.unwrap();
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (404, "Not Found".into())
    );
}
