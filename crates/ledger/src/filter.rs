//! The filter of past transfer ids: which ids may have left memory for the journal.
//!
//! A transfer id that the window no longer holds may still be a retry of a transfer made years
//! ago, and idempotency must answer it exactly. Asking the disk for every new id would put a
//! read in front of every transfer; this filter keeps the common case (a new id) off the disk:
//! "no" is certain, "maybe" sends the id to the journal's index of past transfers.
//!
//! A split-block Bloom filter: each id sets one bit in each of the eight 64-bit words of one
//! 64-byte block, so a check reads one cache line. Its size is fixed when the ledger is made
//! (memory does not grow with history); the false-positive rate does. Measured with a million
//! random ids: 0.09 % at 16 bits a past id, 1.1 % at 10, 3 % at 8, 32 % at 4: size it for the
//! history you keep (the README gives the figures). The hash is fixed, not keyed: the filter is part of the
//! state that replay must rebuild bit for bit, and an id chosen to collide costs its sender a
//! disk read, nothing more.

/// Bytes in one block: a cache line.
const BLOCK_WORDS: usize = 8;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct IdFilter {
    words: Vec<u64>,
    /// Ids inserted: with none, nothing is maybe.
    inserted: u64,
}

impl IdFilter {
    /// A filter of `bytes` (rounded down to whole 64-byte blocks). Zero bytes: every id that
    /// could have left memory is a maybe.
    pub(crate) fn with_bytes(bytes: usize) -> IdFilter {
        let blocks = bytes / (BLOCK_WORDS * 8);
        IdFilter {
            // Zeroed pages are not resident until written: an unused filter costs no memory.
            words: vec![0; blocks * BLOCK_WORDS],
            inserted: 0,
        }
    }

    pub(crate) fn from_parts(words: Vec<u64>, inserted: u64) -> Option<IdFilter> {
        words
            .len()
            .is_multiple_of(BLOCK_WORDS)
            .then_some(IdFilter { words, inserted })
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn inserted(&self) -> u64 {
        self.inserted
    }

    pub(crate) fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The block and the eight bit positions of `id`.
    #[inline]
    fn probe(&self, id: u128) -> (usize, u64) {
        let blocks = (self.words.len() / BLOCK_WORDS) as u128;
        let x = (id as u64) ^ ((id >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h1 = mix(x);
        let h2 = mix(x ^ 0xD6E8_FEB8_6659_FD93);
        let block = ((u128::from(h1) * blocks) >> 64) as usize;
        (block * BLOCK_WORDS, h2)
    }

    pub(crate) fn insert(&mut self, id: u128) {
        self.inserted += 1;
        if self.words.is_empty() {
            return;
        }
        let (at, bits) = self.probe(id);
        for (i, word) in self.words[at..at + BLOCK_WORDS].iter_mut().enumerate() {
            *word |= 1 << ((bits >> (6 * i)) & 63);
        }
    }

    /// False: `id` was never inserted. True: it may have been.
    #[inline]
    pub(crate) fn may_contain(&self, id: u128) -> bool {
        if self.inserted == 0 {
            return false;
        }
        if self.words.is_empty() {
            return true;
        }
        let (at, bits) = self.probe(id);
        self.words[at..at + BLOCK_WORDS]
            .iter()
            .enumerate()
            .all(|(i, word)| word & (1 << ((bits >> (6 * i)) & 63)) != 0)
    }
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_forgets_an_id_and_rarely_invents_one() {
        // 16 bits an id: the rate should be well under 1 %.
        let mut filter = IdFilter::with_bytes(2 * 100_000);
        for n in 0..100_000u128 {
            filter.insert(n * 7 + 3);
        }
        for n in 0..100_000u128 {
            assert!(filter.may_contain(n * 7 + 3));
        }
        let false_positives = (0..100_000u128)
            .filter(|n| filter.may_contain((n + 1) << 70))
            .count();
        assert!(false_positives < 1_000, "{false_positives} of 100,000");
    }

    #[test]
    fn an_empty_filter_says_no_and_a_sizeless_one_says_maybe() {
        let mut filter = IdFilter::with_bytes(0);
        assert!(!filter.may_contain(5));
        filter.insert(1);
        assert!(filter.may_contain(5));
    }
}
