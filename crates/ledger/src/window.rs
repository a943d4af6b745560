//! The window's transfer records: a queue (oldest out at the front, newest in at the back) kept
//! in blocks of 65,536 records. Full blocks sit behind `Arc`s and never change again; the
//! newest records are in a tail block the window owns outright.
//!
//! So a snapshot can hold the whole window by cloning the `Arc`s and copying the tail (at most
//! 3 MiB: [`Window::share`]) and encode it on another thread while the ledger goes on:
//! appending writes only the tail, and leaving the window only drops the front block once all
//! its records left. The ledger never waits for a snapshot to be written, and the hot path
//! (an append) touches no reference count. Blocks of exact size also keep the window's memory
//! at its records (a growing `VecDeque` reserves up to twice).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::transfer::TransferRecord;

const BLOCK_SHIFT: u32 = 16;
const BLOCK: usize = 1 << BLOCK_SHIFT;

#[derive(Clone, Default)]
pub(crate) struct Window {
    /// Blocks of exactly `BLOCK` records, oldest first.
    full: VecDeque<Arc<Vec<TransferRecord>>>,
    /// The newest records: fewer than `BLOCK`.
    tail: Vec<TransferRecord>,
    /// Records of the front block (the first full one, else the tail) that already left.
    head: usize,
    len: usize,
}

impl Window {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn push_back(&mut self, record: TransferRecord) {
        if self.tail.capacity() == 0 {
            self.tail.reserve_exact(BLOCK);
        }
        self.tail.push(record);
        self.len += 1;
        if self.tail.len() == BLOCK {
            let block = std::mem::take(&mut self.tail);
            self.full.push_back(Arc::new(block));
        }
    }

    pub(crate) fn pop_back(&mut self) -> Option<TransferRecord> {
        if self.len == 0 {
            return None;
        }
        if self.tail.is_empty() {
            // A rolled-back chain reaching into the last full block: take it back (copied
            // only if a snapshot still holds it).
            let block = self.full.pop_back()?;
            self.tail = Arc::try_unwrap(block).unwrap_or_else(|shared| (*shared).clone());
        }
        let record = self.tail.pop();
        self.len -= 1;
        if self.len == 0 {
            self.clear();
        }
        record
    }

    #[inline]
    pub(crate) fn front(&self) -> Option<&TransferRecord> {
        (self.len > 0).then(|| self.get(0))
    }

    pub(crate) fn pop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        self.head += 1;
        self.len -= 1;
        if self.len == 0 {
            self.clear();
        } else if self.head == BLOCK && !self.full.is_empty() {
            self.full.pop_front();
            self.head = 0;
        }
    }

    fn clear(&mut self) {
        self.full.clear();
        self.tail.clear();
        self.head = 0;
    }

    /// Record `i`, counted from the oldest. Panics beyond `len`, as indexing does.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> &TransferRecord {
        let at = self.head + i;
        let block = at >> BLOCK_SHIFT;
        if block < self.full.len() {
            &self.full[block][at & (BLOCK - 1)]
        } else {
            &self.tail[at - (self.full.len() << BLOCK_SHIFT)]
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &TransferRecord> + '_ {
        self.full
            .iter()
            .flat_map(|b| b.iter())
            .chain(self.tail.iter())
            .skip(self.head)
            .take(self.len)
    }

    /// The window as it stands, sharing its full blocks: for a snapshot encoded elsewhere.
    pub(crate) fn share(&self) -> Window {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> TransferRecord {
        TransferRecord {
            id_lo: n,
            id_hi: 0,
            amount: n,
            debit_index: 0,
            credit_index: 1,
            code: 0,
            flags: 0,
            reference_fingerprint: 0,
            timestamp: n,
        }
    }

    /// The window behaves as a `VecDeque` through pushes, pops at both ends and shares, across
    /// block boundaries; a share keeps what it saw while the window changes.
    #[test]
    fn the_window_is_a_queue_and_a_share_keeps_its_records() {
        let mut window = Window::default();
        let mut model: VecDeque<TransferRecord> = VecDeque::new();
        let mut shares: Vec<(Window, Vec<TransferRecord>)> = Vec::new();
        let mut n = 0u64;
        // Pseudo-random steps, fixed: pushes outnumber pops so blocks fill and spill.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..400_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 16 {
                0..=9 => {
                    n += 1;
                    window.push_back(record(n));
                    model.push_back(record(n));
                }
                10..=13 => {
                    window.pop_front();
                    model.pop_front();
                }
                _ => assert_eq!(window.pop_back(), model.pop_back()),
            }
            if step % 50_000 == 0 {
                shares.push((window.share(), model.iter().copied().collect()));
            }
            assert_eq!(window.len(), model.len());
            assert_eq!(window.front(), model.front());
        }
        assert!(window.len() > BLOCK, "the test must span blocks");
        assert!(window.iter().eq(model.iter()));
        for i in (0..model.len()).step_by(997) {
            assert_eq!(window.get(i), &model[i]);
        }
        for (share, seen) in &shares {
            assert!(share.iter().eq(seen.iter()));
        }
        while window.len() > 0 {
            window.pop_front();
        }
        assert_eq!((window.full.len(), window.tail.len()), (0, 0));
        window.push_back(record(1));
        assert_eq!(window.front(), Some(&record(1)));
    }
}
