//! The cluster: `cluster_status`, `join_cluster`, `reset`, `forget_cluster_node`,
//! `set_cluster_name`, through the node's `/api/cluster` endpoints.

use crate::ctl::api::Api;
use crate::ctl::error::CtlResult;
use crate::ctl::output::{write_stdout, Format, Output};
use bytes::Bytes;
use serde_json::{json, Value};
use std::fmt::Write;

pub(super) async fn status(api: &Api, out: &Output) -> CtlResult<()> {
    let s = api.get_json(&Api::path(&["cluster"])?).await?;
    if out.format == Format::Json {
        return out.json(&s);
    }
    let name = |v: &Value| v.as_str().unwrap_or("").to_string();
    out.info(&format!(
        "Cluster status of node {} ...",
        name(&s["this_node"])
    ));
    let mut r = String::new();
    let _ = writeln!(r, "Basics\n\nCluster name: {}", name(&s["cluster_name"]));
    let _ = writeln!(r, "Leader: {}", s["leader"].as_str().unwrap_or("none"));
    for (title, key) in [
        ("Disk Nodes", "disc_nodes"),
        ("RAM Nodes", "ram_nodes"),
        ("Running Nodes", "running_nodes"),
    ] {
        let _ = writeln!(r, "\n{title}\n");
        for n in s[key].as_array().map(Vec::as_slice).unwrap_or_default() {
            let _ = writeln!(r, "{}", name(n));
        }
    }
    let _ = writeln!(r, "\nNetwork Partitions\n");
    if s["minority"] == json!(true) {
        let _ = writeln!(r, "this node sees a minority of the cluster");
    } else {
        let _ = writeln!(r, "(none)");
    }
    write_stdout(&r)
}

async fn post(api: &Api, what: &str, body: Value) -> CtlResult<()> {
    api.post_raw(
        &Api::path(&["cluster", what])?,
        Bytes::from(body.to_string()),
    )
    .await
}

pub(super) async fn join(api: &Api, out: &Output, node: &str, ram: bool) -> CtlResult<()> {
    out.info(&format!("Clustering node with {node}"));
    post(api, "join", json!({"node": node, "ram": ram})).await
}

pub(super) async fn reset(api: &Api, out: &Output) -> CtlResult<()> {
    out.info("Resetting node");
    post(api, "reset", json!({})).await
}

pub(super) async fn forget(api: &Api, out: &Output, node: &str) -> CtlResult<()> {
    out.info(&format!("Removing node {node} from the cluster"));
    post(api, "forget", json!({"node": node})).await
}

pub(super) async fn change_node_type(api: &Api, out: &Output, to: &str) -> CtlResult<()> {
    out.info(&format!("Turning this node into a {to} node"));
    post(api, "node-type", json!({"type": to})).await
}

pub(super) async fn set_name(api: &Api, out: &Output, name: &str) -> CtlResult<()> {
    out.info(&format!("Setting cluster name to {name} ..."));
    api.put_json(&Api::path(&["cluster-name"])?, &json!({"name": name}))
        .await
}
