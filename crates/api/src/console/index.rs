//! The console's index of accounts by owner and by subject: kept in memory beside the owner
//! map, filled from the ledger at start and from every account the engine commits, so a
//! search reads an index, never the accounts one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

/// Ids a search answers at most.
pub const FOUND_MAX: usize = 100;

#[derive(Default)]
pub struct AccountIndex {
    by_owner: RwLock<BTreeMap<u64, BTreeSet<u128>>>,
    by_subject: RwLock<BTreeMap<String, BTreeSet<u128>>>,
}

impl AccountIndex {
    pub fn insert(&self, id: u128, owner: u64, subject: &str) {
        self.by_owner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(owner)
            .or_default()
            .insert(id);
        let mut subjects = self.by_subject.write().unwrap_or_else(|p| p.into_inner());
        match subjects.get_mut(subject) {
            Some(ids) => {
                ids.insert(id);
            }
            None => {
                subjects.insert(subject.to_string(), BTreeSet::from([id]));
            }
        }
    }

    /// An owner's accounts after `after`, in id order, at most [`FOUND_MAX`].
    pub fn of_owner(&self, owner: u64, after: u128) -> Vec<u128> {
        let map = self.by_owner.read().unwrap_or_else(|p| p.into_inner());
        map.get(&owner)
            .map(|ids| {
                ids.range(after.saturating_add(1)..)
                    .take(FOUND_MAX)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A subject's accounts after `after`, in id order, at most [`FOUND_MAX`].
    pub fn of_subject(&self, subject: &str, after: u128) -> Vec<u128> {
        let map = self.by_subject.read().unwrap_or_else(|p| p.into_inner());
        map.get(subject)
            .map(|ids| {
                ids.range(after.saturating_add(1)..)
                    .take(FOUND_MAX)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_found_by_owner_and_subject_a_page_at_a_time() {
        let index = AccountIndex::default();
        for id in 1..=250u128 {
            index.insert(
                id,
                (id % 2) as u64,
                if id % 5 == 0 { "2241.02" } else { "2241.01" },
            );
        }
        let first = index.of_owner(1, 0);
        assert_eq!(first.len(), FOUND_MAX);
        assert_eq!(first[0], 1);
        let next = index.of_owner(1, *first.last().unwrap_or(&0));
        assert_eq!(next[0], 201);
        assert_eq!(index.of_subject("2241.02", 0)[..3], [5, 10, 15]);
        assert!(index.of_subject("9999", 0).is_empty());
    }
}
