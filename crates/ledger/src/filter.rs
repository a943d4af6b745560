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

use std::sync::Arc;

/// Bytes in one block: a cache line.
const BLOCK_WORDS: usize = 8;

/// Words in one page (64 KiB): the unit a snapshot shares and an insert copies.
const PAGE_WORDS: usize = 8_192;

/// The filter's words live in pages of 64 KiB behind `Arc`s, a page never written being
/// `None` (all zero, and costing no memory). A snapshot takes the filter by cloning the
/// `Arc`s ([`crate::Ledger::freeze`]); an insert into a page the snapshot still holds copies
/// that page first, so the ledger never stops for a copy of the whole filter.
#[derive(Clone)]
pub(crate) struct IdFilter {
    pages: Vec<Option<Arc<Vec<u64>>>>,
    /// Words in all: a whole number of blocks.
    words: usize,
    /// Ids inserted: with none, nothing is maybe.
    inserted: u64,
}

impl PartialEq for IdFilter {
    fn eq(&self, other: &IdFilter) -> bool {
        self.words == other.words
            && self.inserted == other.inserted
            && self.iter_words().eq(other.iter_words())
    }
}

impl Eq for IdFilter {}

impl IdFilter {
    /// A filter of `bytes` (rounded down to whole 64-byte blocks). Zero bytes: every id that
    /// could have left memory is a maybe.
    pub(crate) fn with_bytes(bytes: usize) -> IdFilter {
        let words = bytes / (BLOCK_WORDS * 8) * BLOCK_WORDS;
        IdFilter {
            pages: vec![None; words.div_ceil(PAGE_WORDS)],
            words,
            inserted: 0,
        }
    }

    pub(crate) fn from_parts(words: Vec<u64>, inserted: u64) -> Option<IdFilter> {
        if !words.len().is_multiple_of(BLOCK_WORDS) {
            return None;
        }
        let pages = words
            .chunks(PAGE_WORDS)
            .map(|page| {
                page.iter()
                    .any(|&w| w != 0)
                    .then(|| Arc::new(page.to_vec()))
            })
            .collect();
        Some(IdFilter {
            pages,
            words: words.len(),
            inserted,
        })
    }

    /// Every word, in order.
    pub(crate) fn iter_words(&self) -> impl Iterator<Item = u64> + '_ {
        static ZEROS: [u64; PAGE_WORDS] = [0; PAGE_WORDS];
        self.pages.iter().enumerate().flat_map(move |(p, page)| {
            let len = (self.words - p * PAGE_WORDS).min(PAGE_WORDS);
            match page {
                Some(page) => page.iter().copied(),
                None => ZEROS[..len].iter().copied(),
            }
        })
    }

    /// The pages in order, each as its words (`None`: `len` zero words, never written).
    pub(crate) fn pages(&self) -> impl Iterator<Item = (Option<&[u64]>, usize)> + '_ {
        self.pages.iter().enumerate().map(move |(p, page)| {
            let len = (self.words - p * PAGE_WORDS).min(PAGE_WORDS);
            (page.as_deref().map(Vec::as_slice), len)
        })
    }

    pub(crate) fn word_count(&self) -> usize {
        self.words
    }

    pub(crate) fn inserted(&self) -> u64 {
        self.inserted
    }

    pub(crate) fn bytes(&self) -> usize {
        self.words * 8
    }

    /// The block and the eight bit positions of `id`.
    #[inline]
    fn probe(&self, id: u128) -> (usize, u64) {
        let blocks = (self.words / BLOCK_WORDS) as u128;
        let x = (id as u64) ^ ((id >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h1 = mix(x);
        let h2 = mix(x ^ 0xD6E8_FEB8_6659_FD93);
        let block = ((u128::from(h1) * blocks) >> 64) as usize;
        (block * BLOCK_WORDS, h2)
    }

    pub(crate) fn insert(&mut self, id: u128) {
        self.inserted += 1;
        if self.words == 0 {
            return;
        }
        let (at, bits) = self.probe(id);
        let (p, offset) = (at / PAGE_WORDS, at % PAGE_WORDS);
        let len = (self.words - p * PAGE_WORDS).min(PAGE_WORDS);
        let page = self.pages[p].get_or_insert_with(|| Arc::new(vec![0; len]));
        let words = Arc::make_mut(page);
        for (i, word) in words[offset..offset + BLOCK_WORDS].iter_mut().enumerate() {
            *word |= 1 << ((bits >> (6 * i)) & 63);
        }
    }

    /// False: `id` was never inserted. True: it may have been.
    #[inline]
    pub(crate) fn may_contain(&self, id: u128) -> bool {
        if self.inserted == 0 {
            return false;
        }
        if self.words == 0 {
            return true;
        }
        let (at, bits) = self.probe(id);
        let Some(page) = &self.pages[at / PAGE_WORDS] else {
            return false;
        };
        let offset = at % PAGE_WORDS;
        page[offset..offset + BLOCK_WORDS]
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

    /// A clone keeps the bits it had while the original takes more; both read the same words
    /// back through `from_parts`.
    #[test]
    fn a_clone_is_a_snapshot_of_the_filter() {
        let mut filter = IdFilter::with_bytes(3 * PAGE_WORDS * 8 + 64);
        for n in 0..2_000u128 {
            filter.insert(n);
        }
        let before = filter.clone();
        for n in 2_000..4_000u128 {
            filter.insert(n);
        }
        assert!((0..2_000u128).all(|n| before.may_contain(n)));
        assert!((0..4_000u128).all(|n| filter.may_contain(n)));
        assert!(before != filter);
        let words: Vec<u64> = filter.iter_words().collect();
        assert_eq!(words.len(), filter.word_count());
        let back =
            IdFilter::from_parts(words, filter.inserted()).unwrap_or_else(|| panic!("parts"));
        assert!(back == filter);
    }

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
