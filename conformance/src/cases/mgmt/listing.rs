//! Lists: pagination (page, page_size, name, use_regex), sorting, columns.

use serde_json::{json, Value};

use super::util::*;
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    crate::cases!("mgmt.listing";
        pagination_shape,
        last_page_and_past_the_end_400,
        page_size_over_500_400,
        page_zero_and_non_numbers_400,
        name_filter_plain_and_regex,
        sort_and_sort_reverse,
        columns_select_keys,
        pagination_of_other_lists,
    )
}

/// A fresh vhost with queues q0..q4 (even ones durable).
async fn five_queues(a: &Api) -> Result<String, Problem> {
    let v = a.vhost("v").await?;
    for i in 0..5 {
        a.put(
            &obj("queues", &v, &format!("q{i}")),
            json!({"durable": i % 2 == 0}),
            201,
        )
        .await?;
    }
    Ok(v)
}

fn page_numbers(p: &Value) -> Vec<Option<u64>> {
    [
        "page",
        "page_count",
        "page_size",
        "filtered_count",
        "item_count",
        "total_count",
    ]
    .iter()
    .map(|k| p[*k].as_u64())
    .collect()
}

async fn pagination_shape(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let p = a
        .get(&format!("/api/queues/{}?page=1&page_size=2", enc(&v)))
        .await?;
    has_keys(
        &p,
        &[
            "items",
            "page",
            "page_count",
            "page_size",
            "filtered_count",
            "item_count",
            "total_count",
        ],
        "page",
    )?;
    ensure_eq!(
        page_numbers(&p),
        vec![Some(1), Some(3), Some(2), Some(5), Some(2), Some(5)],
        "page, page_count, page_size, filtered_count, item_count, total_count"
    );
    ensure_eq!(names(&p["items"]), vec!["q0", "q1"], "items of page 1");
    let p = a
        .get(&format!("/api/queues/{}?page=2&page_size=2", enc(&v)))
        .await?;
    ensure_eq!(names(&p["items"]), vec!["q2", "q3"], "items of page 2");
    // page alone: the default page size (100).
    let p = a.get(&format!("/api/queues/{}?page=1", enc(&v))).await?;
    ensure_eq!(p["page_size"].as_u64(), Some(100), "default page_size");
    ensure_eq!(p["item_count"].as_u64(), Some(5), "item_count");
    Ok(())
}

async fn last_page_and_past_the_end_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let p = a
        .get(&format!("/api/queues/{}?page=3&page_size=2", enc(&v)))
        .await?;
    ensure_eq!(names(&p["items"]), vec!["q4"], "items of the last page");
    ensure_eq!(
        p["item_count"].as_u64(),
        Some(1),
        "item_count of the last page"
    );
    let r = a
        .call(
            "GET",
            &format!("/api/queues/{}?page=4&page_size=2", enc(&v)),
            None,
        )
        .await?;
    expect_error(
        &r,
        400,
        "page_out_of_range",
        Some("Page out of range, page: 4 page size: 2, len: 5"),
        "a page past the end",
    )
}

async fn page_size_over_500_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let r = a
        .call(
            "GET",
            &format!("/api/queues/{}?page=1&page_size=501", enc(&v)),
            None,
        )
        .await?;
    expect_error(
        &r,
        400,
        "invalid_pagination_parameters",
        Some("Invalid pagination parameters: page number 1, page size 501"),
        "page_size 501",
    )?;
    let p = a
        .get(&format!("/api/queues/{}?page=1&page_size=500", enc(&v)))
        .await?;
    ensure_eq!(p["page_size"].as_u64(), Some(500), "page_size 500 accepted");
    Ok(())
}

async fn page_zero_and_non_numbers_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let r = a
        .call(
            "GET",
            &format!("/api/queues/{}?page=0&page_size=2", enc(&v)),
            None,
        )
        .await?;
    expect_error(
        &r,
        400,
        "invalid_pagination_parameters",
        Some("Invalid pagination parameters: page number 0, page size 2"),
        "page 0",
    )?;
    let r = a
        .call("GET", &format!("/api/queues/{}?page=abc", enc(&v)), None)
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("Pagination parameters are invalid"),
        "page=abc",
    )
}

async fn name_filter_plain_and_regex(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let p = a
        .get(&format!(
            "/api/queues/{}?page=1&page_size=10&name=q1",
            enc(&v)
        ))
        .await?;
    ensure_eq!(names(&p["items"]), vec!["q1"], "items with name=q1");
    ensure_eq!(
        (p["filtered_count"].as_u64(), p["total_count"].as_u64()),
        (Some(1), Some(5)),
        "filtered_count, total_count"
    );
    let p = a
        .get(&format!(
            "/api/queues/{}?page=1&page_size=10&name={}&use_regex=true",
            enc(&v),
            enc("^q[13]$")
        ))
        .await?;
    ensure_eq!(names(&p["items"]), vec!["q1", "q3"], "items with a regex");
    ensure_eq!(
        p["filtered_count"].as_u64(),
        Some(2),
        "filtered_count with a regex"
    );
    // Not a regex without use_regex: nothing is called "^q[13]$".
    let p = a
        .get(&format!(
            "/api/queues/{}?page=1&page_size=10&name={}",
            enc(&v),
            enc("^q[13]$")
        ))
        .await?;
    ensure_eq!(
        p["filtered_count"].as_u64(),
        Some(0),
        "filtered_count of a plain name"
    );
    // Case-insensitive, as RabbitMQ matches.
    let p = a
        .get(&format!("/api/queues/{}?page=1&name=Q2", enc(&v)))
        .await?;
    ensure_eq!(names(&p["items"]), vec!["q2"], "items with name=Q2");
    Ok(())
}

async fn sort_and_sort_reverse(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let l = a
        .get(&format!(
            "/api/queues/{}?sort=name&sort_reverse=true",
            enc(&v)
        ))
        .await?;
    ensure_eq!(
        names(&l),
        vec!["q4", "q3", "q2", "q1", "q0"],
        "sort=name&sort_reverse=true"
    );
    let l = a.get(&format!("/api/queues/{}?sort=name", enc(&v))).await?;
    ensure_eq!(names(&l), vec!["q0", "q1", "q2", "q3", "q4"], "sort=name");
    // By a boolean: false before true (ties in any order).
    let l = a
        .get(&format!("/api/queues/{}?sort=durable", enc(&v)))
        .await?;
    let durable: Vec<bool> = array(&l, "queues")?
        .iter()
        .map(|q| q["durable"].as_bool().unwrap_or_default())
        .collect();
    ensure_eq!(
        durable,
        vec![false, false, true, true, true],
        "sort=durable"
    );
    // Sorting and paging together.
    let p = a
        .get(&format!(
            "/api/queues/{}?sort=name&sort_reverse=true&page=1&page_size=2",
            enc(&v)
        ))
        .await?;
    ensure_eq!(
        names(&p["items"]),
        vec!["q4", "q3"],
        "first page sorted in reverse"
    );
    Ok(())
}

async fn columns_select_keys(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = five_queues(&a).await?;
    let l = a
        .get(&format!("/api/queues/{}?columns=name,durable", enc(&v)))
        .await?;
    for q in array(&l, "queues")? {
        let mut keys: Vec<&String> = q
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        keys.sort();
        ensure_eq!(
            keys,
            vec!["durable", "name"],
            "keys with columns=name,durable"
        );
    }
    let p = a
        .get(&format!(
            "/api/queues/{}?columns=name&page=1&page_size=2",
            enc(&v)
        ))
        .await?;
    ensure_eq!(
        p["items"],
        json!([{"name": "q0"}, {"name": "q1"}]),
        "a page with columns=name"
    );
    let one = a
        .get(&format!("{}?columns=name,vhost", obj("queues", &v, "q3")))
        .await?;
    ensure_eq!(
        one,
        json!({"name": "q3", "vhost": v}),
        "a single queue with columns=name,vhost"
    );
    Ok(())
}

async fn pagination_of_other_lists(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    for i in 0..3 {
        a.put(
            &obj("exchanges", &v, &format!("x{i}")),
            json!({"type": "direct"}),
            201,
        )
        .await?;
    }
    let p = a
        .get(&format!(
            "/api/exchanges/{}?page=1&page_size=2&name=x&columns=name",
            enc(&v)
        ))
        .await?;
    ensure_eq!(names(&p["items"]), vec!["x0", "x1"], "exchanges page 1");
    ensure_eq!(
        (p["filtered_count"].as_u64(), p["total_count"].as_u64()),
        (Some(3), Some(10)),
        "exchanges filtered_count, total_count (3 declared, 7 predeclared)"
    );
    let p = a
        .get(&format!("/api/vhosts?page=1&page_size=10&name={}", enc(&v)))
        .await?;
    ensure_eq!(
        names(&p["items"]),
        vec![v.clone()],
        "vhosts filtered by name"
    );
    Ok(())
}
