//! A delivery from a mirrored master leaves this node only once the notice of it (and of
//! everything before it) is written to the links to every mirror. Written means handed to
//! the socket, whose data the system still sends should this process be killed the next
//! instant. So a master killed between the two never has handed out a message that its
//! successor takes for never delivered and hands out again without the redelivered flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Messages on their way to other nodes.
pub(crate) trait Written: Send + Sync {
    /// Whether they are all written, or can no longer be (their link closed).
    fn passed(&self) -> bool;

    /// Waits until they have passed.
    fn wait(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// What a delivery waits for before it is written.
pub(crate) type Gate = Arc<dyn Written>;
