//! The API's paths: which handler answers which method on which path. A known path asked
//! with another method is 405; anything else is 404.

use super::api::{
    bindings, cluster, connections, definitions, exchanges, health, limits, nodes, overview,
    policies, queues, tls, topic_permissions, users, vhosts, Ctx,
};
use super::auth;
use super::error::{ApiError, ApiResult};
use super::reply::Reply;
use super::request::Req;
use crate::broker::Broker;
use hyper::Method;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) async fn dispatch(
    broker: &Arc<Broker>,
    listeners: super::Listeners,
    peer: SocketAddr,
    req: Req,
) -> ApiResult<Reply> {
    let session = auth::authenticate(broker, req.header("authorization"), peer)?;
    let ctx = Ctx {
        broker: broker.clone(),
        session,
        req,
        node: listeners,
    };
    let path: Vec<&str> = ctx.req.path.iter().map(String::as_str).collect();
    let m = &ctx.req.method;
    let (get, put, post, delete) = (
        m == Method::GET || m == Method::HEAD,
        m == Method::PUT,
        m == Method::POST,
        m == Method::DELETE,
    );
    macro_rules! on {
        ($($cond:ident => $call:expr),+ $(,)?) => {{
            $(if $cond { return $call.await; })+
            Err(ApiError::method_not_allowed())
        }};
    }
    match path.as_slice() {
        ["overview"] => on!(get => overview::overview(&ctx)),
        ["whoami"] => on!(get => overview::whoami(&ctx)),
        ["cluster-name"] => on!(
            get => overview::cluster_name(&ctx),
            put => overview::set_cluster_name(&ctx),
        ),
        ["extensions"] => on!(get => overview::extensions(&ctx)),
        ["nodes"] => on!(get => nodes::nodes(&ctx)),
        ["nodes", _] => on!(get => nodes::node(&ctx)),
        ["definitions"] | ["all-configuration"] => on!(
            get => definitions::export(&ctx, None),
            post => definitions::import(&ctx, None),
        ),
        ["definitions", v] => on!(
            get => definitions::export(&ctx, Some(v)),
            post => definitions::import(&ctx, Some(v)),
        ),
        ["vhosts"] => on!(get => vhosts::list(&ctx)),
        ["vhosts", v] => on!(
            get => vhosts::get(&ctx, v),
            put => vhosts::put(&ctx, v),
            delete => vhosts::delete(&ctx, v),
        ),
        ["vhosts", v, "connections"] => on!(get => connections::list(&ctx, Some(v))),
        ["vhosts", v, "channels"] => on!(get => connections::channels(&ctx, Some(v))),
        ["connections"] => on!(get => connections::list(&ctx, None)),
        ["connections", "username", u] => on!(
            get => connections::of_user(&ctx, u),
            delete => connections::close_user(&ctx, u),
        ),
        ["connections", c] => on!(
            get => connections::get(&ctx, c),
            delete => connections::close(&ctx, c),
        ),
        ["connections", c, "channels"] => on!(get => connections::channels_of(&ctx, c)),
        ["channels"] => on!(get => connections::channels(&ctx, None)),
        ["channels", c] => on!(get => connections::channel(&ctx, c)),
        ["consumers"] => on!(get => connections::consumers(&ctx, None)),
        ["consumers", v] => on!(get => connections::consumers(&ctx, Some(v))),
        ["vhosts", v, "topic-permissions"] => on!(get => topic_permissions::of_vhost(&ctx, v)),
        ["users", u, "topic-permissions"] => on!(get => topic_permissions::of_user(&ctx, u)),
        ["topic-permissions"] => on!(get => topic_permissions::all(&ctx)),
        ["topic-permissions", v, u] => on!(
            get => topic_permissions::get(&ctx, v, u),
            put => topic_permissions::put(&ctx, v, u),
            delete => topic_permissions::delete(&ctx, v, u),
        ),
        ["vhosts", v, "permissions"] => on!(get => users::permissions_of_vhost(&ctx, v)),
        ["users"] => on!(get => users::list(&ctx, false)),
        ["users", "without-permissions"] => on!(get => users::list(&ctx, true)),
        ["users", "bulk-delete"] => on!(post => users::bulk_delete(&ctx)),
        ["users", u] => on!(
            get => users::get(&ctx, u),
            put => users::put(&ctx, u),
            delete => users::delete(&ctx, u),
        ),
        ["users", u, "permissions"] => on!(get => users::permissions_of_user(&ctx, u)),
        ["permissions"] => on!(get => users::permissions(&ctx)),
        ["permissions", v, u] => on!(
            get => users::permission(&ctx, v, u),
            put => users::set_permission(&ctx, v, u),
            delete => users::clear_permission(&ctx, v, u),
        ),
        ["exchanges"] => on!(get => exchanges::list(&ctx, None)),
        ["exchanges", v] => on!(get => exchanges::list(&ctx, Some(v))),
        ["exchanges", v, x] => on!(
            get => exchanges::get(&ctx, v, x),
            put => exchanges::put(&ctx, v, x),
            delete => exchanges::delete(&ctx, v, x),
        ),
        ["exchanges", v, x, "bindings", "source"] => {
            on!(get => bindings::of_exchange(&ctx, v, x, true))
        }
        ["exchanges", v, x, "bindings", "destination"] => {
            on!(get => bindings::of_exchange(&ctx, v, x, false))
        }
        ["exchanges", v, x, "publish"] => on!(post => exchanges::publish(&ctx, v, x)),
        ["queues"] => on!(get => queues::list(&ctx, None)),
        ["queues", v] => on!(get => queues::list(&ctx, Some(v))),
        ["queues", v, q] => on!(
            get => queues::get(&ctx, v, q),
            put => queues::put(&ctx, v, q),
            delete => queues::delete(&ctx, v, q),
        ),
        ["queues", v, q, "bindings"] => on!(get => bindings::of_queue(&ctx, v, q)),
        ["queues", v, q, "contents"] => on!(delete => queues::purge(&ctx, v, q)),
        ["queues", v, q, "get"] => on!(post => queues::get_messages(&ctx, v, q)),
        ["queues", v, q, "actions"] => on!(post => queues::action(&ctx, v, q)),
        ["bindings"] => on!(get => bindings::list(&ctx, None)),
        ["bindings", v] => on!(get => bindings::list(&ctx, Some(v))),
        ["bindings", v, "e", src, kind @ ("q" | "e"), dst] => on!(
            get => bindings::between(&ctx, v, src, kind, dst),
            post => bindings::create(&ctx, v, src, kind, dst),
        ),
        ["bindings", v, "e", src, kind @ ("q" | "e"), dst, props] => on!(
            get => bindings::get(&ctx, v, src, kind, dst, props),
            delete => bindings::delete(&ctx, v, src, kind, dst, props),
        ),
        [kind @ ("policies" | "operator-policies")] => {
            on!(get => policies::list(&ctx, kind, None))
        }
        [kind @ ("policies" | "operator-policies"), v] => {
            on!(get => policies::list(&ctx, kind, Some(v)))
        }
        [kind @ ("policies" | "operator-policies"), v, n] => on!(
            get => policies::get(&ctx, kind, v, n),
            put => policies::put(&ctx, kind, v, n),
            delete => policies::delete(&ctx, kind, v, n),
        ),
        ["parameters"] => on!(get => policies::parameters(&ctx, None, None)),
        ["parameters", c] => on!(get => policies::parameters(&ctx, Some(c), None)),
        ["parameters", c, v] => on!(get => policies::parameters(&ctx, Some(c), Some(v))),
        ["parameters", c, v, n] => on!(
            get => policies::parameter(&ctx, c, v, n),
            put => policies::set_parameter(&ctx, c, v, n),
            delete => policies::clear_parameter(&ctx, c, v, n),
        ),
        ["global-parameters"] => on!(get => policies::global_parameters(&ctx)),
        ["global-parameters", n] => on!(
            get => policies::global_parameter(&ctx, n),
            put => policies::set_global_parameter(&ctx, n),
            delete => policies::clear_global_parameter(&ctx, n),
        ),
        ["vhost-limits"] => on!(get => limits::list_vhost(&ctx, None)),
        ["vhost-limits", v] => on!(get => limits::list_vhost(&ctx, Some(v))),
        ["vhost-limits", v, n] => on!(
            put => limits::set_vhost(&ctx, v, n),
            delete => limits::clear_vhost(&ctx, v, n),
        ),
        ["user-limits"] => on!(get => limits::list_user(&ctx, None)),
        ["user-limits", u] => on!(get => limits::list_user(&ctx, Some(u))),
        ["user-limits", u, n] => on!(
            put => limits::set_user(&ctx, u, n),
            delete => limits::clear_user(&ctx, u, n),
        ),
        ["auth"] => on!(get => overview::auth(&ctx)),
        ["rebalance", "queues"] => on!(post => overview::rebalance(&ctx)),
        ["tls", "reload"] => on!(post => tls::reload(&ctx)),
        ["cluster"] => on!(get => cluster::status(&ctx)),
        ["cluster", "join"] => on!(post => cluster::join(&ctx)),
        ["cluster", "reset"] => on!(post => cluster::reset(&ctx)),
        ["cluster", "forget"] => on!(post => cluster::forget(&ctx)),
        ["cluster", "node-type"] => on!(post => cluster::node_type(&ctx)),
        ["vhosts", v, "start", node] => on!(post => vhosts::start(&ctx, v, node)),
        ["aliveness-test", v] => on!(get => health::aliveness(&ctx, v)),
        ["health", "checks", rest @ ..] => on!(get => health::check(&ctx, rest)),
        _ => Err(ApiError::not_found()),
    }
}
