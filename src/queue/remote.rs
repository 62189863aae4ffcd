//! A queue whose home is another cluster node. Only the home runs the queue's state
//! machine; every other node holds the queue's record with a [`Home`], and the queue's
//! operations go there over the link between the two nodes. The cluster frontend implements
//! it; the queue layer knows nothing of links or frames.

use super::{Got, Holder, Queue, QueueCounts, Settle, Subscription};
use crate::message::Message;
use crate::store::messages::OnSynced;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// An answer the home sends back later.
pub(crate) type Answer<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

pub(crate) trait Home: Send + Sync {
    /// The home node's name.
    fn node(&self) -> &str;

    /// Whether the home node can be reached now.
    fn is_up(&self) -> bool;

    /// Hands a routed message to the home; `confirm` runs once the home has taken it
    /// (stored, when persistent and the queue durable), or refused it.
    fn publish(&self, q: &Queue, msg: Message, confirm: Option<OnSynced>);

    /// Subscribes a local consumer at the home; `on_added` runs before any delivery. The
    /// home sends at most `window` deliveries ahead of what the consumer has taken.
    fn consume(
        &self,
        q: &Arc<Queue>,
        sub: Subscription,
        window: u32,
        on_added: Box<dyn FnOnce() + Send>,
    ) -> Answer<()>;

    /// Ends subscription `tag` of `holder`; what the home had sent for it and the consumer
    /// had not yet taken goes back. Answered once the home is done with it (and deleted
    /// an auto-delete queue it left without consumers).
    fn cancel(&self, q: &Queue, holder: Holder, tag: &str) -> Answer<()>;

    fn settle(&self, q: &Queue, holder: Holder, seqs: &[u64], how: Settle);

    fn holder_gone(&self, q: &Queue, holder: Holder);

    /// Local consumers of `q` may have room again: hand them what waits for them.
    fn dispatch(&self, q: &Arc<Queue>);

    fn get(&self, q: &Queue, holder: Option<Holder>) -> Answer<Got>;

    fn purge(&self, q: &Queue) -> Answer<u32>;

    /// Starts (`start`) or cancels the sync of the queue's mirrors at the home: how many.
    fn sync(&self, q: &Queue, start: bool) -> Answer<usize>;

    /// The queue's state as the management API shows it.
    fn report(&self, q: &Queue) -> Answer<super::Report>;

    /// The reports of several queues on the home (`None`: one is gone).
    fn reports(&self, qs: &[Arc<Queue>]) -> Answer<Vec<Option<super::Report>>>;

    /// The queue's record is gone here: its local consumers are cancelled.
    fn deleted(&self, q: &Queue);

    /// The counts the home last reported, and the local consumers.
    fn counts(&self, q: &Queue) -> QueueCounts;

    /// True while messages for the home wait in the link beyond its high mark: publishers
    /// pause, as for a congested local queue.
    fn is_congested(&self) -> bool;

    /// Waits until the link to the home has drained below its low mark.
    fn uncongested(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}
