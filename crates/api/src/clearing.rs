//! Clearing endpoints: participants (operators manage them, as `suanpan clear participant`
//! does), closing a clearing batch and its report, writing its statement files, and the
//! statements themselves, which a participant fetches for itself alone. Also the close
//! schedule `serve` runs.
//!
//! A participant's API key (access.db) and its clearing registration meet in the owner
//! number: a key whose participant has owner N reads clearing participant N's statements.
//! Another participant's statement answers 404, as if it did not exist.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use suanpan_clearing::{
    clear_batch_at, close_batch, issue_statements, issued_statement, statement_camt053,
    ClearingError, CloseSchedule, FeeSchedule, Participant, ParticipantKind, ParticipantStatus,
    Registry, PARTICIPANTS_MAX,
};
use suanpan_engine::Engine;

use crate::app::{self, App, Reply};
use crate::auth::Caller;
use crate::books::{audited, lock};
use crate::books_wire::*;
use crate::error::{ApiError, ErrorCode};
use crate::log::{self, Level};
use crate::wire::Amount;

/// Most statements one listing returns (newest batches first).
const STATEMENTS_LIST_MAX: usize = 10_000;

fn participant_view(p: &Participant) -> ParticipantView {
    ParticipantView {
        number: p.number,
        code: p.code.clone(),
        name: p.name.clone(),
        kind: p.kind.as_str(),
        status: p.status.as_str(),
        net_debit_cap: Amount(p.net_debit_cap_fen),
    }
}

fn participant_number(param: Option<&str>) -> Result<u16, ApiError> {
    let text = param.unwrap_or("");
    text.parse::<u16>()
        .ok()
        .filter(|n| (1..=PARTICIPANTS_MAX).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("{text:?} is not a participant number (1 to {PARTICIPANTS_MAX})"),
            )
            .field("number")
        })
}

fn batch_number(param: Option<&str>) -> Result<u64, ApiError> {
    let text = param.unwrap_or("");
    text.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{text:?} is not a clearing batch number (1, 2, ...)"),
        )
        .field("batch")
    })
}

pub async fn participants(app: &App) -> Result<Reply, ApiError> {
    let store = app.books.clearing.clone();
    let participants = app
        .blocking(move || {
            Ok(Registry::load(&store)?
                .all()
                .map(participant_view)
                .collect())
        })
        .await?;
    Reply::json(200, &ParticipantList { participants })
}

pub async fn participant(app: &App, param: Option<&str>) -> Result<Reply, ApiError> {
    let number = participant_number(param)?;
    let store = app.books.clearing.clone();
    let view = app
        .blocking(move || {
            Registry::load(&store)?
                .get(number)
                .map(participant_view)
                .ok_or_else(|| {
                    ClearingError::ParticipantNotFound {
                        participant: number,
                    }
                    .into()
                })
        })
        .await?;
    Reply::json(200, &view)
}

/// Loads the registry, changes it through the engine and saves it, one change at a time.
async fn change_registry(
    app: &App,
    number: u16,
    change: impl FnOnce(&mut Registry, &suanpan_clearing::store::Store, &Engine) -> Result<(), ClearingError>
        + Send
        + 'static,
) -> Result<ParticipantView, ApiError> {
    let (books, engine) = (app.books.clone(), app.engine.clone());
    app.blocking(move || {
        let _one_at_a_time = lock(&books.registry);
        let mut registry = Registry::load(&books.clearing)?;
        change(&mut registry, &books.clearing, &engine)?;
        registry.get(number).map(participant_view).ok_or_else(|| {
            ClearingError::ParticipantNotFound {
                participant: number,
            }
            .into()
        })
    })
    .await
}

pub async fn create_participant(
    app: &App,
    caller: &Caller,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let body: NewParticipantBody = crate::body::parse(bytes)?;
    let kind = ParticipantKind::parse(&body.kind).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("kind {:?} is not bank or payment_institution", body.kind),
        )
        .field("kind")
    })?;
    let number = body.number;
    let view = audited(
        app,
        caller,
        "create_participant",
        number.to_string(),
        change_registry(app, number, move |registry, store, engine| {
            registry.register(
                store,
                engine,
                number,
                &body.code,
                &body.name,
                kind,
                body.net_debit_cap.0,
            )
        }),
    )
    .await?;
    Reply::json(201, &view)
}

pub async fn set_status(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    suspend: bool,
) -> Result<Reply, ApiError> {
    let number = participant_number(param)?;
    let (action, status) = if suspend {
        ("suspend_participant", ParticipantStatus::Suspended)
    } else {
        ("activate_participant", ParticipantStatus::Active)
    };
    let view = audited(
        app,
        caller,
        action,
        number.to_string(),
        change_registry(app, number, move |registry, store, engine| {
            registry.set_status(store, engine, number, status)
        }),
    )
    .await?;
    Reply::json(200, &view)
}

pub async fn set_cap(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let number = participant_number(param)?;
    let body: CapBody = crate::body::parse(bytes)?;
    let view = audited(
        app,
        caller,
        "set_net_debit_cap",
        format!("{number}: {}", body.net_debit_cap.0),
        change_registry(app, number, move |registry, store, engine| {
            registry.set_cap(store, engine, number, body.net_debit_cap.0)
        }),
    )
    .await?;
    Reply::json(200, &view)
}

/// Closes the open clearing batch: a cut in the engine's sequence.
pub async fn close(app: &App, caller: &Caller) -> Result<Reply, ApiError> {
    let engine = app.engine.clone();
    let batch = audited(app, caller, "close_clearing_batch", String::new(), async {
        app.blocking(move || Ok(close_batch(&engine)?)).await
    })
    .await?;
    Reply::json(201, &BatchClosed { batch })
}

/// Posts the confirmed settlement of a closed batch (once; again answers the same postings).
pub async fn settle(app: &App, caller: &Caller, param: Option<&str>) -> Result<Reply, ApiError> {
    let batch = batch_number(param)?;
    let (dir, journal, engine) = (
        app.books.data_dir.clone(),
        app.books.journal.clone(),
        app.engine.clone(),
    );
    let postings = audited(
        app,
        caller,
        "settle_clearing_batch",
        batch.to_string(),
        async {
            app.blocking(move || {
                let cleared = clear_batch_at(&journal, &dir, batch, FeeSchedule::default())?;
                Ok(suanpan_clearing::settle_batch(&engine, &cleared)?)
            })
            .await
        },
    )
    .await?;
    Reply::json(
        200,
        &BatchSettled {
            batch,
            postings: postings as u64,
        },
    )
}

pub async fn report(
    app: &App,
    param: Option<&str>,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    let batch = batch_number(param)?;
    let bilateral = match app::query_value(query, "bilateral") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("bilateral {other:?} is not true or false"),
            )
            .field("bilateral"))
        }
    };
    let (dir, journal) = (app.books.data_dir.clone(), app.books.journal.clone());
    let cleared = app
        .blocking(move || {
            Ok(clear_batch_at(
                &journal,
                &dir,
                batch,
                FeeSchedule::default(),
            )?)
        })
        .await?;
    Reply::json(200, &BatchReport::new(batch, &cleared, bilateral))
}

/// Writes every participant's statement of a closed batch and records each as issued.
pub fn write_batch_statements(
    books: &crate::books::Books,
    batch: u64,
) -> Result<StatementsWritten, ClearingError> {
    let trailers = issue_statements(&books.clearing, &books.journal, &books.data_dir, batch)?;
    Ok(StatementsWritten {
        batch,
        statements: trailers
            .into_iter()
            .map(|t| StatementWritten {
                participant: t.participant,
                lines: t.lines,
                body_sha256: t.sha256_hex,
            })
            .collect(),
    })
}

pub async fn write(app: &App, caller: &Caller, param: Option<&str>) -> Result<Reply, ApiError> {
    let batch = batch_number(param)?;
    let books = app.books.clone();
    let written = audited(app, caller, "write_statements", batch.to_string(), async {
        app.blocking(move || {
            let _one_writer = lock(&books.statements);
            Ok(write_batch_statements(&books, batch)?)
        })
        .await
    })
    .await?;
    Reply::json(201, &written)
}

/// The participant whose statements a caller reads: a participant its own (naming another
/// finds nothing), an operator the one `?participant=` names (or every one, for a listing).
fn statement_owner(
    caller: &Caller,
    query: &[(String, String)],
    required: bool,
) -> Result<Option<u16>, ApiError> {
    let named = app::query_value(query, "participant")
        .map(|v| participant_number(Some(v)).map_err(|e| e.field("participant")))
        .transpose()?;
    match caller.owner() {
        Some(owner) => {
            let own = u16::try_from(owner)
                .ok()
                .filter(|n| (1..=PARTICIPANTS_MAX).contains(n));
            match (own, named) {
                (Some(own), None) => Ok(Some(own)),
                (Some(own), Some(n)) if n == own => Ok(Some(own)),
                // Not a clearing participant, or asking for another's: nothing to see.
                _ => Ok(Some(0)),
            }
        }
        None if required && named.is_none() => Err(ApiError::new(
            ErrorCode::PartyRequired,
            "an operator names the participant: ?participant=N",
        )
        .field("participant")),
        None => Ok(named),
    }
}

pub async fn statements(
    app: &App,
    caller: &Caller,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    let owner = statement_owner(caller, query, false)?;
    let store = app.books.clearing.clone();
    let statements = app
        .blocking(move || {
            let recorded = store
                .read(|c| suanpan_clearing::store::statements(c, owner, STATEMENTS_LIST_MAX))?;
            Ok(recorded
                .into_iter()
                .map(|r| StatementEntry {
                    batch: r.batch,
                    participant: r.participant,
                    bytes: r.bytes,
                    url: format!(
                        "/v1/clearing/statements/{}?participant={}",
                        r.batch, r.participant
                    ),
                })
                .collect())
        })
        .await?;
    Reply::json(200, &StatementList { statements })
}

/// A statement file as written (checked against its trailer), with its SHA-256 in the
/// `X-Suanpan-Sha256` header.
pub async fn statement(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    let batch = batch_number(param)?;
    let camt053 = match app::query_value(query, "format") {
        None | Some("csv") => false,
        Some("camt053") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("format {other:?} is not csv or camt053"),
            )
            .field("format"))
        }
    };
    let participant = statement_owner(caller, query, true)?.unwrap_or(0);
    let books = app.books.clone();
    let bytes = app
        .blocking(move || {
            if participant == 0 {
                return Err(ClearingError::StatementNotFound { batch, participant }.into());
            }
            let csv = issued_statement(
                &books.clearing,
                &books.journal,
                &books.data_dir,
                batch,
                participant,
                &books.statements,
            )?;
            if camt053 {
                return Ok(statement_camt053(&csv)?.into_bytes());
            }
            Ok(csv)
        })
        .await?;
    let digest = suanpan_ledger::hex(&Sha256::digest(&bytes));
    let mut reply = Reply::json(200, &())?;
    reply.body = bytes.into();
    reply.content_type = if camt053 {
        "application/xml; charset=utf-8"
    } else {
        "text/csv; charset=utf-8"
    };
    reply.headers.push(("x-suanpan-sha256", digest));
    Ok(reply)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// How long the schedule runner sleeps at a time, so that a stop is seen promptly.
const SCHEDULE_SLEEP_STEP_MS: u64 = 200;

/// The close schedule `serve` runs: at each scheduled time the open clearing batch closes
/// (the same cut in the sequence as a close on command) and every participant's statement of
/// it is written. Runs until `stop`; a failed close or statement is logged and the schedule
/// goes on.
pub fn run_close_schedule(
    engine: &Engine,
    books: &crate::books::Books,
    schedule: &CloseSchedule,
    utc_offset_s: i32,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Acquire) {
        let due_ns = schedule.next_after(now_ns(), utc_offset_s);
        while !stop.load(Ordering::Acquire) && now_ns() < due_ns {
            let left_ms = (due_ns - now_ns()) / 1_000_000;
            std::thread::sleep(Duration::from_millis(
                left_ms.clamp(1, SCHEDULE_SLEEP_STEP_MS),
            ));
        }
        if stop.load(Ordering::Acquire) {
            break;
        }
        let batch = match close_batch(engine) {
            Ok(batch) => batch,
            Err(e) => {
                log::log(
                    Level::Error,
                    "scheduled clearing close failed",
                    &[("code", &e.code()), ("error", &e)],
                );
                continue;
            }
        };
        log::log(
            Level::Info,
            "clearing batch closed by schedule",
            &[("batch", &batch)],
        );
        let _one_writer = lock(&books.statements);
        match write_batch_statements(books, batch) {
            Ok(w) => log::log(
                Level::Info,
                "statements written",
                &[("batch", &batch), ("statements", &w.statements.len())],
            ),
            Err(e) => log::log(
                Level::Error,
                "statements of a scheduled close not written",
                &[("batch", &batch), ("code", &e.code()), ("error", &e)],
            ),
        }
    }
}

/// Starts the close schedule on a thread of its own, if one is configured.
pub fn start_close_schedule(
    engine: Arc<Engine>,
    books: Arc<crate::books::Books>,
    schedule: Option<CloseSchedule>,
    utc_offset_s: i32,
    stop: Arc<AtomicBool>,
) -> Result<Option<std::thread::JoinHandle<()>>, String> {
    let Some(schedule) = schedule else {
        return Ok(None);
    };
    std::thread::Builder::new()
        .name("suanpan-clearing-schedule".into())
        .spawn(move || run_close_schedule(&engine, &books, &schedule, utc_offset_s, &stop))
        .map(Some)
        .map_err(|e| format!("cannot start the clearing schedule thread: {e}"))
}
