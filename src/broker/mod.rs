//! The broker: vhosts, users and permissions, the stored definitions they persist to, and
//! the broker-wide signals (memory alarm, shutdown). Nothing here is on the publish path
//! except the vhost lookup a connection does once at `connection.open`.

mod apply;
pub(crate) mod clients;
pub mod command;
pub(crate) mod effective;
mod equivalence;
pub(crate) mod exchange;
pub(crate) mod headers;
pub(crate) mod import;
pub(crate) mod mirror_plan;
pub mod node_figures;
pub(crate) mod parameters;
pub(crate) mod policy;
pub(crate) mod publish;
mod queue_owner;
pub(crate) mod records;
mod replace;
pub mod replicated;
pub(crate) mod resources;
pub(crate) mod sampler;
mod seed;
pub(crate) mod topic;
mod topic_wild;
mod unclaimed;
pub(crate) mod vhost;
pub(crate) mod watched;

use crate::auth::permissions::Permission;
use crate::auth::User;
use crate::config::{Config, NodeType};
use crate::store::messages::MessageStore;
use crate::store::meta_log::MetaLog;
use ahash::{HashMap, HashMapExt};
pub(crate) use apply::default_exchange_refused;
pub use apply::Applied;
use parking_lot::RwLock;
pub use resources::Alarms;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
pub use vhost::Vhost;

/// A user's topic permissions in one vhost.
pub(crate) type TopicPermissions = Arc<Vec<crate::auth::TopicPermission>>;

pub struct Broker {
    pub config: Config,
    vhosts: RwLock<HashMap<String, Arc<Vhost>>>,
    users: RwLock<HashMap<String, Arc<User>>>,
    permissions: RwLock<HashMap<(String, String), Arc<Permission>>>,
    /// Topic permissions by (user, vhost); `topic_generation` counts changes, so
    /// connections know when their copy is stale.
    topic_permissions: RwLock<HashMap<(String, String), TopicPermissions>>,
    pub(crate) topic_generation: AtomicU64,
    pub(crate) next_conn_id: AtomicU64,
    /// Resource alarms: while any is up, publishing connections are blocked.
    pub alarms: watch::Sender<Alarms>,
    /// Set once on shutdown; every connection closes with 320.
    pub shutdown: watch::Sender<bool>,
    /// Set while a cluster node pauses (`pause_minority`): clients are closed with 320
    /// and new ones refused.
    pub paused: watch::Sender<bool>,
    /// Bumped when a vhost or a user is deleted: connections check they may stay open.
    pub access_revoked: watch::Sender<u64>,
    /// The broker itself, for the queues it creates to point back to (as their owner).
    this: std::sync::Weak<Broker>,
    /// The durable metadata: commands append their changes to it.
    pub metadata: MetaLog,
    pub store: Arc<MessageStore>,
    /// A RAM node's recovered messages whose queues the cluster has not declared here yet.
    unclaimed: unclaimed::Unclaimed,
    /// Memory use that raises the memory alarm (`resources.memory_high_watermark`).
    pub memory_limit: u64,
    /// Above this many bytes of messages in memory, new messages are paged to the store.
    pub paging_limit: usize,
    /// User and operator policies of every vhost.
    pub policies: RwLock<policy::Policies>,
    /// Runtime parameters, per vhost and global.
    pub parameters: RwLock<parameters::Parameters>,
    /// How long a delivery may stay unacked before its channel is closed (406).
    pub consumer_timeout: Option<std::time::Duration>,
    /// When the broker started (the node's uptime).
    pub started: std::time::Instant,
    /// The open client connections.
    pub(crate) clients: clients::Clients,
    /// The node's message counts (all vhosts), sampled for rates.
    pub(crate) stats: crate::stats::Rates,
    /// The node's recent samples (counts and queue lengths), for the overview's charts.
    pub(crate) history: crate::stats::History,
    /// Histories of the queues, exchanges and vhosts the API was asked about.
    pub(crate) watched: watched::Watched,
    /// The TLS listeners' certificates (reloadable).
    pub tls: crate::tls::Certificates,
    /// In a cluster: the replicated log commands go through (`replicated`).
    replicator: std::sync::OnceLock<Arc<dyn replicated::Replicator>>,
    /// The cluster state machine's position as stored with the metadata, for the cluster
    /// frontend to take when it starts.
    pub cluster_state: parking_lot::Mutex<Option<serde_json::Value>>,
}

impl Broker {
    /// Opens the data dir: loads stored definitions, or seeds them from the config.
    pub fn open(config: Config) -> anyhow::Result<Arc<Broker>> {
        // First: a bad certificate stops the start before the data dir is touched.
        let tls = crate::tls::Certificates::load(&config)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data_dir {}: {e}", config.data_dir.display())
        })?;
        let ram = (config.cluster.as_ref())
            .is_some_and(|c| c.effective_node_type(&config.data_dir) == NodeType::Ram);
        let (metadata, defs) = if ram {
            MetaLog::in_memory(|| seed::from_config(&config))?
        } else {
            MetaLog::open(&config.data_dir, || seed::from_config(&config))?
        };
        let cluster_state = parking_lot::Mutex::new(defs.cluster.clone());
        let known = seed::durable_queue_keys(&defs);
        let known = (!ram).then_some(&known);
        let (store, recovered) = MessageStore::open(&config.data_dir.join("messages"), known)
            .map_err(|e| anyhow::anyhow!("cannot open the message store: {e}"))?;
        if recovered.messages > 0 || recovered.lost_bytes > 0 {
            tracing::info!(
                "recovered {} messages ({} bytes unreadable)",
                recovered.messages,
                recovered.lost_bytes
            );
        }
        let memory_limit = config.memory_limit_bytes();
        let broker = Arc::new_cyclic(|this| Broker {
            this: this.clone(),
            store,
            memory_limit,
            paging_limit: (memory_limit as f64 * config.resources.memory_paging_ratio) as usize,
            consumer_timeout: (config.consumer_timeout > 0)
                .then(|| std::time::Duration::from_millis(config.consumer_timeout)),
            policies: RwLock::new(policy::Policies::default()),
            parameters: RwLock::new(parameters::Parameters::default()),
            vhosts: RwLock::new(HashMap::new()),
            users: RwLock::new(HashMap::new()),
            permissions: RwLock::new(HashMap::new()),
            topic_permissions: RwLock::new(HashMap::new()),
            topic_generation: AtomicU64::new(0),
            next_conn_id: AtomicU64::new(1),
            started: std::time::Instant::now(),
            clients: clients::Clients::default(),
            stats: Default::default(),
            history: Default::default(),
            watched: Default::default(),
            tls,
            replicator: std::sync::OnceLock::new(),
            cluster_state,
            alarms: watch::channel(Alarms::default()).0,
            shutdown: watch::channel(false).0,
            paused: watch::channel(false).0,
            access_revoked: watch::channel(0).0,
            metadata,
            config,
            unclaimed: Default::default(),
        });
        seed::apply(&broker, &defs)?;
        let left = seed::restore_messages(&broker, recovered);
        broker.unclaimed.keep(left);
        Ok(broker)
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn vhost(&self, name: &str) -> Option<Arc<Vhost>> {
        self.vhosts.read().get(name).cloned()
    }

    pub fn vhosts(&self) -> Vec<Arc<Vhost>> {
        self.vhosts.read().values().cloned().collect()
    }

    /// The vhost named, created (without a description) if missing.
    pub(crate) fn add_vhost(&self, name: &str) -> Arc<Vhost> {
        self.vhosts
            .write()
            .entry(name.to_string())
            .or_insert_with(|| Vhost::new(name))
            .clone()
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    pub fn put_user(&self, user: User) {
        self.users.write().insert(user.name.clone(), Arc::new(user));
    }

    pub fn permission(&self, user: &str, vhost: &str) -> Option<Arc<Permission>> {
        self.permissions
            .read()
            .get(&(user.to_string(), vhost.to_string()))
            .cloned()
    }

    pub fn permissions(&self) -> Vec<(String, String, Arc<Permission>)> {
        self.permissions
            .read()
            .iter()
            .map(|((u, v), p)| (u.clone(), v.clone(), p.clone()))
            .collect()
    }

    pub fn put_permission(&self, user: &str, vhost: &str, p: Permission) {
        self.permissions
            .write()
            .insert((user.to_string(), vhost.to_string()), Arc::new(p));
    }

    /// A user's topic permissions in a vhost (empty: unrestricted).
    pub(crate) fn topic_permissions(
        &self,
        user: &str,
        vhost: &str,
    ) -> Arc<Vec<crate::auth::TopicPermission>> {
        self.topic_permissions
            .read()
            .get(&(user.to_string(), vhost.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Every topic permission, as (user, vhost, permission).
    pub(crate) fn all_topic_permissions(
        &self,
    ) -> Vec<(String, String, crate::auth::TopicPermission)> {
        let map = self.topic_permissions.read();
        let mut out: Vec<_> = map
            .iter()
            .flat_map(|((u, v), ps)| ps.iter().map(move |p| (u.clone(), v.clone(), p.clone())))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1, &a.2.exchange).cmp(&(&b.0, &b.1, &b.2.exchange)));
        out
    }

    /// Replaces a user's topic permissions in a vhost (none: removed).
    pub(crate) fn set_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        perms: Vec<crate::auth::TopicPermission>,
    ) {
        let key = (user.to_string(), vhost.to_string());
        {
            let mut map = self.topic_permissions.write();
            if perms.is_empty() {
                map.remove(&key);
            } else {
                map.insert(key, Arc::new(perms));
            }
        }
        self.topic_generation.fetch_add(1, Ordering::Release);
    }

    /// Forgets the topic permissions of a user, or of everyone in a vhost.
    pub(crate) fn drop_topic_permissions(&self, user: Option<&str>, vhost: Option<&str>) {
        self.topic_permissions
            .write()
            .retain(|(u, v), _| !(user.is_none_or(|x| x == u) && vhost.is_none_or(|x| x == v)));
        self.topic_generation.fetch_add(1, Ordering::Release);
    }

    /// Checks a password; `None` if the user is unknown or the password wrong.
    pub fn authenticate(&self, user: &str, password: &str) -> Option<Arc<User>> {
        let u = self.user(user)?;
        u.check_password(password).then_some(u)
    }

    /// The broker's durable definitions (what `GET /api/definitions` exports).
    pub fn export_definitions(&self) -> crate::store::definitions::Definitions {
        seed::export(self)
    }

    /// Resolves once shutdown has begun.
    pub async fn shutdown_signal(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Resolves once the node pauses (`pause_minority`).
    pub async fn paused_signal(&self) {
        let mut rx = self.paused.subscribe();
        let _ = rx.wait_for(|p| *p).await;
    }

    /// Resolves once every alarm is clear.
    pub async fn alarms_clear(&self) {
        let mut rx = self.alarms.subscribe();
        let _ = rx.wait_for(|a| a.reason().is_none()).await;
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The settings a queue runs with: its arguments with policies applied.
    pub fn queue_settings(
        &self,
        vhost: &str,
        name: &str,
        args: &crate::queue::QueueArgs,
    ) -> crate::queue::QueueArgs {
        effective::queue_settings(&self.policies.read(), vhost, name, args)
    }

    /// Re-applies policies to every queue and exchange (after a policy change).
    pub fn apply_policies(&self) {
        for vh in self.vhosts() {
            for q in vh.queues() {
                q.set_settings(self.queue_settings(&vh.name, &q.name, &q.args));
            }
            for ex in vh.exchanges() {
                let ae = effective::alternate_exchange(
                    &self.policies.read(),
                    &vh.name,
                    &ex.name,
                    ex.alternate_arg.as_deref(),
                );
                ex.set_alternate(ae);
            }
        }
    }

    /// Deletes a queue: unbinds it, tells its consumers (`basic.cancel` to clients that
    /// asked for it), records the durable changes. Returns the ready messages it held.
    pub(crate) fn delete_queue(
        &self,
        vhost: &Vhost,
        q: &Arc<crate::queue::Queue>,
        changes: &mut Vec<crate::store::meta_model::Change>,
    ) -> u32 {
        if !vhost.remove_queue(q, changes) {
            return 0;
        }
        q.mark_deleted()
    }

    /// When message bodies in memory exceed the paging limit, writes queued ones to the
    /// store and drops them from memory until below it.
    pub fn page_out(&self) {
        let over = crate::message::ram_bytes().saturating_sub(self.paging_limit);
        if over == 0 {
            return;
        }
        let mut left = over;
        for q in self.vhosts().iter().flat_map(|vh| vh.queues()) {
            left = left.saturating_sub(q.page_out(left));
            if left == 0 {
                break;
            }
        }
        tracing::debug!("paged out {} bytes of messages", over - left);
    }

    /// Moves live messages out of mostly-released segments so those can be deleted: disk
    /// use stays proportional to what is queued. Returns how many messages moved.
    pub fn compact(&self) -> usize {
        let segments = self.store.compactable();
        if segments.is_empty() {
            return 0;
        }
        let moved: usize = self
            .vhosts()
            .iter()
            .flat_map(|vh| vh.queues())
            .map(|q| q.relocate(&segments))
            .sum();
        tracing::debug!("compacted segments {segments:?}: {moved} messages moved");
        moved
    }

    /// Samples message statistics now (the broker does it every 5 s on its own).
    pub fn sample_stats(&self) {
        sampler::sample(self, std::time::Instant::now());
    }

    /// Forces the memory alarm up or lets it follow the measured memory again (for tests
    /// and operators; the resource monitor sets the measured state).
    pub fn set_memory_alarm(&self, on: bool) {
        self.alarms
            .send_if_modified(|a| std::mem::replace(&mut a.memory_forced, on) != on);
    }
}
