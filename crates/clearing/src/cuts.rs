//! Where each batch's cut lies in the journal, remembered so that reading batch N starts at the
//! cut of batch N − 1 rather than at the journal's beginning. A cache only: the scan must find
//! the cut where an entry says, and a wrong or missing entry falls back to reading from the
//! start, so the file can be deleted at any time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::file::write_atomically;

/// The index's file, under the data directory: `batch,journal_batch` lines.
pub const CUTS_FILE: &str = "clearing/cuts.csv";

pub(crate) struct CutIndex {
    path: PathBuf,
    /// Clearing batch → the journal batch holding its cut.
    cuts: BTreeMap<u64, u64>,
    changed: bool,
}

impl CutIndex {
    /// Reads the index; an absent or unreadable file, or a malformed line, is no entry.
    pub fn load(data_dir: &Path) -> CutIndex {
        let path = data_dir.join(CUTS_FILE);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let cuts = text
            .lines()
            .filter_map(|line| {
                let (batch, seq) = line.split_once(',')?;
                Some((batch.parse().ok()?, seq.parse().ok()?))
            })
            .filter(|&(_, seq): &(u64, u64)| seq > 0)
            .collect();
        CutIndex {
            path,
            cuts,
            changed: false,
        }
    }

    /// The journal batch to read after for clearing batch `batch`: just before the latest
    /// known cut of a batch before it (0: from the beginning).
    pub fn read_after(&self, batch: u64) -> u64 {
        self.cuts
            .range(..batch)
            .next_back()
            .map_or(0, |(_, &seq)| seq - 1)
    }

    pub fn record(&mut self, batch: u64, seq: u64) {
        if batch > 0 && seq > 0 && self.cuts.insert(batch, seq) != Some(seq) {
            self.changed = true;
        }
    }

    /// Writes the index if it learnt something.
    pub fn save(&self) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let mut text = String::new();
        for (batch, seq) in &self.cuts {
            let _ = writeln!(text, "{batch},{seq}");
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_atomically(&self.path, text.as_bytes())
    }
}
