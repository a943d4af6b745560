//! Indexes from client-chosen ids to positions in the ledger's tables.
//!
//! An open-addressing table with linear probing, one `u64` a slot: 32 bits of the id's hash
//! and the position. With tens of millions of transfers the table is far larger than the
//! caches, so what matters is cache lines touched: a probe reads consecutive slots (eight to a
//! line), a record is read only when its stored hash matches, growing never reads the records,
//! and [`IdIndex::prefetch`] lets the ledger start loading a slot a few commands ahead.
//!
//! Ids come from outside, so the hash is keyed per process (foldhash's random state): a client
//! cannot choose ids that collide. Nothing in the state depends on where an id lands, so
//! replay stays deterministic.

use std::hash::BuildHasher;

const EMPTY: u64 = 0;
/// Grow when more than 4/5 of the slots are used: probes stay short (about 13 slots, two cache
/// lines, for a miss at the worst), and 50 million ids still fit in 2^26 slots (512 MiB).
const LOAD_NUMERATOR: usize = 4;
const LOAD_DENOMINATOR: usize = 5;
const CAPACITY_MIN: usize = 16;

pub(crate) struct IdIndex {
    /// `hash << 32 | (position + 1)`; zero is an empty slot.
    slots: Vec<u64>,
    /// log2 of `slots.len()`.
    bits: u32,
    len: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

/// `n` empty slots, written now. Not `vec![EMPTY; n]`: zeroed memory from the allocator
/// comes in untouched pages, and the first inserts, scattered by the hash over all of them,
/// would take a page fault each: at the size of a ten-million window, the first batch after
/// start stalled for a third of a second. Writing them here puts that cost where the memory is
/// taken.
fn written_slots(n: usize) -> Vec<u64> {
    let mut slots = Vec::with_capacity(n);
    slots.resize(n, EMPTY);
    slots
}

impl Default for IdIndex {
    fn default() -> IdIndex {
        IdIndex::with_capacity(0)
    }
}

impl IdIndex {
    pub(crate) fn with_capacity(capacity: usize) -> IdIndex {
        let slots = (capacity * LOAD_DENOMINATOR / LOAD_NUMERATOR + 1)
            .next_power_of_two()
            .max(CAPACITY_MIN);
        IdIndex {
            slots: written_slots(slots),
            bits: slots.trailing_zeros(),
            len: 0,
            hasher: Default::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn hash(&self, id: u128) -> u32 {
        let h = self.hasher.hash_one(id);
        (h ^ (h >> 32)) as u32
    }

    /// The slot a hash starts probing at: the top bits of a Fibonacci multiply, so that all 32
    /// bits of the hash decide it.
    #[inline]
    fn home(&self, hash: u32) -> usize {
        (u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Asks the CPU to start loading the slot where `id` would be.
    #[inline]
    pub(crate) fn prefetch(&self, id: u128) {
        let slot = &self.slots[self.home(self.hash(id))];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetching is only a hint; it reads nothing and the pointer is valid.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (slot as *const u64).cast(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// The position of `id`; `id_at` reads the id stored at a position.
    #[inline]
    pub(crate) fn find(&self, id: u128, id_at: impl Fn(u32) -> u128) -> Option<u32> {
        let hash = self.hash(id);
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if (slot >> 32) as u32 == hash {
                let position = (slot as u32) - 1;
                if id_at(position) == id {
                    return Some(position);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` at `position`; the caller has checked that `id` is not there.
    pub(crate) fn insert(&mut self, id: u128, position: u32) {
        assert!(
            position < u32::MAX,
            "position {position} does not fit an index slot"
        );
        if (self.len + 1) * LOAD_DENOMINATOR > self.slots.len() * LOAD_NUMERATOR {
            self.grow();
        }
        let hash = self.hash(id);
        self.place(u64::from(hash) << 32 | u64::from(position + 1));
        self.len += 1;
    }

    fn place(&mut self, entry: u64) {
        let mask = self.mask();
        let mut i = self.home((entry >> 32) as u32);
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = entry;
    }

    fn grow(&mut self) {
        self.resize(self.slots.len() * 2);
    }

    /// Makes room for `capacity` ids at once, so that the index never grows (and rehashes
    /// every id, a pause of a tenth of a second at millions) while they arrive.
    pub(crate) fn reserve(&mut self, capacity: usize) {
        let slots = (capacity * LOAD_DENOMINATOR / LOAD_NUMERATOR + 1)
            .next_power_of_two()
            .max(CAPACITY_MIN);
        if slots > self.slots.len() {
            self.resize(slots);
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, written_slots(slots));
        self.bits = slots.trailing_zeros();
        for entry in old.into_iter().filter(|&e| e != EMPTY) {
            self.place(entry);
        }
    }

    /// Removes the entry for `id` at `position` (a rolled-back linked chain), shifting later
    /// entries of the cluster back so that no probe ever stops early.
    pub(crate) fn remove(&mut self, id: u128, position: u32) {
        let hash = self.hash(id);
        let entry = u64::from(hash) << 32 | u64::from(position + 1);
        let mask = self.mask();
        let mut hole = self.home(hash);
        loop {
            match self.slots[hole] {
                EMPTY => return,
                e if e == entry => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = self.slots[j];
            if e == EMPTY {
                return;
            }
            // Move `e` into the hole unless its home lies cyclically in (hole, j].
            let home = self.home((e >> 32) as u32);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = e;
                self.slots[j] = EMPTY;
                hole = j;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_what_was_inserted_and_nothing_else_across_growth_and_removal() {
        let mut index = IdIndex::default();
        let mut ids: Vec<u128> = Vec::new();
        let mut model = HashMap::new();
        for n in 0..20_000u128 {
            let id = n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1;
            let position = ids.len() as u32;
            ids.push(id);
            index.insert(id, position);
            model.insert(id, position);
            // Now and then roll back the newest entries, as a failed linked chain does.
            if n % 7 == 3 {
                for _ in 0..2 {
                    let Some(id) = ids.pop() else { break };
                    index.remove(id, ids.len() as u32);
                    model.remove(&id);
                }
            }
        }
        assert_eq!(index.len(), model.len());
        for (&id, &position) in &model {
            assert_eq!(index.find(id, |p| ids[p as usize]), Some(position));
        }
        for n in 0..1_000u128 {
            assert_eq!(index.find(n << 1, |p| ids[p as usize]), None);
        }
    }
}
