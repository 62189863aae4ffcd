//! Deliveries not yet settled, kept by the queue that made them, filed by holder (the
//! channel they went to) and by position. A settle names its holder and positions; a holder
//! that goes away hands all of its deliveries back at once.

use super::consumer::Holder;
use super::entry::Entry;
use ahash::HashMap;

#[derive(Default)]
pub struct InFlight {
    by_holder: HashMap<Holder, HashMap<u64, Entry>>,
    len: usize,
}

impl InFlight {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn insert(&mut self, holder: Holder, e: Entry) {
        if self
            .by_holder
            .entry(holder)
            .or_default()
            .insert(e.seq, e)
            .is_none()
        {
            self.len += 1;
        }
    }

    /// The delivery at `seq` held by `holder`, if it is still unsettled.
    pub fn take(&mut self, holder: Holder, seq: u64) -> Option<Entry> {
        let e = self.by_holder.get_mut(&holder)?.remove(&seq)?;
        self.len -= 1;
        Some(e)
    }

    /// Every delivery `holder` holds.
    pub fn take_holder(&mut self, holder: Holder) -> Vec<Entry> {
        let taken: Vec<Entry> = self
            .by_holder
            .remove(&holder)
            .map(|m| m.into_values().collect())
            .unwrap_or_default();
        self.len -= taken.len();
        taken
    }

    /// Every delivery.
    pub fn take_all(&mut self) -> Vec<Entry> {
        self.len = 0;
        std::mem::take(&mut self.by_holder)
            .into_values()
            .flat_map(|m| m.into_values())
            .collect()
    }
}
