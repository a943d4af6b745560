//! Crash test: a `suanpan load` process under concurrent load is killed with SIGKILL at random
//! moments, again and again. After each kill, every transfer it acknowledged must be in the
//! books exactly once, nothing it rejected may be, and `suanpan verify` must pass.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROUNDS: u64 = 20;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn suanpan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_suanpan"))
}

/// Runs `suanpan load` until a random moment after it is ready, kills it with SIGKILL and
/// returns the acknowledgements it printed: transfer id to result.
fn run_and_kill(dir: &Path, run: u64, kill_after: Duration) -> HashMap<String, String> {
    let mut child = suanpan()
        .args([
            "load",
            "--accounts",
            // More than the 256 changed accounts written at once: the accounts table lags the
            // journal, and recovery must bring it current.
            "300",
            "--submitters",
            "4",
            "--request-size",
            "16",
            "--snapshot-every",
            "2000",
        ])
        .arg("--data")
        .arg(dir)
        .args(["--run", &run.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start suanpan load: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let ready = lines
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("load never became ready: {e}"));
    assert_eq!(ready, "ready");
    std::thread::sleep(kill_after);
    child.kill().unwrap_or_else(|e| panic!("cannot kill: {e}"));
    let _ = child.wait();
    let _ = reader.join();
    let mut acks = HashMap::new();
    for line in lines.try_iter() {
        let mut parts = line.split(' ');
        if let (Some("ack"), Some(id), Some(result)) = (parts.next(), parts.next(), parts.next()) {
            acks.insert(id.to_owned(), result.to_owned());
        }
    }
    acks
}

fn verify(dir: &Path) {
    let output = suanpan()
        .arg("verify")
        .arg("--data")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run verify: {e}"));
    assert!(
        output.status.success(),
        "verify failed after a crash: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Transfer ids in the books, with how many times each appears.
fn booked(dir: &Path) -> HashMap<String, u64> {
    let conn = rusqlite::Connection::open(dir.join("suanpan.db")).unwrap_or_else(|e| panic!("{e}"));
    let mut stmt = conn
        .prepare("SELECT id, COUNT(*) FROM transfers GROUP BY id")
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
        .unwrap_or_else(|e| panic!("{e}"));
    rows.map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect()
}

#[test]
fn killed_under_load_loses_no_acknowledged_transfer() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir =
        TempDir(std::env::temp_dir().join(format!("suanpan-crash-{}-{nanos}", std::process::id())));
    let seed = nanos as u64 | 1;
    println!("kill moments from seed {seed}");
    let mut rng = seed;
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut rejected: HashSet<String> = HashSet::new();
    let started = Instant::now();
    for run in 1..=ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = Duration::from_millis(20 + rng % 400);
        let acks = run_and_kill(&dir.0, run, kill_after);
        for (id, result) in acks {
            if result == "ok" {
                acknowledged.insert(id);
            } else {
                rejected.insert(id);
            }
        }
        verify(&dir.0);
        let books = booked(&dir.0);
        if let Some((id, n)) = books.iter().find(|(_, &n)| n != 1) {
            panic!("after kill {run}: transfer {id} is booked {n} times");
        }
        if let Some(id) = acknowledged.iter().find(|id| !books.contains_key(*id)) {
            panic!("after kill {run}: acknowledged transfer {id} is not in the books");
        }
        if let Some(id) = rejected.iter().find(|id| books.contains_key(*id)) {
            panic!("after kill {run}: rejected transfer {id} is in the books");
        }
    }
    println!(
        "{} acknowledged transfers over {ROUNDS} kills in {:.1} s",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        acknowledged.len() > 1_000,
        "too little load to prove anything: {} acknowledged",
        acknowledged.len()
    );
}
