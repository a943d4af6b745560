//! Suanpan's HTTP API (room `api`): the server behind `suanpan serve`.
//!
//! A request goes: [`server`] (HTTP, body limit) → [`routes`] (which endpoint) → [`auth`]
//! (signature or operator token) → [`body`] (JSON into a [`wire`] type, every failure named)
//! → a handler (`accounts`, `transfers`; `accounting` and `clearing` through `books`;
//! `orders`; [`consents`] and `consent_page`; [`payouts`]: ownership, then one engine round
//! trip or a call into the room) → the answer, only once what it reports is durable. Reads of
//! history come from the history index (`suanpan_journal::HistoryReader`), kept by an indexer
//! thread started here.

mod accounting;
mod accounts;
mod app;
pub mod auth;
mod body;
mod books;
pub mod books_wire;
mod clearing;
pub mod config;
mod consent_page;
pub mod consents;
mod console;
pub mod error;
mod html;
pub mod log;
mod metrics;
pub mod openapi;
mod orders;
pub mod payouts;
mod routes;
mod server;
pub mod time;
mod transfers;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use suanpan_engine::{Engine, EngineConfig, PostgresConfig};
use suanpan_journal::{HistoryReader, HistoryWriter, JournalLocation, PgDb};

use crate::app::{App, Owners};
use crate::log::Level;
pub use config::ServeConfig;

/// Batches of transfer rows the indexer takes per transaction.
const INDEX_BATCHES_PER_STEP: u32 = 1024;
/// How often the indexer catches up when no reader is waiting for it. Each catch-up is one
/// SQLite transaction, so fewer and larger is cheaper; a reader wakes it at once.
const INDEX_INTERVAL: Duration = Duration::from_millis(100);
/// Nonces remembered at most (about 27,000 signed requests a second over the 10 minutes
/// they are kept); beyond it requests are refused as overload rather than memory growing.
const NONCES_MAX: usize = 16 << 20;

/// Runs the server until SIGTERM or SIGINT, then drains and stops. `on_listening` is told the
/// bound address (the port may have been 0).
/// The file `serve` writes the first admin's token to, readable by its owner alone.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// On a data directory where no operator was ever made, makes an admin and writes its token
/// to `admin-token` (0600): the one secret a new installation needs, never in a log.
fn first_admin(access: &suanpan_access::Access, dir: &std::path::Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if access.operators_made()? > 0 {
        return Ok(());
    }
    let path = dir.join(ADMIN_TOKEN_FILE);
    let token = access.create_operator("admin", suanpan_access::Role::Admin)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    log::log(
        Level::Info,
        "made the first admin operator; its token is in the file",
        &[("operator", &"admin"), ("token_file", &path.display())],
    );
    Ok(())
}

/// Checks what a start needs before it makes anything: the data directory (a directory, or
/// one to create in a parent that exists) and the listening address (bound now, so a busy
/// port is refused before a new data directory is left behind).
fn prepare(config: &ServeConfig) -> Result<std::net::TcpListener, String> {
    let dir = &config.data_dir;
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is a file, not a data directory", dir.display()));
    }
    if !dir.exists() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(format!(
                    "cannot create the data directory {}: {} does not exist",
                    dir.display(),
                    parent.display()
                ));
            }
        }
    }
    let listener = std::net::TcpListener::bind(&config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    Ok(listener)
}

pub fn run(config: ServeConfig, on_listening: impl FnOnce(SocketAddr)) -> Result<(), String> {
    log::set_level(config.log_level);
    let listener = prepare(&config)?;
    let gateway_config = match &config.gateway_config {
        Some(path) => suanpan_gateway::GatewayConfig::load(path)?,
        None => suanpan_gateway::GatewayConfig::default(),
    };
    let mut engine_config = EngineConfig::new(&config.data_dir);
    engine_config.queue_requests_max = config.queue_requests_max;
    engine_config.auto_cutover = config.auto_cutover;
    let journal = match &config.postgres {
        None => JournalLocation::Sqlite(config.data_dir.clone()),
        Some(url) => {
            let db = PgDb::connect(url).map_err(|e| e.to_string())?;
            engine_config.postgres = Some(PostgresConfig {
                db: db.clone(),
                node: config.node.clone(),
                standby: config.standby,
                lease_ttl: Duration::from_millis(config.lease_ttl_ms),
            });
            JournalLocation::Postgres(db)
        }
    };
    if !config.data_dir.is_dir() {
        std::fs::create_dir(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    }
    // The clearing schedule's times of day are in the books' zone.
    let utc_offset_s = engine_config.utc_offset_s;
    let engine = Arc::new(Engine::start(engine_config).map_err(|e| e.to_string())?);
    let recovery = engine.recovery().clone();
    log::log(
        Level::Info,
        "engine started",
        &[
            ("seq", &recovery.seq),
            ("accounts", &recovery.accounts),
            ("transfers", &recovery.transfers),
            ("journal", &journal_name(&journal)),
            (
                "role",
                &if engine.is_leader() {
                    "leader"
                } else {
                    "standby"
                },
            ),
        ],
    );
    let access = Arc::new(suanpan_access::Access::open(&config.data_dir)?);
    first_admin(&access, &config.data_dir)?;
    // Subscribed before the owners are read: no account committed in between is missed.
    let owner_batches = engine.subscribe();
    let accounts_at_start = engine
        .read(|l| {
            l.accounts()
                .iter()
                .map(|a| (a.id, a.owner, a.subject.to_string()))
                .collect::<Vec<_>>()
        })
        .map_err(|e| e.to_string())?
        .wait()
        .ok_or_else(|| engine.stopped_error().to_string())?;
    let account_index = console::index::AccountIndex::default();
    for (id, owner, subject) in &accounts_at_start {
        account_index.insert(*id, *owner, subject);
    }
    let owners: Vec<(u128, u64)> = accounts_at_start
        .into_iter()
        .map(|(id, owner, _)| (id, owner))
        .collect();
    // The running marker left behind says the last stop was unclean: check the index.
    let unclean = config.data_dir.join(auth::RUNNING_FILE).exists();
    let writer =
        HistoryWriter::open_at(&config.data_dir, unclean, &journal).map_err(|e| e.to_string())?;
    let history_seq = Arc::new(AtomicU64::new(writer.indexed_seq()));
    let indexer_wake = Arc::new(app::Wake::default());
    let indexer = {
        let (engine, seq, wake) = (engine.clone(), history_seq.clone(), indexer_wake.clone());
        std::thread::Builder::new()
            .name("suanpan-indexer".into())
            .spawn(move || run_indexer(writer, &engine, &seq, &wake))
            .map_err(|e| format!("cannot start the indexer thread: {e}"))?
    };
    let openapi = serde_json::to_vec(&openapi::document()).map_err(|e| e.to_string())?;
    let mut authenticator = auth::Authenticator::new(config.signature_window_s, NONCES_MAX);
    authenticator.restore(&config.data_dir)?;
    let books = Arc::new(books::Books::new(config.data_dir.clone(), journal.clone()));
    let schedule_stop = Arc::new(AtomicBool::new(false));
    let schedule = clearing::start_close_schedule(
        engine.clone(),
        books.clone(),
        config.clearing_schedule.clone(),
        utc_offset_s,
        schedule_stop.clone(),
    )?;
    let gateway = Arc::new(suanpan_gateway::Gateway::open(
        &config.data_dir,
        engine.clone(),
        gateway_config,
        Arc::new(suanpan_gateway::SystemClock),
    )?);
    let consents = Arc::new(
        suanpan_consent::Consents::open(&config.data_dir, consents::now_ns())
            .map_err(|e| e.to_string())?,
    );
    let payouts_config = match &config.payouts_config {
        Some(path) => suanpan_payouts::PayoutsConfig::load(path)?,
        None => suanpan_payouts::PayoutsConfig::default(),
    };
    let payouts = Arc::new(
        suanpan_payouts::Payouts::open(&config.data_dir, engine.clone(), payouts_config)
            .map_err(|e| e.to_string())?,
    );
    let app = Arc::new(App {
        engine: engine.clone(),
        access,
        auth: authenticator,
        owners: Owners::new(owners),
        history: Arc::new(HistoryReader::open(&config.data_dir)),
        history_seq,
        indexer_wake: indexer_wake.clone(),
        metrics: metrics::ApiMetrics::default(),
        config: config.clone(),
        open_connections: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
        openapi: openapi.into(),
        books,
        gateway,
        consents,
        payouts: Some(payouts),
        sessions: console::session::Sessions::new(Duration::from_secs(
            config.console_session_idle_s,
        )),
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
    // Accounts opened by other rooms (the gateway, clearing) and, on a standby, by the leader
    // reach the owner map from the committed batches, not from the accounts handler.
    let owners_follower = Some({
        let app = app.clone();
        std::thread::Builder::new()
            .name("suanpan-owners".into())
            .spawn(move || follow_owners(&app, owner_batches))
    });
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let workers = match config.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("suanpan-http")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    let served = runtime.block_on(serve(app.clone(), listener, tls, on_listening));
    app.stopping.store(true, Ordering::Release);
    schedule_stop.store(true, Ordering::Release);
    if let Some(schedule) = schedule {
        let _ = schedule.join();
    }
    let stopped = engine.shutdown();
    if let Err(e) = app.auth.save(&config.data_dir) {
        log::log(Level::Error, "spent nonces not saved", &[("error", &e)]);
    }
    indexer_wake.stop();
    let _ = indexer.join();
    let _ = sampler.join();
    if let Some(Ok(thread)) = owners_follower {
        let _ = thread.join();
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    served?;
    if let Some(why) = engine.deposed() {
        // Another node leads now: say so and exit non-zero, so a supervisor restarts this
        // one as a standby.
        return Err(format!("stepped down: {why}"));
    }
    stopped.map_err(|e| e.to_string())?;
    log::log(Level::Info, "stopped", &[]);
    Ok(())
}

async fn serve(
    app: Arc<App>,
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| format!("cannot listen on {}: {e}", app.config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    log::log(
        Level::Info,
        "listening",
        &[
            ("address", &address),
            ("tls", &tls.is_some()),
            ("data_dir", &app.config.data_dir.display()),
        ],
    );
    on_listening(address);
    let (tx, rx) = tokio::sync::watch::channel(false);
    app.gateway
        .set_default_public_url(&format!("http://{address}"));
    let scheduler = tokio::spawn(app.gateway.clone().run(rx.clone()));
    let payouts_worker = app.payouts.clone().map(|p| tokio::spawn(p.run(rx.clone())));
    let accepting = tokio::spawn(server::accept_loop(app.clone(), listener, tls, rx));
    tokio::select! {
        signalled = wait_for_signal() => signalled?,
        why = deposed(&app.engine) => {
            log::log(Level::Error, "lost the writer's lease; stepping down", &[("why", &why)]);
        }
    }
    log::log(Level::Info, "shutting down: draining connections", &[]);
    app.stopping.store(true, Ordering::Release);
    let _ = tx.send(true);
    let _ = accepting.await;
    let _ = scheduler.await;
    if let Some(worker) = payouts_worker {
        let _ = worker.await;
    }
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
    Ok(())
}

/// Resolves once another node has taken the writer's lease from this one.
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

async fn deposed(engine: &Engine) -> String {
    loop {
        if let Some(why) = engine.deposed() {
            return why;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn journal_name(journal: &JournalLocation) -> String {
    match journal {
        JournalLocation::Sqlite(dir) => suanpan_journal::db_path(dir).display().to_string(),
        JournalLocation::Postgres(db) => db.shown().to_string(),
    }
}

/// Keeps the map of account owners current from the committed batches: every account
/// whoever opened it (a room through the engine, or on a standby the leader).
fn follow_owners(app: &App, first: std::sync::mpsc::Receiver<Arc<suanpan_engine::CommittedBatch>>) {
    let mut next = Some(first);
    while app.engine.check_running().is_ok() {
        let batches = match next.take() {
            Some(batches) => batches,
            None => {
                // Dropped for falling behind: subscribe again, then read the owners afresh.
                let batches = app.engine.subscribe();
                if let Ok(ticket) = app.engine.read(|l| {
                    l.accounts()
                        .iter()
                        .map(|a| (a.id, a.owner, a.subject.to_string()))
                        .collect::<Vec<_>>()
                }) {
                    for (id, owner, subject) in ticket.wait().unwrap_or_default() {
                        app.owners.insert(id, owner);
                        app.account_index.insert(id, owner, &subject);
                    }
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

async fn wait_for_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

/// Keeps the history index behind the journal. Runs only on CPU time nothing else wants
/// (SCHED_IDLE): indexing costs about 14 µs a transfer, and competing for the two cores with
/// the engine and the HTTP workers it added milliseconds to the tail of every request. Under
/// full load it falls behind and catches up when load eases; reads wait for it (bounded)
/// rather than the books waiting.
fn run_indexer(mut writer: HistoryWriter, engine: &Engine, seq: &AtomicU64, wake: &app::Wake) {
    // SAFETY: sched_setscheduler(0, ...) and setpriority on this thread's own id change its
    // scheduling only; the parameter outlives the calls.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
    while !wake.stopped() {
        let target = engine.metrics().committed_seq.load(Ordering::Acquire);
        if target <= writer.indexed_seq() {
            wake.wait(INDEX_INTERVAL);
            continue;
        }
        match writer.index_through(target, INDEX_BATCHES_PER_STEP) {
            Ok(done) => {
                seq.store(done, Ordering::Release);
                if done >= target {
                    wake.wait(INDEX_INTERVAL);
                }
            }
            Err(e) => {
                log::log(
                    Level::Error,
                    "history index failed; retrying",
                    &[("error", &e)],
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

fn tls_acceptor(
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
