//! The journal's head, anchored outside the journal.
//!
//! A hash chain proves that no batch was altered, but not that none is missing at the end: a
//! journal with its last batches cut off (an old backup restored, a file copied mid-write) is
//! still a valid chain. So the head (the last batch's sequence number and hash) is also kept
//! where cutting the journal does not reach: on SQLite in a small file beside it
//! ([`HEAD_FILE`]), on PostgreSQL in the lease row; and a user can keep one taken from any
//! day-end report. Start-up and `verify` compare the journal with its anchor: a journal that
//! ends before the anchor's batch, or whose batch there has another hash, is refused.
//!
//! The anchor follows the journal, never leads it: it is written from what is already durable
//! (the committed batches a second connection sees), off the commit path, so it may trail the
//! journal's head by a moment but never names a batch that could be lost.

use std::io::Write;
use std::path::{Path, PathBuf};

use suanpan_ledger::{hash_from_hex, hex};

use crate::JournalError;

/// The head file, beside the journal's SQLite file.
pub const HEAD_FILE: &str = "journal.head";

/// A batch of the journal: its sequence number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl Head {
    /// The text form: `<seq>:<64 hex digits>`, as the head file, day-end reports and
    /// `verify --anchor` write and read it.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.seq, hex(&self.hash))
    }

    pub fn parse(text: &str) -> Result<Head, String> {
        let text = text.trim();
        let (seq, hash) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} is not SEQ:HASH"))?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| format!("{seq:?} is not a batch sequence number"))?;
        let hash =
            hash_from_hex(hash).ok_or_else(|| format!("{hash:?} is not a 64-digit hex hash"))?;
        Ok(Head { seq, hash })
    }
}

/// An anchor and where it was read from (for the error that names it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub head: Head,
    pub source: String,
}

/// Compares a journal whose last batch is `journal_seq` with `anchor`. `hash_at` gives the
/// hash of one of the journal's batches.
pub fn check(
    anchor: &Anchor,
    journal_seq: u64,
    hash_at: impl FnOnce(u64) -> Result<[u8; 32], JournalError>,
) -> Result<(), JournalError> {
    let head = anchor.head;
    if head.seq == 0 {
        return Ok(());
    }
    if journal_seq < head.seq {
        return Err(JournalError::BehindAnchor(format!(
            "the journal ends at batch {journal_seq}, but {} records batch {} as committed: {} batches are missing from its end (an old backup restored, or a copy taken mid-write?)",
            anchor.source,
            head.seq,
            head.seq - journal_seq
        )));
    }
    let hash = hash_at(head.seq)?;
    if hash != head.hash {
        return Err(JournalError::BehindAnchor(format!(
            "batch {} of the journal has hash {}, but {} records {}: this journal is another history",
            head.seq,
            hex(&hash),
            anchor.source,
            hex(&head.hash)
        )));
    }
    Ok(())
}

pub fn head_file(dir: &Path) -> PathBuf {
    dir.join(HEAD_FILE)
}

/// The head file's anchor, if the file exists.
pub fn read_head_file(dir: &Path) -> Result<Option<Anchor>, JournalError> {
    let path = head_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(JournalError::Io(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let head = Head::parse(&text)
        .map_err(|e| JournalError::Corrupt(format!("{} is damaged: {e}", path.display())))?;
    Ok(Some(Anchor {
        head,
        source: format!("the head file {}", path.display()),
    }))
}

/// Replaces the head file atomically and durably: a new file, synced, renamed over the old,
/// and the directory synced, so a crash leaves the old head or the new, never a torn one.
pub fn write_head_file(dir: &Path, head: &Head) -> Result<(), JournalError> {
    let path = head_file(dir);
    let tmp = dir.join(format!("{HEAD_FILE}.tmp"));
    let io = |what: &str, e: std::io::Error| JournalError::Io(format!("cannot {what}: {e}"));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(format!("{}\n", head.to_text()).as_bytes())?;
        file.sync_all()
    });
    if let Err(e) = written {
        // A full disk: leave no empty file behind; the old head stays, behind but true.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&format!("write {}", tmp.display()), e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| io(&format!("replace {}", path.display()), e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(&format!("sync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(seq: u64, byte: u8) -> Anchor {
        Anchor {
            head: Head {
                seq,
                hash: [byte; 32],
            },
            source: "the test anchor".into(),
        }
    }

    #[test]
    fn the_text_form_round_trips_and_bad_text_is_refused() {
        let head = Head {
            seq: 42,
            hash: [0xab; 32],
        };
        assert_eq!(Head::parse(&head.to_text()), Ok(head));
        assert_eq!(Head::parse(&format!(" {}\n", head.to_text())), Ok(head));
        for bad in [
            "",
            "42",
            "x:00",
            "42:abc",
            &format!("42:{}", "g".repeat(64)),
        ] {
            assert!(Head::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_journal_at_or_past_its_anchor_passes_and_one_behind_or_astray_is_refused() {
        let hashes = |seq: u64| Ok([seq as u8; 32]);
        assert!(check(&anchor(5, 5), 5, hashes).is_ok());
        assert!(check(&anchor(5, 5), 9, hashes).is_ok());
        assert!(check(&anchor(0, 0), 0, hashes).is_ok());
        let behind = check(&anchor(7, 7), 5, hashes).unwrap_err().to_string();
        assert!(behind.contains("ends at batch 5"), "{behind}");
        assert!(behind.contains("batch 7"), "{behind}");
        assert!(behind.contains("the test anchor"), "{behind}");
        let astray = check(&anchor(5, 6), 9, hashes).unwrap_err().to_string();
        assert!(astray.contains("another history"), "{astray}");
    }

    #[test]
    fn the_head_file_is_replaced_whole_and_a_damaged_one_is_named() {
        let dir = std::env::temp_dir().join(format!("suanpan-anchor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_head_file(&dir).unwrap(), None);
        let head = Head {
            seq: 3,
            hash: [1; 32],
        };
        write_head_file(&dir, &head).unwrap();
        write_head_file(&dir, &Head { seq: 4, ..head }).unwrap();
        assert_eq!(read_head_file(&dir).unwrap().unwrap().head.seq, 4);
        std::fs::write(head_file(&dir), "4:zz").unwrap();
        let damaged = read_head_file(&dir).unwrap_err().to_string();
        assert!(damaged.contains("journal.head is damaged"), "{damaged}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
