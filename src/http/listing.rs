//! RabbitMQ's list conventions: `sort` and `sort_reverse` on any (dotted) field, `columns`
//! to keep only some fields, and pagination (`page`, `page_size` up to 500, `name` filtered
//! as a case-insensitive substring or, with `use_regex`, a regex) answering
//! `{items, page, page_count, page_size, filtered_count, item_count, total_count}`.
//!
//! Lists are made of [`Row`]s: an object that can say its name and the value of the fields
//! it has at hand (a queue's message count, say) without building its JSON. Sorting by such
//! a field and paging touch only the rows; JSON is built for the page alone. Sorting by any
//! other field builds every row's JSON first. The work runs on the blocking pool, never on
//! an async worker, and an unpaged list is streamed in chunks as it is written, so its first
//! byte does not wait for its last.

use super::error::{ApiError, ApiResult};
use super::reply::Reply;
use super::request::Req;
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

const MAX_PAGE_SIZE: usize = 500;
const DEFAULT_PAGE_SIZE: usize = 100;
/// Rows written per chunk of a streamed list.
const CHUNK_ROWS: usize = 256;

/// An object in a list.
pub(crate) trait Row: Send + 'static {
    fn name(&self) -> &str;
    fn vhost(&self) -> &str {
        ""
    }
    /// The value of `field` when the row has it without building its JSON.
    fn key(&self, field: &str) -> Option<Key<'_>>;
    fn json(&self) -> Value;
}

/// A sortable value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    Bool(bool),
    Num(f64),
    Str(&'a str),
}

impl Row for Value {
    fn name(&self) -> &str {
        self.get("name").and_then(Value::as_str).unwrap_or("")
    }

    fn vhost(&self) -> &str {
        self.get("vhost").and_then(Value::as_str).unwrap_or("")
    }

    fn key(&self, field: &str) -> Option<Key<'_>> {
        match lookup(self, &field.split('.').collect::<Vec<_>>())? {
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Number(n) => Some(Key::Num(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => Some(Key::Str(s)),
            _ => None,
        }
    }

    fn json(&self) -> Value {
        self.clone()
    }
}

/// Answers a list request: sorted, filtered, paged and trimmed as asked.
pub(crate) async fn respond<R: Row>(req: &Req, rows: Vec<R>) -> ApiResult<Reply> {
    let query = Query::of(req)?;
    tokio::task::spawn_blocking(move || query.answer(rows))
        .await
        .map_err(|_| ApiError::bad_request("the list could not be made"))?
}

/// Trims one object to the requested columns.
pub(crate) fn respond_one(req: &Req, item: Value) -> Value {
    project(&Shape::of(req), item)
}

/// What of each object is shown: the requested columns (all when none), and with
/// `disable_stats=true` no statistics (`message_stats`, rates).
struct Shape {
    columns: Vec<Vec<String>>,
    no_stats: bool,
}

impl Shape {
    fn of(req: &Req) -> Self {
        Shape {
            columns: columns(req),
            no_stats: req.flag("disable_stats"),
        }
    }
}

/// What a list request asks for.
struct Query {
    sort: Option<String>,
    reverse: bool,
    shape: Shape,
    page: Option<Page>,
}

struct Page {
    page: usize,
    size: usize,
    name: Option<NameFilter>,
}

enum NameFilter {
    Substring(String),
    Regex(regex::Regex),
}

impl NameFilter {
    fn matches(&self, name: &str) -> bool {
        match self {
            NameFilter::Substring(s) => name.to_lowercase().contains(s.as_str()),
            NameFilter::Regex(r) => r.is_match(name),
        }
    }
}

/// A row, or its JSON once that was needed to sort.
enum Built<R> {
    Row(R),
    Json(Value),
}

impl<R: Row> Built<R> {
    fn json(self) -> Value {
        match self {
            Built::Row(r) => r.json(),
            Built::Json(v) => v,
        }
    }
}

impl Query {
    fn of(req: &Req) -> ApiResult<Self> {
        Ok(Query {
            sort: req
                .query("sort")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            reverse: req.flag("sort_reverse"),
            shape: Shape::of(req),
            page: paging(req)?,
        })
    }

    fn answer<R: Row>(self, mut rows: Vec<R>) -> ApiResult<Reply> {
        let total = rows.len();
        if let Some(filter) = self.page.as_ref().and_then(|p| p.name.as_ref()) {
            rows.retain(|r| filter.matches(r.name()));
        }
        let sorted = self.sort(rows);
        let filtered = sorted.len();
        let Some(p) = &self.page else {
            return Ok(self.stream(sorted));
        };
        let page_count = filtered.div_ceil(p.size);
        let start = (p.page - 1) * p.size;
        if p.page > 1 && start >= filtered {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "page_out_of_range",
                format!(
                    "Page out of range, page: {} page size: {}, len: {filtered}",
                    p.page, p.size
                ),
            ));
        }
        let items: Vec<Value> = (sorted.into_iter().skip(start).take(p.size))
            .map(|b| project(&self.shape, b.json()))
            .collect();
        Ok(Reply::json(&json!({
            "filtered_count": filtered,
            "item_count": items.len(),
            "items": items,
            "page": p.page,
            "page_count": page_count,
            "page_size": p.size,
            "total_count": total,
        })))
    }

    /// Sorts by the asked field (rows that have it at hand are not built), else by vhost
    /// then name.
    fn sort<R: Row>(&self, mut rows: Vec<R>) -> Vec<Built<R>> {
        let mut out: Vec<Built<R>> = match &self.sort {
            None => {
                rows.sort_by(|a, b| a.vhost().cmp(b.vhost()).then(a.name().cmp(b.name())));
                rows.into_iter().map(Built::Row).collect()
            }
            Some(field) if rows.first().is_none_or(|r| r.key(field).is_some()) => {
                rows.sort_by(|a, b| compare(a.key(field), b.key(field)));
                rows.into_iter().map(Built::Row).collect()
            }
            Some(field) => {
                let mut built: Vec<Value> = rows.iter().map(Row::json).collect();
                built.sort_by(|a, b| compare(a.key(field), b.key(field)));
                built.into_iter().map(Built::Json).collect()
            }
        };
        if self.reverse {
            out.reverse();
        }
        out
    }

    /// The whole list as a JSON array, written in chunks into a bounded channel that the
    /// response body reads (the writer waits while the client is slow).
    fn stream<R: Row>(self, rows: Vec<Built<R>>) -> Reply {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let shape = self.shape;
        tokio::task::spawn_blocking(move || {
            let mut first = true;
            let mut it = rows.into_iter().peekable();
            let mut buf = Vec::with_capacity(64 * 1024);
            buf.push(b'[');
            loop {
                for b in it.by_ref().take(CHUNK_ROWS) {
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    let _ = serde_json::to_writer(&mut buf, &project(&shape, b.json()));
                }
                let done = it.peek().is_none();
                if done {
                    buf.push(b']');
                }
                let chunk = Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(64 * 1024)));
                if tx.blocking_send(chunk).is_err() || done {
                    return;
                }
            }
        });
        Reply::stream(rx)
    }
}

fn paging(req: &Req) -> ApiResult<Option<Page>> {
    let Some(page) = req.query("page") else {
        return Ok(None);
    };
    let invalid = || ApiError::bad_request("Pagination parameters are invalid");
    let page: usize = page.parse().map_err(|_| invalid())?;
    let size: usize = match req.query("page_size") {
        Some(s) => s.parse().map_err(|_| invalid())?,
        None => DEFAULT_PAGE_SIZE,
    };
    if page == 0 || size == 0 || size > MAX_PAGE_SIZE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_pagination_parameters",
            format!("Invalid pagination parameters: page number {page}, page size {size}"),
        ));
    }
    let name = match req.query("name").filter(|n| !n.is_empty()) {
        None => None,
        Some(n) if req.flag("use_regex") => Some(NameFilter::Regex(
            regex::RegexBuilder::new(n)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|_| invalid())?,
        )),
        Some(n) => Some(NameFilter::Substring(n.to_lowercase())),
    };
    Ok(Some(Page { page, size, name }))
}

fn lookup<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Missing sorts first, then booleans, numbers, strings.
fn compare(a: Option<Key>, b: Option<Key>) -> Ordering {
    fn rank(k: &Option<Key>) -> u8 {
        match k {
            None => 0,
            Some(Key::Bool(_)) => 1,
            Some(Key::Num(_)) => 2,
            Some(Key::Str(_)) => 3,
        }
    }
    match (a, b) {
        (Some(Key::Num(x)), Some(Key::Num(y))) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(Key::Str(x)), Some(Key::Str(y))) => x.cmp(y),
        (Some(Key::Bool(x)), Some(Key::Bool(y))) => x.cmp(&y),
        _ => rank(&a).cmp(&rank(&b)),
    }
}

/// The requested columns (comma-separated, dotted for nested fields).
fn columns(req: &Req) -> Vec<Vec<String>> {
    req.query("columns")
        .filter(|c| !c.is_empty())
        .map(|cols| {
            cols.split(',')
                .map(|c| c.trim().split('.').map(str::to_string).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps only the asked columns of an object (all of it when none are asked for).
fn project(shape: &Shape, mut item: Value) -> Value {
    if shape.no_stats {
        if let Value::Object(m) = &mut item {
            m.retain(|k, _| k != "message_stats" && !k.ends_with("_details"));
        }
    }
    let columns = &shape.columns;
    if columns.is_empty() {
        return item;
    }
    let mut out = Map::new();
    for path in columns {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if let Some(v) = lookup(&item, &path) {
            insert_path(&mut out, &path, v.clone());
        }
    }
    Value::Object(out)
}

fn insert_path(out: &mut Map<String, Value>, path: &[&str], v: Value) {
    match path {
        [] => {}
        [last] => {
            out.insert(last.to_string(), v);
        }
        [first, rest @ ..] => {
            let child = out
                .entry(first.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = child {
                insert_path(m, rest, v);
            }
        }
    }
}
