//! A real `suanpan serve` process on its own temporary data directory and port, with
//! credentials made by the real `suanpan credentials` command. Dropping a [`Server`] kills
//! its process, so a failing test leaves nothing running; dropping the [`DataDir`] removes
//! the directory.
//!
//! With `SUANPAN_TEST_JOURNAL=postgres` the journal of every data directory is on the
//! PostgreSQL at 127.0.0.1:5432 (or `SUANPAN_TEST_POSTGRES`; database `test`), in a schema of the directory's own, dropped
//! with it: the same tests then run on the other backend (`scripts/test` runs both).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::client::ApiKey;

/// Generous: a debug build on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn suanpan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_suanpan"))
}

/// Starts `suanpan channel-sim ARGS` (a simulated channel, payment or interbank) and waits for
/// the line that says where it listens.
pub fn channel_sim(args: &[&str]) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = suanpan()
        .arg("channel-sim")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the channel simulator: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the simulator {args:?} never said where it listens: {e}"));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or(serde_json::Value::Null);
    let addr = v["listening"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bad listening line {line:?}"));
    (child, addr)
}

/// Runs `suanpan credentials ARGS WHERE` (`--data DIR` or `--postgres URL`) and returns its
/// one JSON line.
pub fn credentials(args: &[&str], place: &[String]) -> serde_json::Value {
    let output = suanpan()
        .arg("credentials")
        .args(args)
        .args(place)
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan credentials: {e}"));
    assert!(
        output.status.success(),
        "suanpan credentials {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "credentials printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub struct DataDir(pub PathBuf, Option<String>);

impl DataDir {
    pub fn new(name: &str) -> DataDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("suanpan-http-{name}-{}-{n}", std::process::id(),));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
        let schema =
            (std::env::var("SUANPAN_TEST_JOURNAL").as_deref() == Ok("postgres")).then(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                format!("t_http_{}_{n}_{nanos}", std::process::id())
            });
        DataDir(dir, schema)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The journal's PostgreSQL URL, when the tests run on PostgreSQL.
    pub fn postgres(&self) -> Option<String> {
        self.1
            .as_ref()
            .map(|schema| suanpan_journal::postgres::test_schema_url(schema))
    }

    /// `--postgres URL` when the tests run on PostgreSQL (for the commands that take a data
    /// directory and, beside it, where the journal is).
    pub fn postgres_args(&self) -> Vec<String> {
        self.postgres()
            .map(|url| vec!["--postgres".to_string(), url])
            .unwrap_or_default()
    }

    /// Where `serve` and `verify` find the journal: `--data DIR` or `--postgres URL`.
    pub fn journal_args(&self) -> Vec<String> {
        match self.postgres() {
            None => vec!["--data".into(), self.0.display().to_string()],
            Some(url) => vec!["--postgres".into(), url],
        }
    }

    /// Transfer id → how many rows the journal's `transfers` view has for it.
    pub fn booked(&self) -> std::collections::HashMap<u128, u64> {
        let sql = "SELECT id, COUNT(*) FROM transfers GROUP BY id";
        let rows: Vec<(String, u64)> = match self.postgres() {
            Some(url) => suanpan_journal::postgres::query_text(&url, sql)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|r| (r[0].clone(), r[1].parse().unwrap_or(0)))
                .collect(),
            None => {
                let conn = rusqlite::Connection::open(self.0.join(suanpan_journal::DB_FILE))
                    .unwrap_or_else(|e| panic!("cannot open the journal: {e}"));
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{e}"));
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                    .unwrap_or_else(|e| panic!("{e}"));
                rows.map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect()
            }
        };
        rows.into_iter()
            .map(|(id, n)| (id.parse().unwrap_or_else(|e| panic!("id {id:?}: {e}")), n))
            .collect()
    }

    /// Runs `suanpan credentials ARGS --data DIR` (or `--postgres URL` when the tests run on
    /// PostgreSQL, where the servers keep their credentials) and returns its one JSON line.
    pub fn credentials(&self, args: &[&str]) -> serde_json::Value {
        credentials(args, &self.journal_args())
    }

    /// Registers a participant and makes it one API key.
    pub fn participant(&self, code: &str) -> ApiKey {
        self.credentials(&["participant", "--code", code, "--name", code]);
        let key = self.credentials(&["key", "--participant", code]);
        let text = |name: &str| {
            key[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {key}"))
                .to_string()
        };
        ApiKey {
            key_id: text("key_id"),
            secret: text("secret"),
        }
    }

    /// An operator token of a role.
    pub fn operator(&self, name: &str, role: &str) -> String {
        let line = self.credentials(&["operator", "--name", name, "--role", role]);
        line["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {line}"))
            .to_string()
    }

    /// `suanpan verify --data DIR` must pass.
    pub fn verify(&self) {
        let output = suanpan()
            .arg("verify")
            .args(self.journal_args())
            .output()
            .unwrap_or_else(|e| panic!("cannot run suanpan verify: {e}"));
        assert!(
            output.status.success(),
            "suanpan verify failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Some(schema) = &self.1 {
            let _ = suanpan_journal::postgres::run_sql(
                &suanpan_journal::postgres::test_database_url(),
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            );
        }
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(dir: &DataDir) -> Server {
        Server::start_with(dir, &[])
    }

    pub fn start_with(dir: &DataDir, extra: &[&str]) -> Server {
        Server::spawn(dir, extra, Stdio::inherit())
    }

    /// Starts with extra environment variables (test hooks of the server).
    #[allow(dead_code)] // not every test binary uses it
    pub fn start_env(dir: &DataDir, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn_env(dir, extra, env, Stdio::inherit())
    }

    /// Starts with the server's log (its stderr) written to `log`.
    pub fn start_logged(dir: &DataDir, extra: &[&str], log: &Path) -> Server {
        let file = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        Server::spawn(dir, extra, Stdio::from(file))
    }

    /// Starts `suanpan serve --listen 127.0.0.1:0 --data-dir DIR EXTRA` and waits for its
    /// `{"listening":"ADDR"}` line.
    fn spawn(dir: &DataDir, extra: &[&str], stderr: Stdio) -> Server {
        Server::spawn_env(dir, extra, &[], stderr)
    }

    fn spawn_env(dir: &DataDir, extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Server {
        let mut child = suanpan()
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn"])
            .arg("--data-dir")
            .arg(dir.path())
            // On PostgreSQL a short lease, so a restart after SIGKILL waits little for it.
            .args(
                dir.postgres()
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
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start suanpan serve: {e}"));
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            // Reads to the end, so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let started = Instant::now();
        loop {
            let left = START_TIMEOUT.saturating_sub(started.elapsed());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("suanpan serve never said where it listens: {e}"));
            let value: Option<serde_json::Value> = serde_json::from_str(&line).ok();
            if let Some(addr) = value.as_ref().and_then(|v| v["listening"].as_str()) {
                server.addr = addr
                    .parse()
                    .unwrap_or_else(|e| panic!("bad listening address {addr:?}: {e}"));
                return server;
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM (a graceful stop).
    pub fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "cannot send SIGTERM");
    }

    /// Stops it gracefully if it still runs (SIGTERM, then waits); nothing if it has exited.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            self.wait_exit();
        }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits, bounded, for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if started.elapsed() < EXIT_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => panic!("suanpan serve did not exit within {EXIT_TIMEOUT:?}"),
                Err(e) => panic!("cannot wait for suanpan serve: {e}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
