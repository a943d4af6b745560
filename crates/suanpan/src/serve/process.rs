//! The process behind `suanpan serve`: what starts, in which order, and how it stops.
//!
//! Start: check the data directory and bind the port (nothing is created before both are
//! known good), start the engine (recovery, or a standby's wait for the lease), open every
//! room on it, start the history indexer and the clearing schedule, hand the rooms to the
//! HTTP room, then serve on one multi-threaded runtime. Stop, on SIGTERM or SIGINT or when
//! another node takes the lease: the listener closes, open requests finish, the rooms'
//! background work ends, the engine commits what it holds and stops, then the threads that
//! follow the engine end.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use suanpan_api::log::{self, Level};
use suanpan_api::{Rooms, ServeConfig, Service, Wake};
use suanpan_engine::{Engine, EngineConfig, PostgresConfig};
use suanpan_journal::{HistoryReader, HistoryWriter, JournalLocation};

use super::indexer;

/// The file `serve` writes the first admin's token to, readable by its owner alone.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Runs the server until SIGTERM or SIGINT, then drains and stops. `on_listening` is told
/// the bound address (the port may have been 0).
pub fn run(config: ServeConfig, on_listening: impl FnOnce(SocketAddr)) -> Result<(), String> {
    log::set_level(config.log_level);
    let listener = prepare(&config)?;
    let gateway_config = match &config.gateway_config {
        Some(path) => suanpan_gateway::GatewayConfig::load(path)?,
        None => suanpan_gateway::GatewayConfig::default(),
    };
    let payouts_config = match &config.payouts_config {
        Some(path) => suanpan_payouts::PayoutsConfig::load(path)?,
        None => suanpan_payouts::PayoutsConfig::default(),
    };
    let mut engine_config = EngineConfig::new(&config.data_dir);
    engine_config.queue_requests_max = config.queue_requests_max;
    engine_config.window = config.window;
    engine_config.past_filter_bytes = config.past_filter_mib << 20;
    engine_config.auto_cutover = config.auto_cutover;
    engine_config.accept_journal_behind_anchor = config.accept_journal_behind_anchor;
    // How long a room's write may hold the lease row on the server (half the lease).
    let mut write_hold = Duration::ZERO;
    let journal = match &config.postgres {
        None => JournalLocation::Sqlite(config.data_dir.clone()),
        Some(url) => {
            let db = suanpan_journal::postgres::connect(url).map_err(|e| e.to_string())?;
            engine_config.postgres = Some(PostgresConfig {
                db: db.clone(),
                node: config.node.clone(),
                standby: config.standby,
                lease_ttl: Duration::from_millis(config.lease_ttl_ms),
            });
            write_hold = engine_config
                .postgres
                .as_ref()
                .map_or(Duration::ZERO, |pg| pg.write_hold());
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
    log_started(&engine, &journal);
    // With the journal on PostgreSQL the credentials are there too, the same for every node.
    let access = Arc::new(match &journal {
        JournalLocation::Postgres(db) => suanpan_access::Access::open_postgres(db.clone())?,
        JournalLocation::Sqlite(_) => suanpan_access::Access::open(&config.data_dir)?,
    });
    first_admin(&access, &config.data_dir)?;

    // The history index: a projection of the journal, checked after an unclean stop (the
    // running marker left behind says so).
    let unclean = config
        .data_dir
        .join(suanpan_api::auth::RUNNING_FILE)
        .exists();
    let writer =
        HistoryWriter::open_at(&config.data_dir, unclean, &journal).map_err(|e| e.to_string())?;
    let history_seq = Arc::new(AtomicU64::new(writer.indexed_seq()));
    let indexer_wake = Arc::new(Wake::default());
    let indexer = {
        let (engine, seq, wake) = (engine.clone(), history_seq.clone(), indexer_wake.clone());
        std::thread::Builder::new()
            .name("suanpan-indexer".into())
            .spawn(move || indexer::run(writer, &engine, &seq, &wake))
            .map_err(|e| format!("cannot start the indexer thread: {e}"))?
    };

    // Where the rooms keep their state: the data directory, or beside the journal on
    // PostgreSQL, where each room's writes are fenced by this node's hold on the lease.
    let epoch_source: Option<suanpan_store::postgres::EpochSource> = match &journal {
        JournalLocation::Postgres(_) => {
            let engine = engine.clone();
            Some(Arc::new(move || engine.epoch()))
        }
        JournalLocation::Sqlite(_) => None,
    };
    let home = match (&journal, &epoch_source) {
        (JournalLocation::Postgres(db), Some(epoch)) => suanpan_store::room::Home::Postgres {
            db: db.clone(),
            fence: suanpan_store::postgres::Fence::Lease {
                epoch: epoch.clone(),
                hold: write_hold,
            },
        },
        _ => suanpan_store::room::Home::sqlite(&config.data_dir),
    };
    let gateway = Arc::new(suanpan_gateway::Gateway::open(
        &home,
        engine.clone(),
        gateway_config,
        Arc::new(suanpan_gateway::SystemClock),
    )?);
    // The gateway's warnings (a delivery that failed, a channel that did not answer) are the
    // process's log lines.
    gateway
        .metrics()
        .set_warn_sink(Box::new(|message: &str, fields: &[(&str, &str)]| {
            let fields: Vec<(&str, &dyn std::fmt::Display)> = fields
                .iter()
                .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
                .collect();
            suanpan_api::log::log(suanpan_api::log::Level::Warn, message, &fields);
        }));
    let recon = Arc::new(
        suanpan_recon::room::Recon::open(&home, gateway.clone(), engine.clone(), config.recon)
            .map_err(|e| e.to_string())?,
    );
    if let JournalLocation::Postgres(db) = &journal {
        // Beside the writers' connections, some for the first requests' reads.
        db.warm(8).map_err(|e| e.to_string())?;
    }
    let clearing = Arc::new(
        suanpan_clearing::store::open(&home, &config.data_dir).map_err(|e| e.to_string())?,
    );
    let books = Arc::new(
        suanpan_api::Books::new(config.data_dir.clone(), journal, clearing)
            .with_accounting_home(home.clone(), epoch_source.clone())
            .with_recon(recon.clone()),
    );
    let schedule_stop = Arc::new(AtomicBool::new(false));
    let schedule = suanpan_api::start_close_schedule(
        engine.clone(),
        books.clone(),
        config.clearing_schedule.clone(),
        utc_offset_s,
        schedule_stop.clone(),
    )?;
    let consents = Arc::new(
        suanpan_consent::Consents::open(
            &home,
            suanpan_api::consents::now_ns(),
            epoch_source.clone(),
        )
        .map_err(|e| e.to_string())?,
    );
    let payouts = Arc::new(
        suanpan_payouts::Payouts::open(&home, engine.clone(), payouts_config)
            .map_err(|e| e.to_string())?,
    );
    let service = Service::start(
        config.clone(),
        Rooms {
            engine: engine.clone(),
            access,
            history: Arc::new(HistoryReader::open(&config.data_dir)),
            history_seq,
            indexer_wake: indexer_wake.clone(),
            books,
            gateway: gateway.clone(),
            consents,
            payouts: Some(payouts.clone()),
            recon: Some(recon),
        },
    )?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(suanpan_api::tls_acceptor(cert, key)?),
        None => None,
    };
    let workers = match config.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("suanpan-http")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        gateway.set_default_public_url(&format!("http://{address}"));
        on_listening(address);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let queries = tokio::spawn(gateway.clone().run(stopping.clone()));
        let payouts_worker = tokio::spawn(payouts.clone().run(stopping.clone()));
        let serving = service.serve(listener, address, tls, stopping);
        let watch = async {
            let result = tokio::select! {
                signalled = wait_for_signal() => signalled,
                why = deposed(&engine) => {
                    log::log(Level::Error, "lost the writer's lease; stepping down", &[("why", &why)]);
                    Ok(())
                }
            };
            let _ = stop.send(true);
            result
        };
        let (watched, ()) = tokio::join!(watch, serving);
        let _ = queries.await;
        let _ = payouts_worker.await;
        watched
    });
    schedule_stop.store(true, Ordering::Release);
    if let Some(schedule) = schedule {
        let _ = schedule.join();
    }
    let stopped = engine.shutdown();
    service.finish();
    indexer_wake.stop();
    let _ = indexer.join();
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

fn log_started(engine: &Engine, journal: &JournalLocation) {
    let recovery = engine.recovery();
    let journal = match journal {
        JournalLocation::Sqlite(dir) => suanpan_journal::db_path(dir).display().to_string(),
        JournalLocation::Postgres(db) => db.shown().to_string(),
    };
    let role = if engine.is_leader() {
        "leader"
    } else {
        "standby"
    };
    log::log(
        Level::Info,
        "engine started",
        &[
            ("seq", &recovery.seq),
            ("accounts", &recovery.accounts),
            ("transfers", &recovery.transfers),
            ("journal", &journal),
            ("role", &role),
        ],
    );
}

/// On a data directory where no operator was ever made, makes an admin and writes its token
/// to `admin-token` (0600): the one secret a new installation needs, never in a log.
fn first_admin(access: &suanpan_access::Access, dir: &Path) -> Result<(), String> {
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

/// Resolves once another node has taken the writer's lease from this one.
async fn deposed(engine: &Engine) -> String {
    loop {
        if let Some(why) = engine.deposed() {
            return why;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
