//! Exchange statistics counted on the connection: publishes to the exchange it last
//! published to are tallied in plain numbers, and added to the exchange's shared counters
//! when it publishes elsewhere, when a batch of frames is done, and when it closes. The
//! sampler (every few seconds) sees them at most one batch late; the publish path touches
//! no shared counter of the exchange.

use crate::broker::exchange::Exchange;
use crate::stats::Stat;
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct ExchangeTally {
    exchange: Option<Arc<Exchange>>,
    publish_in: u64,
    publish_out: u64,
}

impl ExchangeTally {
    /// Counts a publish to `ex` (`routed`: it reached a queue).
    pub(crate) fn count(&mut self, ex: &Arc<Exchange>, routed: bool) {
        if !self.exchange.as_ref().is_some_and(|e| Arc::ptr_eq(e, ex)) {
            self.flush();
            self.exchange = Some(ex.clone());
        }
        self.publish_in += 1;
        self.publish_out += u64::from(routed);
    }

    /// Adds what was tallied to the exchange's counters.
    pub(crate) fn flush(&mut self) {
        if let Some(ex) = &self.exchange {
            if self.publish_in > 0 {
                ex.stats.add(Stat::PublishIn, self.publish_in);
            }
            if self.publish_out > 0 {
                ex.stats.add(Stat::PublishOut, self.publish_out);
            }
        }
        self.publish_in = 0;
        self.publish_out = 0;
    }
}
