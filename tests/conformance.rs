//! The whole conformance suite, in-process against a fresh Warren (AMQP and management API),
//! with Warren's checked-in expected skips (where it still differs, each with its reason).

use crate::common;
use common::TestBroker;
use std::time::Duration;
use warren_conformance::{ExpectedSkips, Options, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_against_warren() {
    let b = TestBroker::start().await;
    let skips = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/expected-skips/warren.txt"
    );
    let mut opts = Options::new(b.url());
    opts.mgmt_url = Some(format!("http://{}", b.http_addr));
    opts.jobs = 4;
    opts.timeout = Duration::from_secs(30);
    opts.expected_skips = Some(ExpectedSkips::load(skips).expect("expected skips load"));
    let report = warren_conformance::run(opts).await;
    let failures: Vec<String> = report
        .results
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| format!("{}: {}", c.name, c.message.clone().unwrap_or_default()))
        .collect();
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
    assert!(
        report.passed() >= 300,
        "only {} cases passed",
        report.passed()
    );
}
