//! Crash test: a `suanpan load` process under concurrent load is killed with SIGKILL at random
//! moments, again and again. After each kill, every transfer it acknowledged must be in the
//! books exactly once, nothing it rejected may be, and `suanpan verify` must pass. On the
//! SQLite file and on PostgreSQL (a schema of the test's own in the `test` database).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the books are: a temporary directory, and on PostgreSQL a schema (both removed
/// afterwards).
struct Books {
    dir: PathBuf,
    schema: Option<String>,
}

impl Books {
    fn new(postgres: bool) -> Books {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let unique = format!("{}_{nanos}", std::process::id());
        Books {
            dir: std::env::temp_dir().join(format!("suanpan-crash-{unique}")),
            schema: postgres.then(|| format!("t_crash_{unique}")),
        }
    }

    fn url(&self) -> Option<String> {
        self.schema
            .as_ref()
            .map(|s| suanpan_journal::postgres::test_schema_url(s))
    }

    /// Where `load` and `verify` find the journal.
    fn args(&self) -> Vec<String> {
        match self.url() {
            None => vec!["--data".into(), self.dir.display().to_string()],
            Some(url) => vec!["--postgres".into(), url],
        }
    }
}

impl Drop for Books {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(schema) = &self.schema {
            let _ = suanpan_journal::postgres::run_sql(
                &suanpan_journal::postgres::test_database_url(),
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            );
        }
    }
}

fn suanpan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_suanpan"))
}

/// Runs `suanpan load` until a random moment after it is ready, kills it with SIGKILL and
/// returns the acknowledgements it printed: transfer id to result.
fn run_and_kill(books: &Books, run: u64, kill_after: Duration) -> HashMap<String, String> {
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
            // Transfers leave memory within each run: recovery and every retry after a kill
            // read them back from the journal through the index of past transfers.
            "--window",
            "500",
        ])
        .args(["--data".to_string(), books.dir.display().to_string()])
        .args(
            books
                .url()
                .map(|url| {
                    vec![
                        "--postgres".to_string(),
                        url,
                        "--lease-ttl-ms".into(),
                        "500".into(),
                    ]
                })
                .unwrap_or_default(),
        )
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

fn verify(books: &Books) {
    let output = suanpan()
        .arg("verify")
        .args(books.args())
        .output()
        .unwrap_or_else(|e| panic!("cannot run verify: {e}"));
    assert!(
        output.status.success(),
        "verify failed after a crash: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Transfer ids in the books, with how many times each appears.
fn booked(books: &Books) -> HashMap<String, u64> {
    if let Some(url) = books.url() {
        let rows = suanpan_journal::postgres::query_text(
            &url,
            "SELECT id, count(*) FROM transfers GROUP BY id",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        return rows
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap_or(0)))
            .collect();
    }
    let conn =
        rusqlite::Connection::open(books.dir.join("suanpan.db")).unwrap_or_else(|e| panic!("{e}"));
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
    killed_under_load(false, 20);
}

#[test]
fn killed_under_load_loses_no_acknowledged_transfer_on_postgres() {
    killed_under_load(true, 10);
}

fn killed_under_load(postgres: bool, rounds: u64) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = Books::new(postgres);
    let seed = nanos as u64 | 1;
    println!("kill moments from seed {seed}");
    let mut rng = seed;
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut rejected: HashSet<String> = HashSet::new();
    let started = Instant::now();
    for run in 1..=rounds {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = Duration::from_millis(20 + rng % 400);
        let acks = run_and_kill(&dir, run, kill_after);
        for (id, result) in acks {
            if result == "ok" {
                acknowledged.insert(id);
            } else {
                rejected.insert(id);
            }
        }
        verify(&dir);
        let books = booked(&dir);
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
        "{} acknowledged transfers over {rounds} kills in {:.1} s",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        acknowledged.len() > 1_000,
        "too little load to prove anything: {} acknowledged",
        acknowledged.len()
    );
}
