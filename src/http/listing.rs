//! RabbitMQ's list conventions: `sort` and `sort_reverse` on any (dotted) field, `columns`
//! to keep only some fields, and pagination (`page`, `page_size` up to 500, `name` filtered
//! as a case-insensitive substring or, with `use_regex`, a regex) answering
//! `{items, page, page_count, page_size, filtered_count, item_count, total_count}`.

use super::error::{ApiError, ApiResult};
use super::request::Req;
use hyper::StatusCode;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

const MAX_PAGE_SIZE: usize = 500;
const DEFAULT_PAGE_SIZE: usize = 100;

/// Sorts, filters, pages and trims `items` as the request asks. Without `sort`, items come
/// sorted by vhost then name, as RabbitMQ lists them.
pub(crate) fn respond(req: &Req, mut items: Vec<Value>) -> ApiResult<Value> {
    let total = items.len();
    let page = paging(req)?;
    if let Some(p) = &page {
        if let Some(filter) = &p.name {
            items.retain(|i| filter.matches(i.get("name").and_then(Value::as_str).unwrap_or("")));
        }
    }
    sort(req, &mut items);
    let filtered = items.len();
    let Some(p) = page else {
        return Ok(Value::Array(project(req, items)));
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
    let items: Vec<Value> = items.into_iter().skip(start).take(p.size).collect();
    Ok(json!({
        "filtered_count": filtered,
        "item_count": items.len(),
        "items": project(req, items),
        "page": p.page,
        "page_count": page_count,
        "page_size": p.size,
        "total_count": total,
    }))
}

/// Trims one object to the requested columns.
pub(crate) fn respond_one(req: &Req, item: Value) -> Value {
    project(req, vec![item]).pop().unwrap_or(Value::Null)
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

fn sort(req: &Req, items: &mut [Value]) {
    match req.query("sort").filter(|s| !s.is_empty()) {
        Some(key) => {
            let path: Vec<&str> = key.split('.').collect();
            items.sort_by(|a, b| compare(lookup(a, &path), lookup(b, &path)));
        }
        None => items.sort_by(|a, b| {
            compare(a.get("vhost"), b.get("vhost")).then(compare(a.get("name"), b.get("name")))
        }),
    }
    if req.flag("sort_reverse") {
        items.reverse();
    }
}

fn lookup<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Missing sorts first, then numbers, then strings, then the rest by their text.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(_) => 4,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) if rank(a) == 4 && rank(b) == 4 => x.to_string().cmp(&y.to_string()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Keeps only `columns` (comma-separated, dotted for nested fields).
fn project(req: &Req, items: Vec<Value>) -> Vec<Value> {
    let Some(cols) = req.query("columns").filter(|c| !c.is_empty()) else {
        return items;
    };
    let paths: Vec<Vec<&str>> = cols
        .split(',')
        .map(|c| c.trim().split('.').collect())
        .collect();
    items
        .into_iter()
        .map(|item| {
            let mut out = Map::new();
            for path in &paths {
                if let Some(v) = lookup(&item, path) {
                    insert_path(&mut out, path, v.clone());
                }
            }
            Value::Object(out)
        })
        .collect()
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
