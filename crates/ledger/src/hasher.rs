//! Hashing of client-chosen ids for the in-memory indexes.
//!
//! Ids come from outside, so the hash is keyed per process (foldhash's random state): a client
//! cannot pick ids that collide. Nothing in the state depends on hash order, so replay stays
//! deterministic.

use std::hash::BuildHasher;

#[derive(Clone, Default)]
pub(crate) struct IdHasher(hashbrown::DefaultHashBuilder);

impl IdHasher {
    #[inline]
    pub(crate) fn hash(&self, id: u128) -> u64 {
        self.0.hash_one(id)
    }
}
