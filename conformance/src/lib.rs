//! Conformance suite for RabbitMQ-compatible AMQP 0-9-1 brokers.
//!
//! Every case is written against the observed behaviour of RabbitMQ 3.10 and
//! must pass there. Use [`run`] to run the suite in-process (e.g. from
//! Warren's own integration tests) and [`all_cases`] to list it.

#[macro_use]
pub mod support;
pub mod cases;
pub mod mgmt;
pub mod raw;
pub mod runner;

pub use runner::{Case, CaseReport, ExpectedSkips, Options, Problem, Report, Status};
pub use support::Ctx;

/// Every case, grouped by area, in a stable order.
pub fn all_cases() -> Vec<Case> {
    cases::all()
}

/// Run the cases selected by `opts` and return the report.
pub async fn run(opts: Options) -> Report {
    runner::run_cases(all_cases(), opts).await
}
