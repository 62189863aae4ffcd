//! One function per `warren ctl` command, grouped by what they manage.

mod cluster;
mod definitions;
mod node;
mod objects;
mod policies;
mod users;
mod vhosts;

use super::api::Api;
use super::args::Cmd;
use super::error::CtlResult;
use super::output::Output;

/// Runs one command against the API.
pub(crate) async fn run(api: &mut Api, out: &Output, cmd: Cmd) -> CtlResult<()> {
    match cmd {
        Cmd::AddUser { name, new_password } => users::add(api, out, &name, &new_password).await,
        Cmd::DeleteUser { name } => users::delete(api, out, &name).await,
        Cmd::ChangePassword { name, new_password } => {
            users::change_password(api, out, &name, &new_password).await
        }
        Cmd::SetUserTags { name, tags } => users::set_tags(api, out, &name, &tags).await,
        Cmd::ListUsers => users::list(api, out).await,
        Cmd::SetPermissions {
            vhost,
            username,
            configure,
            write,
            read,
        } => {
            let perms = users::Perms {
                configure,
                write,
                read,
            };
            users::set_permissions(api, out, &vhost.vhost, &username, perms).await
        }
        Cmd::ClearPermissions { vhost, username } => {
            users::clear_permissions(api, out, &vhost.vhost, &username).await
        }
        Cmd::ListPermissions { vhost } => users::list_permissions(api, out, &vhost.vhost).await,
        Cmd::ListUserPermissions { username } => {
            users::list_user_permissions(api, out, &username).await
        }

        Cmd::AddVhost {
            name,
            description,
            tags,
        } => vhosts::add(api, out, &name, description, tags).await,
        Cmd::DeleteVhost { name } => vhosts::delete(api, out, &name).await,
        Cmd::ListVhosts { columns } => vhosts::list(api, out, columns).await,

        Cmd::SetPolicy {
            vhost,
            priority,
            apply_to,
            name,
            pattern,
            definition,
        } => {
            let policy = policies::Policy {
                name,
                pattern,
                definition,
                priority,
                apply_to,
            };
            policies::set(api, out, &vhost.vhost, policy).await
        }
        Cmd::ClearPolicy { vhost, name } => policies::clear(api, out, &vhost.vhost, &name).await,
        Cmd::ListPolicies { vhost } => policies::list(api, out, &vhost.vhost).await,

        Cmd::ListQueues { vhost, columns } => {
            objects::list_queues(api, out, &vhost.vhost, columns).await
        }
        Cmd::ListExchanges { vhost, columns } => {
            objects::list_exchanges(api, out, &vhost.vhost, columns).await
        }
        Cmd::ListBindings { vhost, columns } => {
            objects::list_bindings(api, out, &vhost.vhost, columns).await
        }
        Cmd::ListConnections { columns } => objects::list_connections(api, out, columns).await,
        Cmd::ListConsumers { vhost, columns } => {
            objects::list_consumers(api, out, &vhost.vhost, columns).await
        }
        Cmd::CloseConnection { name, reason } => {
            objects::close_connection(api, out, &name, &reason).await
        }
        Cmd::PurgeQueue { vhost, name } => {
            objects::purge_queue(api, out, &vhost.vhost, &name).await
        }
        Cmd::SyncQueue { vhost, name } => {
            objects::sync_queue(api, out, &vhost.vhost, &name, true).await
        }
        Cmd::CancelSyncQueue { vhost, name } => {
            objects::sync_queue(api, out, &vhost.vhost, &name, false).await
        }
        Cmd::DeleteQueue {
            vhost,
            if_unused,
            if_empty,
            name,
        } => objects::delete_queue(api, out, &vhost.vhost, &name, if_unused, if_empty).await,

        Cmd::ExportDefinitions { file } => definitions::export(api, out, &file).await,
        Cmd::ImportDefinitions { file } => definitions::import(api, out, &file).await,

        Cmd::Status => node::status(api, out).await,
        Cmd::ClusterStatus => cluster::status(api, out).await,
        Cmd::JoinCluster { node, ram } => cluster::join(api, out, &node, ram).await,
        Cmd::Reset => cluster::reset(api, out).await,
        Cmd::ForgetClusterNode { node } => cluster::forget(api, out, &node).await,
        Cmd::ChangeClusterNodeType { node_type } => {
            cluster::change_node_type(api, out, node_type.as_str()).await
        }
        Cmd::SetClusterName { name } => cluster::set_name(api, out, &name).await,
        Cmd::AwaitStartup { timeout } => node::await_startup(api, out, timeout).await,
    }
}

/// The columns asked for, else the command's defaults.
fn columns_or(asked: Vec<String>, defaults: &[&str]) -> Vec<String> {
    if asked.is_empty() {
        defaults.iter().map(|c| c.to_string()).collect()
    } else {
        asked
    }
}

/// `path?columns=a,b` when columns were asked for (the API trims its JSON to them).
fn with_columns(path: String, asked: &[String]) -> String {
    if asked.is_empty() {
        return path;
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("columns", &asked.join(","))
        .finish();
    format!("{path}?{query}")
}
