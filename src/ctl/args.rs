//! `warren ctl`'s command line: the connection and output options, and one subcommand per
//! operation, named as `rabbitmqctl` names them.

use super::output::Format;
use serde_json::Value;
use std::time::Duration;

pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:15672";

#[derive(clap::Parser, Debug)]
#[command(
    name = "warren ctl",
    bin_name = "warren ctl",
    version,
    about = "Manages a running Warren (or RabbitMQ) through its management HTTP API",
    arg_required_else_help = true,
    after_help = "Lists print tab-separated columns under a header line (--format table) or the \
                  API's JSON (--format json). Columns are the API's field names, dotted for \
                  nested fields (arguments.x-max-length). Progress lines go to stderr.\n\
                  Exit codes: 0 done, 1 refused by the API or unreachable, 2 bad usage."
)]
pub(crate) struct CtlArgs {
    /// The management API [env: WARREN_CTL_URL] [default: http://127.0.0.1:15672]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,

    /// The user to log in as [env: WARREN_CTL_USER] [default: guest]
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// Their password [env: WARREN_CTL_PASSWORD] [default: guest]
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        allow_hyphen_values = true
    )]
    pub password: Option<String>,

    /// How lists and reports are printed.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub format: Format,

    /// No progress lines on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Tables without their header line.
    #[arg(long, global = true)]
    pub no_table_headers: bool,

    #[command(subcommand)]
    pub command: Cmd,
}

/// `-p VHOST`, `/` by default.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Vhost {
    /// The virtual host.
    #[arg(short = 'p', long = "vhost", value_name = "VHOST", default_value = "/")]
    pub vhost: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ApplyTo {
    Queues,
    Exchanges,
    All,
}

impl ApplyTo {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
        }
    }
}

#[derive(clap::Subcommand, Debug)]
#[command(rename_all = "snake_case")]
pub(crate) enum Cmd {
    /// Creates a user without tags (fails if the user exists).
    AddUser {
        name: String,
        // Not `password`: that is the global `--password`'s id, and clap would merge them.
        #[arg(value_name = "PASSWORD", allow_hyphen_values = true)]
        new_password: String,
    },
    /// Deletes a user (and closes their connections).
    DeleteUser { name: String },
    /// Sets a user's password, keeping their tags.
    ChangePassword {
        name: String,
        // Not `password`: that is the global `--password`'s id, and clap would merge them.
        #[arg(value_name = "PASSWORD", allow_hyphen_values = true)]
        new_password: String,
    },
    /// Replaces a user's tags (none given: no tags), keeping their password.
    SetUserTags { name: String, tags: Vec<String> },
    /// Lists users and their tags.
    ListUsers,

    /// Creates a virtual host (fails if it exists).
    AddVhost {
        name: String,
        #[arg(long, allow_hyphen_values = true)]
        description: Option<String>,
        /// Comma-separated tags.
        #[arg(long)]
        tags: Option<String>,
    },
    /// Deletes a virtual host and everything in it.
    DeleteVhost { name: String },
    /// Lists virtual hosts [default columns: name].
    ListVhosts { columns: Vec<String> },

    /// Sets a user's permissions in a vhost (regular expressions on resource names).
    SetPermissions {
        #[command(flatten)]
        vhost: Vhost,
        // Not `user`: that is the global `--user`'s id.
        #[arg(value_name = "USER")]
        username: String,
        #[arg(allow_hyphen_values = true)]
        configure: String,
        #[arg(allow_hyphen_values = true)]
        write: String,
        #[arg(allow_hyphen_values = true)]
        read: String,
    },
    /// Removes a user's permissions in a vhost.
    ClearPermissions {
        #[command(flatten)]
        vhost: Vhost,
        // Not `user`: that is the global `--user`'s id.
        #[arg(value_name = "USER")]
        username: String,
    },
    /// Lists the permissions in a vhost.
    ListPermissions {
        #[command(flatten)]
        vhost: Vhost,
    },
    /// Lists a user's permissions in every vhost.
    ListUserPermissions {
        #[arg(value_name = "USER")]
        username: String,
    },

    /// Sets (or replaces) a policy.
    SetPolicy {
        #[command(flatten)]
        vhost: Vhost,
        /// Of the policies matching a name, the highest priority applies.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// What kind of object the policy applies to.
        #[arg(long = "apply-to", value_enum, default_value = "all")]
        apply_to: ApplyTo,
        /// The policy's name.
        name: String,
        /// A regular expression on queue or exchange names.
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        /// A JSON object, e.g. '{"max-length": 10}'.
        #[arg(value_parser = json_object)]
        definition: Value,
    },
    /// Removes a policy.
    ClearPolicy {
        #[command(flatten)]
        vhost: Vhost,
        name: String,
    },
    /// Lists the policies of a vhost.
    ListPolicies {
        #[command(flatten)]
        vhost: Vhost,
    },

    /// Lists queues [default columns: name messages].
    ListQueues {
        #[command(flatten)]
        vhost: Vhost,
        columns: Vec<String>,
    },
    /// Lists exchanges [default columns: name type].
    ListExchanges {
        #[command(flatten)]
        vhost: Vhost,
        columns: Vec<String>,
    },
    /// Lists bindings [default columns: source destination_type destination routing_key
    /// arguments].
    ListBindings {
        #[command(flatten)]
        vhost: Vhost,
        columns: Vec<String>,
    },
    /// Lists client connections [default columns: name user vhost peer_host peer_port
    /// state].
    ListConnections { columns: Vec<String> },
    /// Lists consumers [default columns: queue.name consumer_tag ack_required
    /// prefetch_count active arguments].
    ListConsumers {
        #[command(flatten)]
        vhost: Vhost,
        columns: Vec<String>,
    },
    /// Closes a client connection, telling it why.
    CloseConnection {
        /// The connection's name, as list_connections shows it.
        name: String,
        #[arg(allow_hyphen_values = true)]
        reason: String,
    },
    /// Removes every ready message from a queue.
    PurgeQueue {
        #[command(flatten)]
        vhost: Vhost,
        name: String,
    },
    /// Synchronises a mirrored queue's unsynchronised mirrors with its master.
    SyncQueue {
        #[command(flatten)]
        vhost: Vhost,
        name: String,
    },
    /// Stops the synchronisation of a mirrored queue's mirrors.
    CancelSyncQueue {
        #[command(flatten)]
        vhost: Vhost,
        name: String,
    },
    /// Deletes a queue.
    DeleteQueue {
        #[command(flatten)]
        vhost: Vhost,
        /// Only if it has no consumers.
        #[arg(short = 'u', long = "if-unused")]
        if_unused: bool,
        /// Only if it holds no messages.
        #[arg(short = 'e', long = "if-empty")]
        if_empty: bool,
        name: String,
    },

    /// Writes every definition (users, vhosts, permissions, queues, ...) as JSON to FILE
    /// ("-": stdout).
    ExportDefinitions { file: String },
    /// Loads definitions from a JSON file ("-": stdin), such as export_definitions writes.
    ImportDefinitions { file: String },

    /// Shows the node: versions, listeners, memory, disk, alarms, object totals.
    Status,

    /// Shows the cluster: disc, RAM and running nodes, the metadata log's leader.
    ClusterStatus,
    /// Resets this node and joins the cluster of NODE (its inter-node address,
    /// host:port).
    JoinCluster {
        node: String,
        /// Join as a RAM node.
        #[arg(long)]
        ram: bool,
    },
    /// Returns this node to a new node's state: it leaves its cluster, and every user,
    /// vhost, queue and message goes; the configured definitions come back.
    Reset,
    /// Removes NODE (by name) from the cluster (run it on another node).
    ForgetClusterNode { node: String },
    /// Makes this node a disc node (a voter, metadata on disk) or a RAM node (metadata in
    /// memory only); the cluster keeps at least one disc node.
    ChangeClusterNodeType {
        #[arg(value_parser = ["disc", "disk", "ram"])]
        node_type: String,
    },
    /// Sets the cluster's name (the `cluster_name` global parameter).
    SetClusterName { name: String },
    /// Waits until the API answers (exit 0), or the timeout passes (exit 1).
    AwaitStartup {
        /// Seconds to wait.
        #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
        timeout: Duration,
    },
}

fn json_object(s: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("the definition must be a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .and_then(|n| Duration::try_from_secs_f64(n).ok())
        .ok_or_else(|| "a number of seconds (0 or more)".into())
}
