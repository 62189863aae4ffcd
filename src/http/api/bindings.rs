//! `/api/bindings` and the binding lists under exchanges and queues. Bindings have no name:
//! the API names one by its `properties_key` (`~` for an empty routing key without
//! arguments, else the quoted routing key, plus `~` and a hash of the arguments if any).

use super::exchanges::exchange_name;
use super::Ctx;
use crate::broker::command::{BindingSpec, Command, Destination};
use crate::broker::Vhost;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use crate::store::definitions::{json_to_field_table, BindingDefinition, DestinationType};
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use sha2::Digest;

pub(crate) async fn list(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    let mut items = Vec::new();
    for vh in ctx.vhosts_listed(vhost)? {
        items.extend(all(&vh).iter().map(json_of));
    }
    respond(ctx, items).await
}

pub(crate) async fn of_exchange(
    ctx: &Ctx,
    vhost: &str,
    name: &str,
    as_source: bool,
) -> ApiResult<Reply> {
    let vh = ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let name = exchange_name(name);
    vh.exchange(name).ok_or_else(ApiError::not_found)?;
    let items = all(&vh)
        .iter()
        .filter(|b| match as_source {
            true => b.source == name,
            false => b.destination_type == DestinationType::Exchange && b.destination == name,
        })
        .map(json_of)
        .collect();
    respond(ctx, items).await
}

pub(crate) async fn of_queue(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.visible_vhost(&ctx.broker, vhost)?;
    vh.queue(name).ok_or_else(ApiError::not_found)?;
    let items = all(&vh)
        .iter()
        .filter(|b| b.destination_type == DestinationType::Queue && b.destination == name)
        .map(json_of)
        .collect();
    respond(ctx, items).await
}

/// The bindings from one exchange to one queue or exchange.
pub(crate) async fn between(
    ctx: &Ctx,
    vhost: &str,
    source: &str,
    kind: &str,
    dest: &str,
) -> ApiResult<Reply> {
    let vh = ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let items = pair(&vh, source, kind, dest)?.iter().map(json_of).collect();
    respond(ctx, items).await
}

pub(crate) async fn get(
    ctx: &Ctx,
    vhost: &str,
    source: &str,
    kind: &str,
    dest: &str,
    props: &str,
) -> ApiResult<Reply> {
    let vh = ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let b = one(&vh, source, kind, dest, props)?;
    Ok(Reply::json(&listing::respond_one(&ctx.req, json_of(&b))))
}

/// `{routing_key, arguments}`: binds, answering 201 with the new binding's `Location`.
pub(crate) async fn create(
    ctx: &Ctx,
    vhost: &str,
    source: &str,
    kind: &str,
    dest: &str,
) -> ApiResult<Reply> {
    let vh = ctx.vhost_for_write(vhost)?;
    pair(&vh, source, kind, dest)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let routing_key = f.string("routing_key")?.unwrap_or_default();
    let arguments = f.object("arguments")?;
    let source = exchange_name(source);
    ctx.run(Command::Bind(spec(
        vhost,
        source,
        kind,
        dest,
        &routing_key,
        &arguments,
    )))
    .await?;
    // Each part a path segment (so the key's own escapes are escaped once more).
    let enc = |s: &str| utf8_percent_encode(s, FORM).to_string();
    let location = format!(
        "/api/bindings/{}/e/{}/{kind}/{}/{}",
        enc(vhost),
        enc(source),
        enc(dest),
        enc(&properties_key(&routing_key, &arguments))
    );
    Ok(Reply::status(hyper::StatusCode::CREATED).with_location(location))
}

pub(crate) async fn delete(
    ctx: &Ctx,
    vhost: &str,
    source: &str,
    kind: &str,
    dest: &str,
    props: &str,
) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    let b = one(&vh, source, kind, dest, props)?;
    ctx.run(Command::Unbind(spec(
        vhost,
        &b.source,
        kind,
        dest,
        &b.routing_key,
        &b.arguments,
    )))
    .await?;
    Ok(Reply::no_content())
}

fn spec(
    vhost: &str,
    source: &str,
    kind: &str,
    dest: &str,
    routing_key: &str,
    arguments: &Map<String, Value>,
) -> BindingSpec {
    BindingSpec {
        vhost: vhost.to_string(),
        source: source.to_string(),
        destination: if kind == "q" {
            Destination::Queue(dest.to_string())
        } else {
            Destination::Exchange(dest.to_string())
        },
        routing_key: routing_key.to_string(),
        arguments: json_to_field_table(arguments),
    }
}

/// Bindings (which have no name) listed by vhost, source, destination and routing key.
async fn respond(ctx: &Ctx, mut items: Vec<Value>) -> ApiResult<Reply> {
    items.sort_by_cached_key(key_order);
    listing::respond(&ctx.req, items).await
}

fn key_order(v: &Value) -> (String, String, String, String) {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    (s("vhost"), s("source"), s("destination"), s("routing_key"))
}

/// The bindings from `source` to `dest`; both must exist.
fn pair(vh: &Vhost, source: &str, kind: &str, dest: &str) -> ApiResult<Vec<BindingDefinition>> {
    let source = exchange_name(source);
    vh.exchange(source).ok_or_else(ApiError::not_found)?;
    let (dest_type, found) = if kind == "q" {
        (DestinationType::Queue, vh.queue(dest).is_some())
    } else {
        (DestinationType::Exchange, vh.exchange(dest).is_some())
    };
    if !found {
        return Err(ApiError::not_found());
    }
    Ok(all(vh)
        .into_iter()
        .filter(|b| b.source == source && b.destination_type == dest_type && b.destination == dest)
        .collect())
}

/// The binding from `source` to `dest` whose properties key is `props`.
fn one(
    vh: &Vhost,
    source: &str,
    kind: &str,
    dest: &str,
    props: &str,
) -> ApiResult<BindingDefinition> {
    pair(vh, source, kind, dest)?
        .into_iter()
        .find(|b| matches(b, props))
        .ok_or_else(ApiError::not_found)
}

/// Every binding in a vhost, the default exchange's implicit ones included.
fn all(vh: &Vhost) -> Vec<BindingDefinition> {
    let mut out: Vec<BindingDefinition> = vh
        .queues()
        .iter()
        .map(|q| BindingDefinition {
            source: String::new(),
            vhost: vh.name.clone(),
            destination: q.name.clone(),
            destination_type: DestinationType::Queue,
            routing_key: q.name.clone(),
            arguments: Map::new(),
        })
        .collect();
    for x in vh.exchanges() {
        out.extend(
            x.bindings()
                .iter()
                .map(|b| crate::broker::records::binding(&vh.name, &x.name, b)),
        );
    }
    out
}

fn json_of(b: &BindingDefinition) -> Value {
    json!({
        "source": b.source,
        "vhost": b.vhost,
        "destination": b.destination,
        "destination_type": match b.destination_type {
            DestinationType::Queue => "queue",
            DestinationType::Exchange => "exchange",
        },
        "routing_key": b.routing_key,
        "arguments": b.arguments,
        "properties_key": properties_key(&b.routing_key, &b.arguments),
    })
}

/// The binding's name in URLs, as RabbitMQ makes it: the routing key form-quoted
/// (`a.#` is `a.%23`, a space `+`), then `~` and a hash of the arguments if there are any
/// (the hash is Warren's own: stable, but not Erlang's `phash2`).
pub(crate) fn properties_key(routing_key: &str, args: &Map<String, Value>) -> String {
    let rk = quote_plus(routing_key);
    match (rk.is_empty(), args.is_empty()) {
        (true, true) => "~".into(),
        (false, true) => rk,
        (_, false) => format!("{rk}~{}", args_hash(args)),
    }
}

fn args_hash(args: &Map<String, Value>) -> String {
    let canon = serde_json::to_vec(args).unwrap_or_default();
    let digest = sha2::Sha256::digest(&canon);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..6])
}

/// Bytes left as they are in a form-quoted key: letters, digits and `.-_`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');

/// HTML-form quoting as RabbitMQ's `quote_plus` (with `~` quoted too, as it separates the
/// key from the arguments' hash).
fn quote_plus(s: &str) -> String {
    s.split(' ')
        .map(|part| utf8_percent_encode(part, FORM).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Whether `b` is the binding a URL's (once decoded) properties key names. As RabbitMQ, the
/// key part is unquoted once more, so both the listed key (`a.%23`) and the routing key
/// itself (`a.#`) find the binding; the arguments are named by their hash.
fn matches(b: &BindingDefinition, props: &str) -> bool {
    let (key, hash) = match props.split_once('~') {
        Some((key, hash)) => (key, Some(hash)),
        None => (props, None),
    };
    let unquoted = key.replace('+', " ");
    let unquoted = percent_decode_str(&unquoted).decode_utf8_lossy();
    unquoted == b.routing_key
        && match hash {
            None | Some("") => b.arguments.is_empty(),
            Some(hash) => !b.arguments.is_empty() && hash == args_hash(&b.arguments),
        }
}
