//! Case registry, selection, parallel execution with timeouts, expected skips
//! and report formats.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::Ctx;

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The broker did something other than what RabbitMQ does.
    Fail(String),
    /// The case cannot run against this broker/setup (with the reason).
    Skip(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Fail(m) => write!(f, "{m}"),
            Problem::Skip(m) => write!(f, "skipped: {m}"),
        }
    }
}

impl From<String> for Problem {
    fn from(s: String) -> Self {
        Problem::Fail(s)
    }
}

impl From<&str> for Problem {
    fn from(s: &str) -> Self {
        Problem::Fail(s.to_string())
    }
}

impl From<lapin::Error> for Problem {
    fn from(e: lapin::Error) -> Self {
        Problem::Fail(format!("unexpected client error: {e}"))
    }
}

/// What a case returns.
pub type CaseResult = Result<(), Problem>;
/// The boxed future a case produces.
pub type CaseFuture = Pin<Box<dyn Future<Output = CaseResult> + Send>>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Dotted name, `group.area.what`.
    pub name: &'static str,
    /// Entry point.
    pub run: fn(Ctx) -> CaseFuture,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

/// Build a `Vec<Case>` from a name prefix and a list of `async fn(Ctx) -> CaseResult`.
#[macro_export]
macro_rules! cases {
    ($prefix:literal; $($f:ident),* $(,)?) => {
        vec![$($crate::runner::Case {
            name: concat!($prefix, ".", stringify!($f)),
            run: |ctx| Box::pin($f(ctx)),
        }),*]
    };
}

/// Final status of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Behaved like RabbitMQ.
    Pass,
    /// Did not.
    Fail,
    /// Could not run.
    Skip,
}

impl Status {
    /// "PASS" / "FAIL" / "SKIP".
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// Case name.
    pub name: String,
    /// Pass, fail or skip.
    pub status: Status,
    /// Wall time.
    pub duration: Duration,
    /// Failure message or skip reason.
    pub message: Option<String>,
}

impl CaseReport {
    /// One line in the text format.
    pub fn text_line(&self) -> String {
        let ms = self.duration.as_millis();
        match (self.status, &self.message) {
            (Status::Pass, _) => format!("PASS {} {ms}ms", self.name),
            (Status::Fail, Some(m)) => format!("FAIL {} {ms}ms: {m}", self.name),
            (Status::Fail, None) => format!("FAIL {} {ms}ms", self.name),
            (Status::Skip, Some(m)) => format!("SKIP {}: {m}", self.name),
            (Status::Skip, None) => format!("SKIP {}", self.name),
        }
    }
}

/// Expected skips for one broker: case name → reason.
#[derive(Debug, Clone, Default)]
pub struct ExpectedSkips {
    /// Entries.
    pub entries: BTreeMap<String, String>,
}

impl ExpectedSkips {
    /// Parse the checked-in format: one `case.name  reason...` per line; `#`
    /// starts a comment line; blank lines are ignored. A reason is required.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, reason) = match line.split_once(char::is_whitespace) {
                Some((n, r)) if !r.trim().is_empty() => (n, r.trim()),
                _ => {
                    return Err(format!(
                        "line {}: expected `case.name reason`, got `{line}`",
                        i + 1
                    ))
                }
            };
            entries.insert(name.to_string(), reason.to_string());
        }
        Ok(ExpectedSkips { entries })
    }

    /// Load from a file.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("{path}: {e}"))
    }
}

/// Called with each result as soon as it is known.
pub type Progress = Arc<dyn Fn(&CaseReport) + Send + Sync>;

/// How to run the suite.
#[derive(Clone)]
pub struct Options {
    /// AMQP URL of the broker under test.
    pub url: String,
    /// Management HTTP API base URL (`http://user:pass@host:15672`), if any.
    pub mgmt_url: Option<String>,
    /// Regular expression (or plain substring) selecting cases.
    pub filter: Option<String>,
    /// Cases run concurrently.
    pub jobs: usize,
    /// Per-case timeout.
    pub timeout: Duration,
    /// Expected skips; when set, unexpected skips and unexpected passes fail.
    pub expected_skips: Option<ExpectedSkips>,
    /// Per-result callback.
    pub progress: Option<Progress>,
}

impl Options {
    /// Defaults for a broker URL.
    pub fn new(url: impl Into<String>) -> Self {
        Options {
            url: url.into(),
            mgmt_url: None,
            filter: None,
            jobs: 4,
            timeout: Duration::from_secs(30),
            expected_skips: None,
            progress: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("url", &self.url)
            .field("mgmt_url", &self.mgmt_url)
            .field("filter", &self.filter)
            .field("jobs", &self.jobs)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per selected case, in registry order.
    pub results: Vec<CaseReport>,
    /// Total wall time.
    pub duration: Duration,
}

impl Report {
    fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }
    /// Number of passed cases.
    pub fn passed(&self) -> usize {
        self.count(Status::Pass)
    }
    /// Number of failed cases.
    pub fn failed(&self) -> usize {
        self.count(Status::Fail)
    }
    /// Number of skipped cases.
    pub fn skipped(&self) -> usize {
        self.count(Status::Skip)
    }
    /// True when nothing failed.
    pub fn success(&self) -> bool {
        self.failed() == 0
    }
    /// `N passed, M failed, K skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }

    /// Full text report (one line per case, then the summary).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for r in &self.results {
            s.push_str(&r.text_line());
            s.push('\n');
        }
        s.push_str(&self.summary_line());
        s.push('\n');
        s
    }

    /// JSON report.
    pub fn to_json(&self) -> String {
        let results: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "status": r.status.label().to_lowercase(),
                    "duration_ms": r.duration.as_millis() as u64,
                    "message": r.message,
                })
            })
            .collect();
        let v = serde_json::json!({
            "passed": self.passed(),
            "failed": self.failed(),
            "skipped": self.skipped(),
            "duration_ms": self.duration.as_millis() as u64,
            "results": results,
            "summary": self.summary_line(),
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// JUnit XML report.
    pub fn to_junit(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str(&format!(
            "<testsuite name=\"warren-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
            self.results.len(),
            self.failed(),
            self.skipped(),
            self.duration.as_secs_f64()
        ));
        for r in &self.results {
            let (class, name) = r.name.rsplit_once('.').unwrap_or(("", r.name.as_str()));
            s.push_str(&format!(
                "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(class),
                xml_escape(name),
                r.duration.as_secs_f64()
            ));
            let msg = xml_escape(r.message.as_deref().unwrap_or(""));
            match r.status {
                Status::Pass => s.push_str("/>\n"),
                Status::Fail => s.push_str(&format!(
                    ">\n    <failure message=\"{msg}\">{msg}</failure>\n  </testcase>\n"
                )),
                Status::Skip => s.push_str(&format!(
                    ">\n    <skipped message=\"{msg}\"/>\n  </testcase>\n"
                )),
            }
        }
        s.push_str("</testsuite>\n");
        s
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Select cases whose name matches `filter` (a regular expression; if it is
/// not a valid one, a plain substring).
pub fn select(cases: Vec<Case>, filter: Option<&str>) -> Vec<Case> {
    let Some(f) = filter else { return cases };
    match regex::Regex::new(f) {
        Ok(re) => cases.into_iter().filter(|c| re.is_match(c.name)).collect(),
        Err(_) => cases.into_iter().filter(|c| c.name.contains(f)).collect(),
    }
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ ((std::process::id() as u64) << 32);
    format!("{:08x}", (mixed ^ (mixed >> 29)) as u32)
}

/// Run the selected cases.
pub async fn run_cases(cases: Vec<Case>, opts: Options) -> Report {
    let started = Instant::now();
    let cases = select(cases, opts.filter.as_deref());
    let n = cases.len();
    let results: Arc<Mutex<Vec<Option<CaseReport>>>> = Arc::new(Mutex::new(vec![None; n]));
    let next = Arc::new(AtomicUsize::new(0));
    let cases = Arc::new(cases);
    let opts = Arc::new(opts);
    let run_id = Arc::new(run_id());
    let mut workers = Vec::new();
    for _ in 0..opts.jobs.max(1).min(n.max(1)) {
        let (results, next, cases, opts, run_id) = (
            results.clone(),
            next.clone(),
            cases.clone(),
            opts.clone(),
            run_id.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= cases.len() {
                    break;
                }
                let report = run_one(cases[i], &opts, &run_id).await;
                if let Some(p) = &opts.progress {
                    p(&report);
                }
                if let Ok(mut r) = results.lock() {
                    r[i] = Some(report);
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let results = results
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default();
    Report {
        results: results
            .into_iter()
            .zip(cases.iter())
            .map(|(r, c)| {
                r.unwrap_or(CaseReport {
                    name: c.name.to_string(),
                    status: Status::Fail,
                    duration: Duration::ZERO,
                    message: Some("runner lost this case's result".into()),
                })
            })
            .collect(),
        duration: started.elapsed(),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

async fn run_one(case: Case, opts: &Options, run_id: &str) -> CaseReport {
    let ctx = Ctx::new(
        case.name,
        opts.url.clone(),
        opts.mgmt_url.clone(),
        run_id.to_string(),
        opts.timeout,
    );
    let start = Instant::now();
    let fut = (case.run)(ctx.clone());
    let timeout = opts.timeout;
    let joined = tokio::spawn(async move { tokio::time::timeout(timeout, fut).await }).await;
    let duration = start.elapsed();
    let (mut status, mut message) = match joined {
        Ok(Ok(Ok(()))) => (Status::Pass, None),
        Ok(Ok(Err(Problem::Fail(m)))) => (Status::Fail, Some(m)),
        Ok(Ok(Err(Problem::Skip(r)))) => (Status::Skip, Some(r)),
        Ok(Err(_)) => (
            Status::Fail,
            Some(format!("timed out after {}s", timeout.as_secs_f64())),
        ),
        Err(e) if e.is_panic() => (
            Status::Fail,
            Some(format!("panicked: {}", panic_message(&*e.into_panic()))),
        ),
        Err(e) => (Status::Fail, Some(format!("case task failed: {e}"))),
    };
    let _ = tokio::time::timeout(Duration::from_secs(15), ctx.cleanup()).await;
    if let Some(expected) = &opts.expected_skips {
        let listed = expected.entries.get(case.name);
        match (status, listed) {
            (Status::Skip, None) => {
                status = Status::Fail;
                message = Some(format!(
                    "skipped ({}), but not listed in the expected skips",
                    message.unwrap_or_default()
                ));
            }
            // A listed case is still run: while it fails it counts as the skip the list
            // names (a feature the broker lacks), never as a pass.
            (Status::Fail, Some(reason)) => {
                status = Status::Skip;
                message = Some(format!("{reason} (fails: {})", message.unwrap_or_default()));
            }
            (Status::Pass, Some(reason)) => {
                status = Status::Fail;
                message = Some(format!(
                    "listed as an expected skip ({reason}), but passed; remove it from the list"
                ));
            }
            _ => {}
        }
    }
    CaseReport {
        name: case.name.to_string(),
        status,
        duration,
        message,
    }
}
