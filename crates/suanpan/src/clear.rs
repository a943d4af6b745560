//! `suanpan clear ...`: participants, payments and refunds, closing a clearing batch, its
//! report, its settlement and its statement files. Commands that change the books start the
//! engine on the data directory (so no server may hold it); report and statements only read.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use lexopt::prelude::*;
use suanpan_clearing::store::Store;
use suanpan_clearing::{
    clear_batch_at, close_batch, pay, refund, settle_batch, write_statements, ClearedBatch,
    FeeSchedule, ParticipantKind, ParticipantStatus, Payment, Refund, Registry, TransactionKind,
};
use suanpan_engine::{Engine, EngineConfig};
use suanpan_journal::JournalLocation;
use suanpan_ledger::Reference;

use crate::json::JsonLine;
use crate::parse_value;

const HELP: &str = "usage: suanpan clear <command> --data DIR [flags]

commands:
  participant add --number N --code C --name NAME --kind bank|payment_institution --cap-fen N
  participant cap --number N --cap-fen N     set a participant's net debit cap
  participant suspend|activate --number N
  participant list
  pay --id N --payer N --payee N --amount-fen N [--kind KIND] [--reference TEXT]
  refund --original ID --number K --amount-fen N
  close                            close the open clearing batch; prints its number
  report BATCH [--bilateral]       gross, net and settlement figures of a closed batch
  settle BATCH                     post the confirmed settlement of a closed batch
  statements BATCH --out DIR [--camt053]
                                   write every participant's statement file for the batch
                                   (with --camt053 also each as ISO 20022 camt.053.001.08 XML)

--json prints one JSON object instead of text. KIND: agreement_payment, payout,
gateway_payment. Amounts are integers of fen. --postgres URL: the journal, the participants
and the record of statements issued are in that PostgreSQL database (--data DIR still holds
the clearing cut index, a cache).";

#[derive(Default)]
struct Options {
    words: Vec<String>,
    data: Option<PathBuf>,
    postgres: Option<String>,
    out: Option<PathBuf>,
    number: Option<u64>,
    code: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    cap_fen: Option<u64>,
    id: Option<u128>,
    payer: Option<u16>,
    payee: Option<u16>,
    amount_fen: Option<u64>,
    reference: Option<String>,
    original: Option<u128>,
    bilateral: bool,
    json: bool,
    camt053: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Value(word) => o.words.push(word.to_string_lossy().into_owned()),
            Long("data") => o.data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("postgres") => o.postgres = Some(parse_value(&mut parser, "--postgres")?),
            Long("out") => o.out = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("number") => o.number = Some(parse_value(&mut parser, "--number")?),
            Long("code") => o.code = Some(parse_value(&mut parser, "--code")?),
            Long("name") => o.name = Some(parse_value(&mut parser, "--name")?),
            Long("kind") => o.kind = Some(parse_value(&mut parser, "--kind")?),
            Long("cap-fen") => o.cap_fen = Some(parse_value(&mut parser, "--cap-fen")?),
            Long("id") => o.id = Some(parse_value(&mut parser, "--id")?),
            Long("payer") => o.payer = Some(parse_value(&mut parser, "--payer")?),
            Long("payee") => o.payee = Some(parse_value(&mut parser, "--payee")?),
            Long("amount-fen") => o.amount_fen = Some(parse_value(&mut parser, "--amount-fen")?),
            Long("reference") => o.reference = Some(parse_value(&mut parser, "--reference")?),
            Long("original") => o.original = Some(parse_value(&mut parser, "--original")?),
            Long("bilateral") => o.bilateral = true,
            Long("json") => o.json = true,
            Long("camt053") => o.camt053 = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Some(o))
}

fn need<T: Clone>(value: &Option<T>, flag: &str) -> Result<T, String> {
    value
        .clone()
        .ok_or_else(|| format!("this command needs {flag}"))
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let words: Vec<&str> = o.words.iter().map(String::as_str).collect();
    let data = need(&o.data, "--data DIR")?;
    let journal = match &o.postgres {
        Some(url) => JournalLocation::Postgres(
            suanpan_journal::postgres::connect(url).map_err(|e| e.to_string())?,
        ),
        None => JournalLocation::Sqlite(data.clone()),
    };
    let with_engine = |f: &dyn Fn(&Engine) -> Result<(), String>| with_engine(&journal, &data, f);
    match words[..] {
        // A data directory not made yet has no participants (and is not made by listing).
        ["participant", "list"]
            if matches!(journal, JournalLocation::Sqlite(_)) && !data.is_dir() =>
        {
            Ok(())
        }
        ["participant", "list"] => list_participants(&clearing_store(&journal, &data)?, o.json),
        // The store is opened once the engine has made the data directory.
        ["participant", action] => with_engine(&|engine| {
            participant(engine, &clearing_store(&journal, &data)?, action, &o)
        }),
        ["pay"] => with_engine(&|engine| post_payment(engine, &o)),
        ["refund"] => with_engine(&|engine| post_refund(engine, &o)),
        ["close"] => with_engine(&|engine| {
            let batch = close_batch(engine).map_err(|e| e.to_string())?;
            print_line(
                o.json,
                JsonLine::default().num("closed_batch", batch),
                || format!("closed clearing batch {batch}"),
            );
            Ok(())
        }),
        ["report", batch] => report(&journal, &data, parse_batch(batch)?, &o),
        ["settle", batch] => {
            let cleared = read(&journal, &data, parse_batch(batch)?, o.json)?;
            with_engine(&|engine| {
                let postings = settle_batch(engine, &cleared).map_err(|e| e.to_string())?;
                let batch = cleared.bounds.batch;
                print_line(
                    o.json,
                    JsonLine::default()
                        .num("settled_batch", batch)
                        .num("postings", postings),
                    || format!("settled batch {batch}: {postings} postings"),
                );
                Ok(())
            })
        }
        ["statements", batch] => {
            let store = clearing_store(&journal, &data)?;
            statements(&journal, &data, &store, parse_batch(batch)?, &o)
        }
        _ => Err(format!(
            "unknown clear command {:?}; run `suanpan clear --help`",
            o.words.join(" ")
        )),
    }
}

/// The clearing room's store, where an operator's command finds it.
fn clearing_store(journal: &JournalLocation, data: &Path) -> Result<Store, String> {
    suanpan_clearing::store::open(&crate::operator_home(journal, data), data)
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn parse_batch(text: &str) -> Result<u64, String> {
    text.parse()
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("batch {text:?} is not a batch number (1, 2, ...)"))
}

fn print_line(json: bool, line: JsonLine, text: impl FnOnce() -> String) {
    if json {
        println!("{}", line.finish());
    } else {
        println!("{}", text());
    }
}

fn with_engine(
    journal: &JournalLocation,
    data: &Path,
    f: &dyn Fn(&Engine) -> Result<(), String>,
) -> Result<(), String> {
    let mut config = EngineConfig::new(data);
    if let JournalLocation::Postgres(db) = journal {
        config.postgres = Some(suanpan_engine::PostgresConfig {
            db: db.clone(),
            node: "clear".into(),
            standby: false,
            lease_ttl: suanpan_engine::LEASE_TTL_DEFAULT,
        });
    }
    let engine = Engine::start(config).map_err(|e| e.to_string())?;
    let outcome = f(&engine);
    let stopped = engine.shutdown().map_err(|e| e.to_string());
    outcome.and(stopped)
}

fn participant(engine: &Engine, store: &Store, action: &str, o: &Options) -> Result<(), String> {
    let mut registry = Registry::load(store).map_err(|e| e.to_string())?;
    let number_wide = need(&o.number, "--number N")?;
    let number = u16::try_from(number_wide)
        .map_err(|_| format!("--number {number_wide} is not a participant number"))?;
    let outcome = match action {
        "add" => {
            let kind_text = need(&o.kind, "--kind bank|payment_institution")?;
            let kind = ParticipantKind::parse(&kind_text).ok_or_else(|| {
                format!("--kind {kind_text:?} is not bank or payment_institution")
            })?;
            registry.register(
                store,
                engine,
                number,
                &need(&o.code, "--code C")?,
                &need(&o.name, "--name NAME")?,
                kind,
                need(&o.cap_fen, "--cap-fen N")?,
            )
        }
        "cap" => registry.set_cap(store, engine, number, need(&o.cap_fen, "--cap-fen N")?),
        "suspend" => registry.set_status(store, engine, number, ParticipantStatus::Suspended),
        "activate" => registry.set_status(store, engine, number, ParticipantStatus::Active),
        other => return Err(format!("unknown participant command {other:?}")),
    };
    outcome.map_err(|e| format!("{}: {e}", e.code()))?;
    print_line(
        o.json,
        JsonLine::default()
            .str("participant", action)
            .num("number", number),
        || format!("participant {number}: {action} done"),
    );
    Ok(())
}

fn list_participants(store: &Store, json: bool) -> Result<(), String> {
    let registry = Registry::load(store).map_err(|e| e.to_string())?;
    for p in registry.all() {
        let line = JsonLine::default()
            .num("number", p.number)
            .str("code", &p.code)
            .str("name", &p.name)
            .str("kind", p.kind.as_str())
            .str("status", p.status.as_str())
            .num("net_debit_cap_fen", p.net_debit_cap_fen);
        print_line(json, line, || {
            format!(
                "{:>4} {:<16} {:<20} {:<10} cap {} fen  {}",
                p.number,
                p.code,
                p.kind.as_str(),
                p.status.as_str(),
                p.net_debit_cap_fen,
                p.name
            )
        });
    }
    Ok(())
}

fn post_payment(engine: &Engine, o: &Options) -> Result<(), String> {
    let kind_text = o.kind.clone().unwrap_or_else(|| "agreement_payment".into());
    let kind = TransactionKind::parse(&kind_text)
        .ok_or_else(|| format!("--kind {kind_text:?} is not a transaction kind"))?;
    let reference_text = o.reference.clone().unwrap_or_default();
    let reference = Reference::new(reference_text.as_bytes())
        .ok_or_else(|| format!("--reference is longer than {} bytes", Reference::LEN_MAX))?;
    let payment = Payment {
        id: need(&o.id, "--id N")?,
        payer: need(&o.payer, "--payer N")?,
        payee: need(&o.payee, "--payee N")?,
        amount_fen: need(&o.amount_fen, "--amount-fen N")?,
        kind,
        reference,
    };
    let result = pay(engine, &payment).map_err(|e| format!("{}: {e}", e.code()))?;
    print_line(
        o.json,
        JsonLine::default().str("result", result.as_str()),
        || format!("payment {}: {result}", payment.id),
    );
    Ok(())
}

fn post_refund(engine: &Engine, o: &Options) -> Result<(), String> {
    let number_wide = need(&o.number, "--number K")?;
    let r = Refund {
        original: need(&o.original, "--original ID")?,
        number: u8::try_from(number_wide)
            .map_err(|_| format!("--number {number_wide} is too large"))?,
        amount_fen: need(&o.amount_fen, "--amount-fen N")?,
    };
    let (id, result) = refund(engine, &r).map_err(|e| format!("{}: {e}", e.code()))?;
    print_line(
        o.json,
        JsonLine::default()
            .str("refund_id", &id.to_string())
            .str("result", result.as_str()),
        || format!("refund {} of {}: {result} (id {id})", r.number, r.original),
    );
    Ok(())
}

fn read(
    journal: &JournalLocation,
    data: &Path,
    batch: u64,
    quiet: bool,
) -> Result<ClearedBatch, String> {
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!("reading clearing batch {batch} from the journal...");
    }
    clear_batch_at(journal, data, batch, FeeSchedule::default())
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn report(journal: &JournalLocation, data: &Path, batch: u64, o: &Options) -> Result<(), String> {
    let cleared = read(journal, data, batch, o.json)?;
    let n = &cleared.netting;
    let b = &cleared.bounds;
    if o.json {
        // The HTTP report's document, so the command line and the API say the same.
        let report = suanpan_api::books_wire::BatchReport::new(batch, &cleared, o.bilateral);
        let line = serde_json::to_string(&report).map_err(|e| e.to_string())?;
        println!("{line}");
        return Ok(());
    }
    println!(
        "clearing batch {batch}: {} transactions, {} fen, journal batches {}..={}; net positions sum to zero",
        n.transactions(),
        n.amount_fen(),
        b.first_seq,
        b.last_seq
    );
    println!(
        "participant  paid_count  paid_fen  received_count  received_fen  net_fen  settlement"
    );
    for p in n.active_positions() {
        let settlement = match p.net_fen() {
            0 => "none".to_string(),
            net if net < 0 => format!("pays {}", -net),
            net => format!("receives {net}"),
        };
        println!(
            "{:>11}  {:>10}  {:>8}  {:>14}  {:>12}  {:>7}  {settlement}",
            p.participant,
            p.paid_count,
            p.paid_fen,
            p.received_count,
            p.received_fen,
            p.net_fen()
        );
    }
    if o.bilateral {
        println!("bilateral: a  b  a_paid_b_fen  b_paid_a_fen  net_a_fen");
        for net in n.bilateral_nets() {
            println!(
                "{:>12} {:>2}  {:>12}  {:>12}  {:>9}",
                net.a,
                net.b,
                net.a_paid_b_fen,
                net.b_paid_a_fen,
                net.net_a_fen()
            );
        }
    }
    Ok(())
}

fn statements(
    journal: &JournalLocation,
    data: &Path,
    store: &Store,
    batch: u64,
    o: &Options,
) -> Result<(), String> {
    let out = need(&o.out, "--out DIR")?;
    let registry = Registry::load(store).map_err(|e| e.to_string())?;
    let cleared = read(journal, data, batch, o.json)?;
    let bar = std::io::stderr().is_terminal() && !o.json;
    let progress = |done: usize, total: usize| {
        if bar {
            let filled = done * 30 / total.max(1);
            eprint!(
                "\rstatements [{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
        }
    };
    let trailers = write_statements(&out, &cleared, &registry, &progress)
        .map_err(|e| format!("{}: {e}", e.code()))?;
    if bar {
        eprintln!();
    }
    if o.camt053 {
        for t in &trailers {
            write_camt053(&out, batch, t.participant)?;
        }
    }
    let lines: u64 = trailers.iter().map(|t| t.lines).sum();
    print_line(
        o.json,
        JsonLine::default()
            .num("batch", batch)
            .num("statements", trailers.len())
            .num("lines", lines),
        || {
            format!(
                "wrote {} statements of batch {batch} ({lines} lines) to {}",
                trailers.len(),
                out.display()
            )
        },
    );
    Ok(())
}

/// Writes a statement's camt.053 beside it, made from the CSV as written (complete or absent,
/// like the CSV).
fn write_camt053(out: &Path, batch: u64, participant: u16) -> Result<(), String> {
    let (csv, _) = suanpan_clearing::read_statement(out, batch, participant)
        .map_err(|e| format!("{}: {e}", e.code()))?;
    let xml =
        suanpan_clearing::statement_camt053(&csv).map_err(|e| format!("{}: {e}", e.code()))?;
    let path = out.join(suanpan_clearing::camt053_file_name(batch, participant));
    let temporary = out.join(format!(
        ".{}.partial",
        suanpan_clearing::camt053_file_name(batch, participant)
    ));
    std::fs::write(&temporary, xml)
        .and_then(|()| std::fs::File::open(&temporary)?.sync_all())
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
