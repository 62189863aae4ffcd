//! `warren-conformance`: run the AMQP 0-9-1 conformance suite against a broker.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use warren_conformance::{all_cases, runner, ExpectedSkips, Options};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

/// Conformance suite for RabbitMQ-compatible AMQP 0-9-1 brokers.
#[derive(Debug, Parser)]
#[command(name = "warren-conformance", version)]
struct Cli {
    /// AMQP URL of the broker under test.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// Management API base URL, e.g. http://guest:guest@127.0.0.1:15672
    /// (cases that need it are skipped without it).
    #[arg(long)]
    mgmt_url: Option<String>,
    /// Only run cases whose name matches this regular expression.
    #[arg(long)]
    filter: Option<String>,
    /// Print the selected case names, one per line, and exit.
    #[arg(long)]
    list: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Number of cases to run concurrently.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Per-case timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// File of expected skips (`case.name reason` per line). With it, a skip
    /// not on the list, or a listed case that passes, fails the run.
    #[arg(long)]
    expected_skips: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        let cases = runner::select(all_cases(), cli.filter.as_deref());
        let mut out = std::io::stdout().lock();
        for c in cases {
            let _ = writeln!(out, "{}", c.name);
        }
        return ExitCode::SUCCESS;
    }
    let expected_skips = match &cli.expected_skips {
        None => None,
        Some(path) => match ExpectedSkips::load(path) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("warren-conformance: {e}");
                return ExitCode::from(2);
            }
        },
    };
    if cli.timeout.is_nan() || cli.timeout <= 0.0 {
        eprintln!("warren-conformance: --timeout must be positive");
        return ExitCode::from(2);
    }
    let mut opts = Options::new(cli.url.clone());
    opts.mgmt_url = cli.mgmt_url.clone();
    opts.filter = cli.filter.clone();
    opts.jobs = cli.jobs.max(1);
    opts.timeout = Duration::from_secs_f64(cli.timeout);
    opts.expected_skips = expected_skips;
    if let Format::Text = cli.format {
        opts.progress = Some(Arc::new(|r| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", r.text_line());
            let _ = out.flush();
        }));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warren-conformance: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Case panics are caught and reported; keep their backtraces off stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let report = rt.block_on(warren_conformance::run(opts));
    let mut out = std::io::stdout().lock();
    let _ = match cli.format {
        Format::Text => writeln!(out, "{}", report.summary_line()),
        Format::Json => writeln!(out, "{}", report.to_json()),
        Format::Junit => write!(out, "{}", report.to_junit()),
    };
    let _ = out.flush();
    if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
