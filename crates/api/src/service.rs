//! The HTTP room as the process sees it: made from rooms the process has opened, served on a
//! listener the process has bound, finished after the process has stopped the engine. The
//! wiring (which rooms, in which order they start and stop, the runtime) is the binary's
//! `serve`; what lives here is what the HTTP room derives for itself: who owns which account
//! (kept current from the committed batches), the console's samples and account index, spent
//! nonces, and draining connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use suanpan_engine::{CommittedBatch, Engine};
use suanpan_journal::{HistoryReader, JournalLocation};
use tokio::sync::watch;

use crate::app::{App, Owners, Wake};
use crate::config::ServeConfig;
use crate::log::{self, Level};
use crate::{auth, books, console, metrics, openapi, server};

/// Nonces remembered at most (about 27,000 signed requests a second over the 10 minutes
/// they are kept); beyond it requests are refused as overload rather than memory growing.
const NONCES_MAX: usize = 16 << 20;

/// The rooms the HTTP room answers for, opened by the process.
pub struct Rooms {
    pub engine: Arc<Engine>,
    pub access: Arc<suanpan_access::Access>,
    /// The history index's reader, the last batch indexed, and the indexer's doorbell (a
    /// read waiting for the index rings it).
    pub history: Arc<HistoryReader>,
    pub history_seq: Arc<AtomicU64>,
    pub indexer_wake: Arc<Wake>,
    pub books: Arc<books::Books>,
    pub gateway: Arc<suanpan_gateway::Gateway>,
    pub consents: Arc<suanpan_consent::Consents>,
    pub payouts: Option<Arc<suanpan_payouts::Payouts>>,
    pub recon: Option<Arc<suanpan_recon::room::Recon>>,
}

/// The HTTP room, running.
pub struct Service {
    app: Arc<App>,
    sampler: JoinHandle<()>,
    owners_follower: JoinHandle<()>,
}

impl Service {
    /// Builds the room's own state from the rooms and starts its two helper threads. The
    /// owner map is read from the ledger after subscribing to the batches that follow, so no
    /// account opened in between is missed.
    pub fn start(config: ServeConfig, rooms: Rooms) -> Result<Service, String> {
        let engine = rooms.engine.clone();
        let owner_batches = engine.subscribe();
        let accounts_at_start = read_accounts(&engine)?;
        let account_index = console::index::AccountIndex::default();
        for (id, owner, subject) in &accounts_at_start {
            account_index.insert(*id, *owner, subject);
        }
        let owners = accounts_at_start
            .into_iter()
            .map(|(id, owner, _)| (id, owner))
            .collect();
        let openapi = serde_json::to_vec(&openapi::document()).map_err(|e| e.to_string())?;
        let mut authenticator = auth::Authenticator::new(config.signature_window_s, NONCES_MAX);
        authenticator.restore(&config.data_dir)?;
        let app = Arc::new(App {
            engine,
            access: rooms.access,
            auth: authenticator,
            owners: Owners::new(owners),
            history: rooms.history,
            history_seq: rooms.history_seq,
            indexer_wake: rooms.indexer_wake,
            metrics: metrics::ApiMetrics::default(),
            sessions: console::session::Sessions::new(Duration::from_secs(
                config.console_session_idle_s,
            )),
            config,
            open_connections: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            openapi: openapi.into(),
            books: rooms.books,
            gateway: rooms.gateway,
            consents: rooms.consents,
            payouts: rooms.payouts,
            recon: rooms.recon,
            samples: console::sampler::Samples::default(),
            account_index,
        });
        let sampler = {
            let app = app.clone();
            std::thread::Builder::new()
                .name("suanpan-sampler".into())
                .spawn(move || run_sampler(&app))
                .map_err(|e| format!("cannot start the sampler thread: {e}"))?
        };
        // Accounts opened by other rooms (the gateway, clearing) and, on a standby, by the
        // leader reach the owner map from the committed batches, not from the accounts
        // handler.
        let owners_follower = {
            let app = app.clone();
            std::thread::Builder::new()
                .name("suanpan-owners".into())
                .spawn(move || follow_owners(&app, owner_batches))
                .map_err(|e| format!("cannot start the owners thread: {e}"))?
        };
        Ok(Service {
            app,
            sampler,
            owners_follower,
        })
    }

    /// Accepts connections on `listener` until `shutdown` turns true, then lets the open
    /// ones finish their requests for up to `shutdown_grace_s`. Runs on the process's
    /// runtime.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        address: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
        shutdown: watch::Receiver<bool>,
    ) {
        let app = &self.app;
        log::log(
            Level::Info,
            "listening",
            &[
                ("address", &address),
                ("tls", &tls.is_some()),
                ("data_dir", &app.config.data_dir.display()),
            ],
        );
        let mut stop = shutdown.clone();
        let accepting = tokio::spawn(server::accept_loop(app.clone(), listener, tls, shutdown));
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        log::log(Level::Info, "shutting down: draining connections", &[]);
        app.stopping.store(true, Ordering::Release);
        let _ = accepting.await;
        let grace = Duration::from_secs(app.config.shutdown_grace_s);
        let started = Instant::now();
        while app.open_connections.load(Ordering::Acquire) > 0 && started.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let left = app.open_connections.load(Ordering::Acquire);
        if left > 0 {
            log::log(
                Level::Warn,
                "grace period over; closing connections",
                &[("open", &left)],
            );
        }
    }

    /// Ends the room once the engine has stopped (the owners thread follows the engine's
    /// batches until then): spent nonces are saved for the next start, the threads joined.
    pub fn finish(self) {
        self.app.stopping.store(true, Ordering::Release);
        if let Err(e) = self.app.auth.save(&self.app.config.data_dir) {
            log::log(Level::Error, "spent nonces not saved", &[("error", &e)]);
        }
        let _ = self.sampler.join();
        let _ = self.owners_follower.join();
    }
}

fn read_accounts(engine: &Engine) -> Result<Vec<(u128, u64, String)>, String> {
    engine
        .read(|l| {
            l.accounts()
                .iter()
                .map(|a| (a.id, a.owner, a.subject.to_string()))
                .collect::<Vec<_>>()
        })
        .map_err(|e| e.to_string())?
        .wait()
        .ok_or_else(|| engine.stopped_error().to_string())
}

/// Notes the overview's figures every few seconds until the server stops.
fn run_sampler(app: &App) {
    let mut next = Instant::now();
    while !app.stopping.load(Ordering::Acquire) {
        if Instant::now() >= next {
            let engine = app.engine.metrics();
            let dir = &app.config.data_dir;
            let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
            let journal_bytes = match &app.books.journal {
                JournalLocation::Sqlite(_) => Some(
                    size(suanpan_journal::DB_FILE)
                        + size(&format!("{}-wal", suanpan_journal::DB_FILE)),
                ),
                JournalLocation::Postgres(_) => None,
            };
            app.samples.push(console::sampler::Sample {
                at: Instant::now(),
                commands: engine.commands.load(Ordering::Relaxed),
                committed_seq: engine.committed_seq.load(Ordering::Relaxed),
                queue_depth: engine.queue_depth.load(Ordering::Relaxed),
                requests: app.metrics.totals(),
                journal_bytes,
            });
            next += console::sampler::SAMPLE_EVERY;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Keeps the map of account owners current from the committed batches: every account
/// whoever opened it (a room through the engine, or on a standby the leader).
fn follow_owners(app: &App, first: std::sync::mpsc::Receiver<Arc<CommittedBatch>>) {
    let mut next = Some(first);
    while app.engine.check_running().is_ok() {
        let batches = match next.take() {
            Some(batches) => batches,
            None => {
                // Dropped for falling behind: subscribe again, then read the owners afresh.
                let batches = app.engine.subscribe();
                for (id, owner, subject) in read_accounts(&app.engine).unwrap_or_default() {
                    app.owners.insert(id, owner);
                    app.account_index.insert(id, owner, &subject);
                }
                batches
            }
        };
        // Bounded waits: the engine keeps the sending side until it is dropped, after this
        // thread has been joined.
        loop {
            let batch = match batches.recv_timeout(Duration::from_millis(100)) {
                Ok(batch) => batch,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if app.engine.check_running().is_err() {
                        return;
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            for (stamped, result) in batch.commands.iter().zip(&batch.results) {
                if let (suanpan_ledger::Command::CreateAccount(a), suanpan_ledger::ResultCode::Ok) =
                    (&stamped.command, result)
                {
                    app.owners.insert(a.id, a.owner);
                    app.account_index
                        .insert(a.id, a.owner, &a.subject.to_string());
                }
            }
        }
        // Dropped for falling behind, or the engine stopped: subscribe again or end.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The TLS identity the listener serves, from PEM files.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
