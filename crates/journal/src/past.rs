//! The index of past transfers: for every transfer that has left the ledger's memory, where
//! the journal holds it, so that a retry of it years later, or a post of a pending transfer
//! long gone from memory, is answered exactly.
//!
//! It maps a transfer id to the engine timestamp of its command (the journal's batches are
//! ordered by timestamp, so a timestamp names one command of one batch), and a pending
//! transfer's id to the timestamp of the post or void that resolved it. It is derived from the
//! journal (the ledger's window decides, deterministically, when a transfer leaves), so it
//! lives beside it in `past/` as files of its own and never slows a commit.
//!
//! The shape is a small log-structured merge tree. Entries gather in memory (`active`); every
//! `chunk` of them is frozen and a background thread writes it as a sorted run file, then
//! merges runs four at a time into the next level, so a lookup reads one block from each of a
//! handful of runs. A run file holds its entries sorted by (id, timestamp), 24 bytes each,
//! and after them the first id of every block (the fences, read into memory on open: 16 bytes
//! per 170 entries). `MANIFEST` names the runs and `through`, the newest timestamp they cover;
//! it is replaced whole (written aside, synced, renamed), so a crash leaves the old one or the
//! new one. After a crash, replay makes the same entries again and those up to `through` are
//! skipped.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use hashbrown::HashMap;
use suanpan_ledger::PastEntry;

use crate::JournalError;

pub const PAST_DIR: &str = "past";
const MANIFEST: &str = "MANIFEST";
const MAGIC: &[u8; 8] = b"SPPAST01";
const HEADER_BYTES: u64 = 8 + 4 + 4 + 8;
const ENTRY_BYTES: usize = 24;
/// Entries per block: a lookup reads one block (4,080 bytes) per run.
const BLOCK_ENTRIES: usize = 170;
/// Runs of one level merged into one of the next.
const MERGE_FANOUT: usize = 4;
/// The top bit of a stored timestamp marks a resolution (engine timestamps are below 2^63).
const RESOLUTION_BIT: u64 = 1 << 63;

/// What the index knows of one id: timestamps of its transfer and of the post or void that
/// resolved it (a pending transfer), each zero if none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PastSlot {
    pub transfer: u64,
    pub resolution: u64,
}

impl PastSlot {
    fn add(&mut self, stored: u64) {
        if stored & RESOLUTION_BIT != 0 {
            self.resolution = stored & !RESOLUTION_BIT;
        } else {
            self.transfer = stored;
        }
    }

    /// As the index stood just before engine time `before`.
    pub fn before(self, before: u64) -> PastSlot {
        PastSlot {
            transfer: if self.transfer < before {
                self.transfer
            } else {
                0
            },
            resolution: if self.resolution < before {
                self.resolution
            } else {
                0
            },
        }
    }
}

/// One sorted run on disk.
struct Run {
    number: u64,
    level: u32,
    count: u64,
    file: File,
    /// The first id of every block.
    fences: Vec<u128>,
}

impl Run {
    fn path(dir: &Path, number: u64) -> PathBuf {
        dir.join(format!("run-{number:010}.past"))
    }

    fn open(dir: &Path, number: u64, level: u32) -> Result<Run, JournalError> {
        let path = Run::path(dir, number);
        let file = File::open(&path).map_err(|e| io_error(&path, e))?;
        let mut header = [0u8; HEADER_BYTES as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| io_error(&path, e))?;
        if &header[..8] != MAGIC {
            return Err(corrupt(&path, "not a run of past transfers"));
        }
        let count = u64::from_le_bytes(header[16..24].try_into().unwrap_or([0; 8]));
        let blocks = count.div_ceil(BLOCK_ENTRIES as u64);
        let fences_at = HEADER_BYTES + count * ENTRY_BYTES as u64;
        let length = file.metadata().map_err(|e| io_error(&path, e))?.len();
        if length != fences_at + blocks * 16 {
            return Err(corrupt(&path, "its length does not match its count"));
        }
        let mut bytes = vec![0u8; blocks as usize * 16];
        file.read_exact_at(&mut bytes, fences_at)
            .map_err(|e| io_error(&path, e))?;
        let fences = bytes
            .chunks_exact(16)
            .map(|c| u128::from_le_bytes(c.try_into().unwrap_or([0; 16])))
            .collect();
        Ok(Run {
            number,
            level,
            count,
            file,
            fences,
        })
    }

    /// Adds what this run holds for `id` to `slot`.
    fn find(&self, id: u128, slot: &mut PastSlot) -> Result<(), JournalError> {
        // The block before the first fence above or at `id` may end with it; entries of one
        // id may also run on into the next blocks.
        let mut block = self.fences.partition_point(|&f| f < id).saturating_sub(1);
        let mut buf = [0u8; BLOCK_ENTRIES * ENTRY_BYTES];
        while block < self.fences.len() && self.fences[block] <= id {
            let first = (block * BLOCK_ENTRIES) as u64;
            let n = (self.count - first).min(BLOCK_ENTRIES as u64) as usize;
            let bytes = &mut buf[..n * ENTRY_BYTES];
            self.file
                .read_exact_at(bytes, HEADER_BYTES + first * ENTRY_BYTES as u64)
                .map_err(|e| {
                    JournalError::Io(format!("cannot read a run of past transfers: {e}"))
                })?;
            let entries = bytes.chunks_exact(ENTRY_BYTES).map(decode_entry);
            let mut past = false;
            for (key, stored) in entries {
                match key.cmp(&id) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => slot.add(stored),
                    std::cmp::Ordering::Greater => {
                        past = true;
                        break;
                    }
                }
            }
            if past {
                break;
            }
            block += 1;
        }
        Ok(())
    }
}

fn decode_entry(bytes: &[u8]) -> (u128, u64) {
    let mut id = [0u8; 16];
    let mut ts = [0u8; 8];
    id.copy_from_slice(&bytes[..16]);
    ts.copy_from_slice(&bytes[16..24]);
    (u128::from_le_bytes(id), u64::from_le_bytes(ts))
}

/// A chunk of entries handed to the background thread and not yet in a run.
struct Frozen {
    entries: HashMap<u128, PastSlot>,
    through: u64,
}

#[derive(Default)]
struct Tables {
    runs: Vec<Arc<Run>>,
    frozen: Vec<Arc<Frozen>>,
    /// Newest timestamp the runs cover.
    through: u64,
    next_number: u64,
    journal_id: Option<[u8; 32]>,
    /// Set when the background thread failed: the index can no longer be trusted to be whole.
    failed: Option<String>,
}

enum Job {
    Flush(Arc<Frozen>),
    Sync(SyncSender<()>),
}

/// The index, as the engine's writer thread holds it.
pub struct PastIndex {
    dir: PathBuf,
    tables: Arc<RwLock<Tables>>,
    active: HashMap<u128, PastSlot>,
    active_through: u64,
    /// Entries at or before this are in the runs already (replay after a crash makes them
    /// again).
    durable_through: u64,
    chunk: usize,
    jobs: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl PastIndex {
    /// Opens the index in `data_dir/past` for the journal whose first batch has the hash
    /// `journal_id` (`None`: the journal is empty). An index of another journal, or one
    /// without a manifest, is discarded: it would answer for transfers this journal never
    /// made. `chunk`: entries gathered in memory before they are written as a run.
    pub fn open(
        data_dir: &Path,
        journal_id: Option<[u8; 32]>,
        chunk: usize,
    ) -> Result<PastIndex, JournalError> {
        let dir = data_dir.join(PAST_DIR);
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let manifest = read_manifest(&dir)?;
        let mut tables = Tables {
            journal_id,
            next_number: 1,
            ..Tables::default()
        };
        match manifest {
            Some(m) if journal_id.is_some() && m.journal_id == journal_id => {
                for (number, level) in &m.runs {
                    tables
                        .runs
                        .push(Arc::new(Run::open(&dir, *number, *level)?));
                }
                tables.through = m.through;
                tables.next_number = m.next_number;
                remove_strays(&dir, &m.runs)?;
            }
            _ => remove_strays(&dir, &[])?,
        }
        let durable_through = tables.through;
        let tables = Arc::new(RwLock::new(tables));
        let (jobs, receiver) = sync_channel(2);
        let worker = {
            let (dir, tables) = (dir.clone(), tables.clone());
            std::thread::Builder::new()
                .name("suanpan-past".into())
                .spawn(move || run_worker(&dir, &tables, &receiver))
                .map_err(|e| JournalError::Io(format!("cannot start the past index thread: {e}")))?
        };
        Ok(PastIndex {
            dir,
            tables,
            active: HashMap::new(),
            active_through: 0,
            durable_through,
            chunk: chunk.max(1),
            jobs: Some(jobs),
            worker: Some(worker),
        })
    }

    /// Names the journal once its first batch is committed (an index opened on an empty one).
    pub fn bind(&mut self, journal_id: [u8; 32]) {
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        tables.journal_id.get_or_insert(journal_id);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the entries of transfers that left memory, in the order they left.
    pub fn add(&mut self, entries: &[PastEntry]) -> Result<(), JournalError> {
        for e in entries {
            if e.timestamp <= self.durable_through {
                continue;
            }
            let slot = self.active.entry(e.id).or_default();
            if e.resolution {
                slot.resolution = e.timestamp;
            } else {
                slot.transfer = e.timestamp;
            }
            self.active_through = self.active_through.max(e.timestamp);
        }
        // Whole calls only: a transfer's entries (a post's own and its pending transfer's
        // resolution) share a timestamp and must land in the same run.
        if self.active.len() >= self.chunk {
            self.freeze()?;
        }
        Ok(())
    }

    fn freeze(&mut self) -> Result<(), JournalError> {
        self.check()?;
        if self.active.is_empty() {
            return Ok(());
        }
        let frozen = Arc::new(Frozen {
            entries: std::mem::replace(&mut self.active, HashMap::with_capacity(self.chunk)),
            through: self.active_through,
        });
        self.tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .frozen
            .push(frozen.clone());
        self.send(Job::Flush(frozen))
    }

    fn send(&self, job: Job) -> Result<(), JournalError> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(self.failure()),
        }
    }

    fn failure(&self) -> JournalError {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        JournalError::Io(format!(
            "the index of past transfers failed: {}",
            tables.failed.as_deref().unwrap_or("its thread stopped")
        ))
    }

    fn check(&self) -> Result<(), JournalError> {
        let failed = self
            .tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .failed
            .is_some();
        if failed {
            return Err(self.failure());
        }
        Ok(())
    }

    /// Writes everything taken so far and waits until it is durable: before a snapshot, whose
    /// ledger no longer holds what left memory before it.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.freeze()?;
        let (done, wait) = sync_channel(1);
        self.send(Job::Sync(done))?;
        if wait.recv().is_err() {
            return Err(self.failure());
        }
        self.check()
    }

    /// What the index holds for `id` (everything taken, durable or not).
    pub fn find(&self, id: u128) -> Result<PastSlot, JournalError> {
        let mut slot = self.active.get(&id).copied().unwrap_or_default();
        let runs: Vec<Arc<Run>> = {
            let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
            if let Some(why) = &tables.failed {
                return Err(JournalError::Io(format!(
                    "the index of past transfers failed: {why}"
                )));
            }
            for frozen in &tables.frozen {
                if let Some(s) = frozen.entries.get(&id) {
                    merge_slot(&mut slot, *s);
                }
            }
            tables.runs.clone()
        };
        let mut found = PastSlot::default();
        for run in &runs {
            run.find(id, &mut found)?;
        }
        merge_slot(&mut slot, found);
        Ok(slot)
    }

    /// Entries taken (in memory and on disk), runs on disk and their bytes: for `/metrics`.
    pub fn size(&self) -> PastIndexSize {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        let on_disk: u64 = tables.runs.iter().map(|r| r.count).sum();
        let frozen: usize = tables.frozen.iter().map(|f| f.entries.len()).sum();
        PastIndexSize {
            entries_in_memory: (self.active.len() + frozen) as u64,
            entries_on_disk: on_disk,
            runs: tables.runs.len() as u64,
            bytes_on_disk: tables
                .runs
                .iter()
                .map(|r| HEADER_BYTES + r.count * ENTRY_BYTES as u64 + r.fences.len() as u64 * 16)
                .sum(),
        }
    }
}

impl Drop for PastIndex {
    fn drop(&mut self) {
        // What is still in memory is made again by replay; stop the thread after its jobs.
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn merge_slot(into: &mut PastSlot, from: PastSlot) {
    if from.transfer != 0 {
        into.transfer = from.transfer;
    }
    if from.resolution != 0 {
        into.resolution = from.resolution;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PastIndexSize {
    pub entries_in_memory: u64,
    pub entries_on_disk: u64,
    pub runs: u64,
    pub bytes_on_disk: u64,
}

fn run_worker(dir: &Path, tables: &RwLock<Tables>, jobs: &Receiver<Job>) {
    for job in jobs {
        let result = match job {
            Job::Flush(frozen) => flush(dir, tables, &frozen).and_then(|()| merge(dir, tables)),
            Job::Sync(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(e) = result {
            tables.write().unwrap_or_else(|p| p.into_inner()).failed = Some(e.to_string());
            return;
        }
    }
}

fn next_number(tables: &RwLock<Tables>) -> u64 {
    let mut t = tables.write().unwrap_or_else(|p| p.into_inner());
    let n = t.next_number;
    t.next_number += 1;
    n
}

/// Writes a frozen chunk as a level-0 run and makes it part of the index.
fn flush(dir: &Path, tables: &RwLock<Tables>, frozen: &Arc<Frozen>) -> Result<(), JournalError> {
    let mut entries: Vec<(u128, u64)> = Vec::with_capacity(frozen.entries.len() + 16);
    for (&id, slot) in &frozen.entries {
        if slot.transfer != 0 {
            entries.push((id, slot.transfer));
        }
        if slot.resolution != 0 {
            entries.push((id, slot.resolution | RESOLUTION_BIT));
        }
    }
    entries.sort_unstable();
    let number = next_number(tables);
    let count = entries.len() as u64;
    let mut entries = entries.into_iter();
    write_run(dir, number, 0, count, move || Ok(entries.next()))?;
    let run = Arc::new(Run::open(dir, number, 0)?);
    let mut t = tables.write().unwrap_or_else(|p| p.into_inner());
    let mut runs = t.runs.clone();
    runs.push(run);
    let through = t.through.max(frozen.through);
    write_manifest(dir, &runs, through, t.next_number, t.journal_id)?;
    t.runs = runs;
    t.through = through;
    t.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
    Ok(())
}

/// Merges runs while some level holds [`MERGE_FANOUT`] of them.
fn merge(dir: &Path, tables: &RwLock<Tables>) -> Result<(), JournalError> {
    loop {
        let chosen: Vec<Arc<Run>> = {
            let t = tables.read().unwrap_or_else(|p| p.into_inner());
            let mut levels: Vec<u32> = t.runs.iter().map(|r| r.level).collect();
            levels.sort_unstable();
            levels.dedup();
            let Some(level) = levels
                .into_iter()
                .find(|&l| t.runs.iter().filter(|r| r.level == l).count() >= MERGE_FANOUT)
            else {
                return Ok(());
            };
            t.runs
                .iter()
                .filter(|r| r.level == level)
                .take(MERGE_FANOUT)
                .cloned()
                .collect()
        };
        let level = chosen[0].level + 1;
        let count: u64 = chosen.iter().map(|r| r.count).sum();
        let mut sources = Vec::with_capacity(chosen.len());
        for run in &chosen {
            sources.push(RunReader::new(dir, run)?);
        }
        let number = next_number(tables);
        write_run(dir, number, level, count, merged(sources)?)?;
        let merged = Arc::new(Run::open(dir, number, level)?);
        let mut t = tables.write().unwrap_or_else(|p| p.into_inner());
        let mut runs: Vec<Arc<Run>> = t
            .runs
            .iter()
            .filter(|r| !chosen.iter().any(|c| c.number == r.number))
            .cloned()
            .collect();
        runs.push(merged);
        write_manifest(dir, &runs, t.through, t.next_number, t.journal_id)?;
        t.runs = runs;
        drop(t);
        for run in &chosen {
            // A lookup still reading it holds the file open; the name can go now.
            let path = Run::path(dir, run.number);
            fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
    }
}

/// Streams a run's entries in order.
struct RunReader {
    reader: BufReader<File>,
    left: u64,
    path: PathBuf,
}

impl RunReader {
    fn new(dir: &Path, run: &Run) -> Result<RunReader, JournalError> {
        let path = Run::path(dir, run.number);
        let mut file = File::open(&path).map_err(|e| io_error(&path, e))?;
        let mut header = [0u8; HEADER_BYTES as usize];
        file.read_exact(&mut header)
            .map_err(|e| io_error(&path, e))?;
        Ok(RunReader {
            reader: BufReader::with_capacity(1 << 20, file),
            left: run.count,
            path,
        })
    }

    fn next(&mut self) -> Entry {
        if self.left == 0 {
            return Ok(None);
        }
        let mut buf = [0u8; ENTRY_BYTES];
        self.reader
            .read_exact(&mut buf)
            .map_err(|e| io_error(&self.path, e))?;
        self.left -= 1;
        Ok(Some(decode_entry(&buf)))
    }
}

/// Entries one at a time, in order, each read possibly failing.
type Entry = Result<Option<(u128, u64)>, JournalError>;

/// The entries of a few runs in one order: the smallest head each time (a linear pick is
/// enough for [`MERGE_FANOUT`] sources).
fn merged(mut sources: Vec<RunReader>) -> Result<impl FnMut() -> Entry, JournalError> {
    let mut heads = Vec::with_capacity(sources.len());
    for source in &mut sources {
        heads.push(source.next()?);
    }
    Ok(move || {
        let Some((i, head)) = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|h| (i, h)))
            .min_by_key(|&(_, h)| h)
        else {
            return Ok(None);
        };
        heads[i] = sources[i].next()?;
        Ok(Some(head))
    })
}

/// Writes a run of `count` sorted entries, synced, under its final name.
fn write_run(
    dir: &Path,
    number: u64,
    level: u32,
    count: u64,
    mut next: impl FnMut() -> Entry,
) -> Result<(), JournalError> {
    let path = Run::path(dir, number);
    let file = File::create(&path).map_err(|e| io_error(&path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut header = Vec::with_capacity(HEADER_BYTES as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&level.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&count.to_le_bytes());
    let mut fences = Vec::with_capacity(count.div_ceil(BLOCK_ENTRIES as u64) as usize);
    let mut written = 0u64;
    let write = |out: &mut BufWriter<File>, bytes: &[u8]| {
        out.write_all(bytes).map_err(|e| io_error(&path, e))
    };
    write(&mut out, &header)?;
    while let Some((id, stored)) = next()? {
        if written.is_multiple_of(BLOCK_ENTRIES as u64) {
            fences.push(id);
        }
        write(&mut out, &id.to_le_bytes())?;
        write(&mut out, &stored.to_le_bytes())?;
        written += 1;
    }
    if written != count {
        return Err(JournalError::Io(format!(
            "a run of past transfers got {written} entries, expected {count}"
        )));
    }
    for fence in fences {
        write(&mut out, &fence.to_le_bytes())?;
    }
    let file = out
        .into_inner()
        .map_err(|e| JournalError::Io(format!("cannot write {}: {e}", path.display())))?;
    file.sync_all().map_err(|e| io_error(&path, e))
}

struct Manifest {
    runs: Vec<(u64, u32)>,
    through: u64,
    next_number: u64,
    journal_id: Option<[u8; 32]>,
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>, JournalError> {
    let path = dir.join(MANIFEST);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path, e)),
    };
    let mut manifest = Manifest {
        runs: Vec::new(),
        through: 0,
        next_number: 1,
        journal_id: None,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || corrupt(&path, &format!("cannot read the line {line:?}"));
        match words.as_slice() {
            ["run", number, level] => manifest.runs.push((
                number.parse().map_err(|_| bad())?,
                level.parse().map_err(|_| bad())?,
            )),
            ["through", ts] => manifest.through = ts.parse().map_err(|_| bad())?,
            ["next", n] => manifest.next_number = n.parse().map_err(|_| bad())?,
            ["journal", hex] => {
                manifest.journal_id = Some(suanpan_ledger::hash_from_hex(hex).ok_or_else(bad)?)
            }
            [] => {}
            _ => return Err(bad()),
        }
    }
    Ok(Some(manifest))
}

fn write_manifest(
    dir: &Path,
    runs: &[Arc<Run>],
    through: u64,
    next_number: u64,
    journal_id: Option<[u8; 32]>,
) -> Result<(), JournalError> {
    let mut text = String::new();
    if let Some(id) = journal_id {
        text.push_str(&format!("journal {}\n", suanpan_ledger::hex(&id)));
    }
    text.push_str(&format!("through {through}\nnext {next_number}\n"));
    for run in runs {
        text.push_str(&format!("run {} {}\n", run.number, run.level));
    }
    let tmp = dir.join("MANIFEST.tmp");
    let path = dir.join(MANIFEST);
    {
        let mut file = File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| io_error(&tmp, e))?;
        file.sync_all().map_err(|e| io_error(&tmp, e))?;
    }
    fs::rename(&tmp, &path).map_err(|e| io_error(&path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// Removes run files the manifest does not name (a crash mid-write or mid-merge).
fn remove_strays(dir: &Path, keep: &[(u64, u32)]) -> Result<(), JournalError> {
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let number = name
            .strip_prefix("run-")
            .and_then(|n| n.strip_suffix(".past"))
            .and_then(|n| n.parse::<u64>().ok());
        let stray = match number {
            Some(n) => !keep.iter().any(|&(k, _)| k == n),
            None => name == "MANIFEST.tmp" || (keep.is_empty() && name == MANIFEST),
        };
        if stray {
            fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
        }
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> JournalError {
    JournalError::Io(format!("{}: {e}", path.display()))
}

fn corrupt(path: &Path, what: &str) -> JournalError {
    JournalError::Corrupt(format!("{}: {what}", path.display()))
}
