//! `/api/nodes` and `/api/nodes/{name}`: every node of the cluster with its type, whether it
//! runs, and the figures it reports (a running peer is asked over its link); a single node
//! lists itself.

use super::Ctx;
use crate::broker::node_figures::{node_figures, NodeFigures};
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use serde_json::{json, Value};

pub(crate) async fn nodes(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_monitor()?;
    let nodes = listed(ctx, None).await;
    listing::respond(&ctx.req, nodes).await
}

pub(crate) async fn node(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_monitor()?;
    let name = ctx.seg(1);
    let mut node = (listed(ctx, Some(name)).await.pop()).ok_or_else(ApiError::not_found)?;
    if ctx.req.flag("memory") {
        let total = node["mem_used"].clone();
        node["memory"] = json!({"total": {"rss": total}, "strategy": "rss"});
    }
    Ok(Reply::json(&listing::respond_one(&ctx.req, node)))
}

/// Every node, or only the one named (asking only that one for its figures).
async fn listed(ctx: &Ctx, only: Option<&str>) -> Vec<Value> {
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    let Some(cluster) = &ctx.node.cluster else {
        if !wanted(&ctx.broker.config.node_name) {
            return Vec::new();
        }
        return vec![node_json(node_figures(&ctx.broker).await, "disc", true)];
    };
    let status = cluster.status();
    let mut out = Vec::with_capacity(status.members.len());
    for m in status.members.into_iter().filter(|m| wanted(&m.name)) {
        let figures = if m.name == status.this_node {
            Some(node_figures(&ctx.broker).await)
        } else if m.running {
            cluster.figures_of(&m).await
        } else {
            None
        };
        out.push(match figures {
            Some(f) => node_json(f, &m.kind, true),
            None => json!({"name": m.name, "type": m.kind, "running": false}),
        });
    }
    out
}

fn node_json(f: NodeFigures, kind: &str, running: bool) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or_else(|_| json!({}));
    v["type"] = json!(kind);
    v["running"] = json!(running);
    v["being_drained"] = json!(false);
    v["rates_mode"] = json!("basic");
    v
}
