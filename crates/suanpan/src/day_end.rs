//! `suanpan day-end ...`: the day-end batch of an accounting date, its status, the reports,
//! suspense items and write-off. Flags are parsed here; the work is the accounting room's.

use std::io::Write as _;
use std::path::PathBuf;

use lexopt::prelude::*;
use suanpan_accounting::{
    Accounting, Category, DayEndEvent, DayEndOptions, DayEndReport, Step, SubjectBalance,
};
use suanpan_ledger::AccountingDate;

use crate::json::JsonLine;
use crate::parse_value;

const HELP: &str = "usage: suanpan day-end --data DIR [--date YYYY-MM-DD] [--until STEP] [--json]
       suanpan day-end status --data DIR [--date YYYY-MM-DD] [--json]
       suanpan day-end report --data DIR --date YYYY-MM-DD [--table trial-balance|subject-balances|gl-check] [--json]
       suanpan day-end vouchers --data DIR --date YYYY-MM-DD [--from N] [--limit N]
       suanpan day-end suspense --data DIR [--all] [--json]
       suanpan day-end write-off --data DIR --item ID [--item ID ...] --operator NAME [--against SUBJECT] [--note TEXT]
       suanpan day-end rule --data DIR --code N --debit SOURCE --credit SOURCE --operator NAME [--name TEXT]
       suanpan day-end subject --data DIR [--add CODE --name TEXT --category C [--gl-only] | --delete CODE] --operator NAME
       suanpan day-end cutover --data DIR [--json]

Every subcommand also takes --postgres URL: the journal and the accounting books are in that
PostgreSQL database (the report files are written under --data DIR). While a server leads on
that database, run the day-end through its API: one command at a time holds the books.

Runs the day-end batch (日终) of a closed accounting date (without --date: of every closed
date not yet day-ended, oldest first), continuing from its first unfinished step: reconcile, catch_up, supplement, general_ledger, trial_balance, daily_balances,
gl_check, suspense, period_roll_up, reports. Here the reconcile step only checks that every
channel reconciled on DIR before has a run of the date (the server's day-end fetches the bills
and books the resolutions; `suanpan recon run` does one channel) and stops if one has not. The journal is only read; accounting keeps its
books in DIR/accounting.db and writes the reports to DIR/reports/DATE/. A GL-vs-sub-ledger
difference is posted to suspense and reported, never a reason to stop.

A rule's SOURCE is debit_account, credit_account (the subject of that account) or a subject code.
A subject's category is asset, liability, equity, common, income or expense; `subject` with
neither --add nor --delete lists the chart. `cutover` moves the books to the next accounting
date now (日切 on command), as a command in the engine's sequence; like `suanpan clear close` it
starts the engine on DIR, so no server may hold it (a running server takes
POST /v1/accounting/cutover instead).";

pub fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("status") => status(&args[1..]),
        Some("report") => report(&args[1..]),
        Some("vouchers") => vouchers(&args[1..]),
        Some("suspense") => suspense(&args[1..]),
        Some("write-off") => write_off(&args[1..]),
        Some("rule") => rule(&args[1..]),
        Some("subject") => subject(&args[1..]),
        Some("cutover") => cutover(&args[1..]),
        _ => run(args),
    }
}

#[derive(Default)]
struct Flags {
    data: Option<PathBuf>,
    postgres: Option<String>,
    date: Option<AccountingDate>,
    until: Option<Step>,
    json: bool,
    all: bool,
    table: Option<String>,
    from: Option<u64>,
    limit: Option<usize>,
    items: Vec<i64>,
    operator: Option<String>,
    against: Option<String>,
    note: Option<String>,
    code: Option<u16>,
    debit: Option<String>,
    credit: Option<String>,
    name: Option<String>,
    add: Option<String>,
    delete: Option<String>,
    category: Option<String>,
    gl_only: bool,
}

fn text(parser: &mut lexopt::Parser) -> Result<String, String> {
    parser
        .value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|v| format!("{v:?} is not UTF-8"))
}

/// Parses every flag the subcommands know; `allowed` names those this one takes.
fn parse(args: &[String], allowed: &[&str]) -> Result<Option<Flags>, String> {
    let mut f = Flags::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let name = match &arg {
            Long(name) => name.to_string(),
            Short('h') => "help".into(),
            _ => return Err(arg.unexpected().to_string()),
        };
        if name == "help" {
            println!("{HELP}");
            return Ok(None);
        }
        // Wherever the data directory is asked for, the journal may be on PostgreSQL.
        let takes =
            allowed.contains(&name.as_str()) || (name == "postgres" && allowed.contains(&"data"));
        if !takes {
            return Err(format!(
                "--{name} is not a flag of this command; run `suanpan day-end --help`"
            ));
        }
        match name.as_str() {
            "data" => f.data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            "postgres" => f.postgres = Some(text(&mut parser)?),
            "date" => {
                let value = text(&mut parser)?;
                f.date = Some(AccountingDate::parse(&value).ok_or_else(|| {
                    format!("--date {value:?} is not a date of the form YYYY-MM-DD")
                })?);
            }
            "until" => f.until = Some(Step::parse(&text(&mut parser)?).map_err(|e| e.to_string())?),
            "json" => f.json = true,
            "all" => f.all = true,
            "table" => f.table = Some(text(&mut parser)?),
            "from" => f.from = Some(parse_value(&mut parser, "--from")?),
            "limit" => f.limit = Some(parse_value(&mut parser, "--limit")?),
            "item" => f.items.push(parse_value(&mut parser, "--item")?),
            "operator" => f.operator = Some(text(&mut parser)?),
            "against" => f.against = Some(text(&mut parser)?),
            "note" => f.note = Some(text(&mut parser)?),
            "code" => f.code = Some(parse_value(&mut parser, "--code")?),
            "debit" => f.debit = Some(text(&mut parser)?),
            "credit" => f.credit = Some(text(&mut parser)?),
            "name" => f.name = Some(text(&mut parser)?),
            "add" => f.add = Some(text(&mut parser)?),
            "delete" => f.delete = Some(text(&mut parser)?),
            "category" => f.category = Some(text(&mut parser)?),
            "gl-only" => f.gl_only = true,
            _ => return Err(format!("--{name} is not known")),
        }
    }
    Ok(Some(f))
}

fn required<T>(value: Option<T>, flag: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{flag} is required; run `suanpan day-end --help`"))
}

fn open(f: &Flags) -> Result<Accounting, String> {
    let data = required(f.data.as_ref(), "--data")?;
    let journal = match &f.postgres {
        Some(url) => suanpan_journal::JournalLocation::Postgres(
            suanpan_journal::postgres::connect(url).map_err(|e| e.to_string())?,
        ),
        None => {
            if !suanpan_journal::db_path(data).exists() {
                return Err(format!("{} holds no journal", data.display()));
            }
            suanpan_journal::JournalLocation::Sqlite(data.clone())
        }
    };
    // With --postgres the books are beside the journal, held against a second command's by
    // the room.
    let home = crate::operator_home(&journal, data);
    Accounting::open_in(data, &home, &journal).map_err(|e| format!("{} ({})", e, e.code()))
}

/// Opens the books with the journal read to its end: what a reader asks about is what has
/// been committed.
fn open_current(f: &Flags) -> Result<Accounting, String> {
    let mut accounting = open(f)?;
    accounting.catch_up(&mut |_, _| {}).map_err(fail)?;
    Ok(accounting)
}

fn fail(e: suanpan_accounting::AccountingError) -> String {
    format!("{e} ({})", e.code())
}

fn run(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "date", "until", "json"])? else {
        return Ok(());
    };
    let mut accounting = open(&f)?;
    let dates = match f.date {
        Some(date) => vec![date],
        None => pending_dates(&mut accounting)?,
    };
    if dates.is_empty() {
        println!("no closed date waits for its day-end");
    }
    let data = required(f.data.as_ref(), "--data")?.clone();
    for date in dates {
        if !run_one(&mut accounting, &data, date, &f)? {
            break;
        }
    }
    Ok(())
}

/// Every cut-over date whose day-end is not complete, oldest first.
fn pending_dates(accounting: &mut Accounting) -> Result<Vec<AccountingDate>, String> {
    accounting.catch_up(&mut |_, _| {}).map_err(fail)?;
    Ok(accounting
        .status(None)
        .map_err(fail)?
        .into_iter()
        .filter(|s| s.closed && !s.complete())
        .map(|s| s.accounting_date)
        .collect())
}

/// Runs one date's day-end; true when it completed.
fn run_one(
    accounting: &mut Accounting,
    data: &std::path::Path,
    date: AccountingDate,
    f: &Flags,
) -> Result<bool, String> {
    let mut progress = Progress::new();
    let report = accounting
        .day_end_with(
            date,
            DayEndOptions { until: f.until },
            &mut suanpan_recon::room::Recorded {
                dir: data.to_path_buf(),
                postgres: match &f.postgres {
                    Some(url) => {
                        Some(suanpan_store::postgres::PgDb::open(url).map_err(|e| e.to_string())?)
                    }
                    None => None,
                },
            },
            &mut |event| progress.show(event),
        )
        .map_err(fail)?;
    warn_differences(&report);
    if f.json {
        println!("{}", report_json(&report));
    } else {
        println!(
            "day-end {}: {}; journal head {} (keep it for `suanpan verify --anchor`)",
            report.accounting_date,
            if report.complete {
                "complete"
            } else {
                "stopped as asked"
            },
            report.journal_head
        );
    }
    Ok(report.complete)
}

/// A difference is reported loudly: on stderr, whatever else is printed.
fn warn_differences(report: &DayEndReport) {
    for d in &report.differences {
        eprintln!(
            "suanpan: WARNING: {} GL vs sub-ledger difference on {} {}: general ledger {}, sub-ledgers {}; posted to suspense",
            report.accounting_date, d.subject_code, d.currency, d.gl_balance, d.sub_ledger_balance
        );
    }
    let open = &report.open_suspense_items;
    if let Some(oldest) = open
        .iter()
        .map(|i| i.age_days(report.accounting_date))
        .max()
    {
        eprintln!(
            "suanpan: WARNING: {} suspense items open, the oldest {oldest} days; see `suanpan day-end suspense`",
            open.len()
        );
    }
}

fn report_json(report: &DayEndReport) -> String {
    let mut line = JsonLine::default()
        .str("accounting_date", &report.accounting_date.to_string())
        .bool("complete", report.complete)
        .num("differences", report.differences.len())
        .num("open_suspense_items", report.open_suspense_items.len())
        .str("journal_head", &report.journal_head);
    for s in &report.steps {
        line = line.num(&format!("{}_ms", s.step.as_str()), s.elapsed_ms);
    }
    line.finish()
}

/// Progress per step: a redrawn bar when stderr is a terminal, plain lines otherwise.
struct Progress {
    terminal: bool,
}

impl Progress {
    fn new() -> Progress {
        // SAFETY: isatty only inspects the descriptor.
        let terminal = unsafe { libc::isatty(2) } == 1;
        Progress { terminal }
    }

    fn show(&mut self, event: &DayEndEvent) {
        let mut err = std::io::stderr().lock();
        match *event {
            DayEndEvent::Started(step) if self.terminal => {
                let _ = write!(err, "\r{:<15} [{}]   0%", step.as_str(), " ".repeat(30));
            }
            DayEndEvent::Progress { step, done, total } if self.terminal && total > 0 => {
                let filled = (done.min(total) * 30 / total) as usize;
                let _ = write!(
                    err,
                    "\r{:<15} [{}{}] {:>3}%",
                    step.as_str(),
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    done.min(total) * 100 / total
                );
            }
            DayEndEvent::Finished {
                step,
                skipped,
                elapsed_ms,
                summary,
            } => {
                let clear = if self.terminal { "\r\x1b[2K" } else { "" };
                let when = if skipped {
                    "done before".to_string()
                } else {
                    format!("{elapsed_ms} ms")
                };
                let _ = writeln!(err, "{clear}{:<15} {when:>12}  {summary}", step.as_str());
            }
            _ => {}
        }
    }
}

fn status(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "date", "json"])? else {
        return Ok(());
    };
    let accounting = open_current(&f)?;
    for s in accounting.status(f.date).map_err(fail)? {
        let done: Vec<&str> = s.steps.iter().map(|(step, _)| step.as_str()).collect();
        if f.json {
            println!(
                "{}",
                JsonLine::default()
                    .str("accounting_date", &s.accounting_date.to_string())
                    .num("transfers", s.transfers)
                    .num("vouchers", s.vouchers)
                    .num("unmatched", s.unmatched)
                    .bool("closed", s.closed)
                    .bool("complete", s.complete())
                    .str("steps_done", &done.join(","))
                    .finish()
            );
        } else {
            let state = match (s.complete(), s.closed, done.len()) {
                (true, _, _) => "day-end complete".to_string(),
                (false, false, _) => "open (not cut over)".to_string(),
                (false, true, 0) => "closed, day-end not started".to_string(),
                (false, true, n) => format!("day-end at step {} of {}", n + 1, Step::ALL.len()),
            };
            println!(
                "{}  {:>10} transfers  {:>10} vouchers  {:>6} without rule  {state}",
                s.accounting_date, s.transfers, s.vouchers, s.unmatched
            );
        }
    }
    Ok(())
}

fn report(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "date", "table", "json"])? else {
        return Ok(());
    };
    let date = required(f.date, "--date")?;
    let accounting = open_current(&f)?;
    match f.table.as_deref().unwrap_or("trial-balance") {
        "trial-balance" => {
            let rows: Vec<SubjectBalance> = accounting
                .subject_balances(date)
                .map_err(fail)?
                .into_iter()
                .filter(|r| r.level == 1)
                .collect();
            print_balances(&rows, f.json);
            for t in accounting.trial_balance(date).map_err(fail)? {
                let line = JsonLine::default()
                    .str("currency", t.currency.as_str())
                    .num("debits", t.debits)
                    .num("credits", t.credits)
                    .num("closing_sum", t.closing_sum)
                    .bool("balanced", t.balanced());
                if f.json {
                    println!("{}", line.finish());
                } else {
                    println!(
                        "total {}: debits {} credits {} {}",
                        t.currency,
                        t.debits,
                        t.credits,
                        if t.balanced() {
                            "balanced"
                        } else {
                            "NOT BALANCED"
                        }
                    );
                }
            }
        }
        "subject-balances" => {
            print_balances(&accounting.subject_balances(date).map_err(fail)?, f.json)
        }
        "gl-check" => {
            for r in accounting.gl_check(date).map_err(fail)? {
                let line = JsonLine::default()
                    .str("subject_code", &r.subject_code)
                    .str("currency", r.currency.as_str())
                    .num("gl_balance", r.gl_balance)
                    .num("sub_ledger_balance", r.sub_ledger_balance)
                    .num("difference", r.difference());
                if f.json {
                    println!("{}", line.finish());
                } else {
                    println!(
                        "{:<10} {} GL {:>20} sub-ledgers {:>20} difference {}",
                        r.subject_code,
                        r.currency,
                        r.gl_balance,
                        r.sub_ledger_balance,
                        r.difference()
                    );
                }
            }
        }
        other => {
            return Err(format!(
                "--table {other:?} is not one of trial-balance, subject-balances, gl-check"
            ))
        }
    }
    Ok(())
}

fn print_balances(rows: &[SubjectBalance], json: bool) {
    if !json {
        println!("subject_code,currency,opening,debits,credits,closing (balances debit-side)");
    }
    for r in rows {
        if json {
            println!(
                "{}",
                JsonLine::default()
                    .str("subject_code", &r.subject_code)
                    .str("name", &r.name)
                    .str("currency", r.currency.as_str())
                    .num("opening", r.opening)
                    .num("debits", r.debits)
                    .num("credits", r.credits)
                    .num("closing", r.closing)
                    .finish()
            );
        } else {
            println!(
                "{},{},{},{},{},{}",
                r.subject_code, r.currency, r.opening, r.debits, r.credits, r.closing
            );
        }
    }
}

fn vouchers(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "date", "from", "limit"])? else {
        return Ok(());
    };
    let date = required(f.date, "--date")?;
    let accounting = open_current(&f)?;
    let list = accounting
        .vouchers(date, f.from.unwrap_or(1), f.limit.unwrap_or(100))
        .map_err(fail)?;
    println!("voucher,kind,transfer_id,code,currency,side,subject_code,account_id,amount");
    for v in list {
        for line in &v.lines {
            println!(
                "{}-{}-{},{},{},{},{},{},{},{},{}",
                v.accounting_date,
                v.series,
                v.number,
                v.kind,
                v.transfer_id.map_or_else(String::new, |t| t.to_string()),
                v.code.map_or_else(String::new, |c| c.to_string()),
                v.currency,
                line.side.as_str(),
                line.subject_code,
                line.account_id.map_or_else(String::new, |a| a.to_string()),
                line.amount
            );
        }
    }
    Ok(())
}

fn suspense(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "all", "json"])? else {
        return Ok(());
    };
    let accounting = open_current(&f)?;
    let today = accounting.open_date().unwrap_or_default();
    for item in accounting.suspense_items(!f.all).map_err(fail)? {
        let line = JsonLine::default()
            .num("id", item.id)
            .str("accounting_date", &item.accounting_date.to_string())
            .str("subject_code", &item.subject_code)
            .str("currency", item.currency.as_str())
            .num("amount", item.amount)
            .str("status", if item.open { "open" } else { "written_off" })
            .num("age_days", item.age_days(today))
            .str("origin", &item.origin);
        if f.json {
            println!("{}", line.finish());
        } else {
            println!(
                "#{} {} {} {} {:>12} {} {} days: {}",
                item.id,
                item.accounting_date,
                item.subject_code,
                item.currency,
                item.amount,
                if item.open { "open" } else { "written off" },
                item.age_days(today),
                item.origin
            );
        }
    }
    Ok(())
}

fn write_off(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "item", "operator", "against", "note"])? else {
        return Ok(());
    };
    if f.items.is_empty() {
        return Err("--item is required (one or more suspense item ids)".into());
    }
    let operator = required(f.operator.clone(), "--operator")?;
    let mut accounting = open(&f)?;
    let done = accounting
        .write_off(
            &f.items,
            f.against.as_deref(),
            &operator,
            f.note.as_deref().unwrap_or(""),
        )
        .map_err(fail)?;
    println!(
        "wrote off items {:?} with vouchers {:?} of {}",
        done.items, done.voucher_numbers, done.accounting_date
    );
    Ok(())
}

fn rule(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(
        args,
        &["data", "code", "debit", "credit", "operator", "name"],
    )?
    else {
        return Ok(());
    };
    let code = required(f.code, "--code")?;
    let debit = required(f.debit.clone(), "--debit")?;
    let credit = required(f.credit.clone(), "--credit")?;
    let operator = required(f.operator.clone(), "--operator")?;
    let mut accounting = open(&f)?;
    let name = f.name.clone().unwrap_or_else(|| format!("code {code}"));
    let change = accounting
        .set_rule(code, &name, &debit, &credit, &operator)
        .map_err(fail)?;
    println!(
        "rule for code {code} (version {}): debit {debit}, credit {credit}, for the transfers committed after journal batch {}",
        change.version, change.effective_after
    );
    Ok(())
}

fn subject(args: &[String]) -> Result<(), String> {
    let flags = [
        "data", "add", "delete", "name", "category", "gl-only", "operator",
    ];
    let Some(f) = parse(args, &flags)? else {
        return Ok(());
    };
    let mut accounting = open(&f)?;
    match (&f.add, &f.delete) {
        (Some(code), None) => {
            let operator = required(f.operator.clone(), "--operator")?;
            let name = required(f.name.clone(), "--name")?;
            let text = required(f.category.clone(), "--category")?;
            let category = Category::parse(&text).ok_or_else(|| {
                format!("--category {text:?} is not one of asset, liability, equity, common, income, expense")
            })?;
            accounting
                .add_subject(code, &name, category, f.gl_only, &operator)
                .map_err(fail)?;
            println!("added subject {code}");
        }
        (None, Some(code)) => {
            let operator = required(f.operator.clone(), "--operator")?;
            accounting.delete_subject(code, &operator).map_err(fail)?;
            println!("deleted subject {code}");
        }
        (None, None) => {
            for s in &accounting.chart().subjects {
                println!(
                    "{:<10} {:<10} {:<6} {}{}",
                    s.code,
                    s.category.as_str(),
                    s.category.normal_side().as_str(),
                    s.name,
                    if s.gl_only { " [GL only]" } else { "" }
                );
            }
        }
        (Some(_), Some(_)) => return Err("give --add or --delete, not both".into()),
    }
    Ok(())
}

/// The day cutover on command: one `Cutover` to the day after the books' date.
fn cutover(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, &["data", "json"])? else {
        return Ok(());
    };
    let data = required(f.data.as_ref(), "--data")?;
    let mut config = suanpan_engine::EngineConfig::new(data);
    if let Some(url) = &f.postgres {
        config.postgres = Some(suanpan_engine::PostgresConfig {
            db: suanpan_journal::postgres::connect(url).map_err(|e| e.to_string())?,
            node: "day-end".into(),
            standby: false,
            lease_ttl: suanpan_engine::LEASE_TTL_DEFAULT,
        });
    }
    let engine = suanpan_engine::Engine::start(config).map_err(|e| e.to_string())?;
    let outcome = cut_over(&engine);
    let stopped = engine.shutdown().map_err(|e| e.to_string());
    let (closed, next) = outcome?;
    stopped?;
    if f.json {
        println!(
            "{}",
            JsonLine::default()
                .str("closed_date", &closed.to_string())
                .str("accounting_date", &next.to_string())
                .finish()
        );
    } else {
        println!("cut over: {closed} closed, the books are on {next}");
    }
    Ok(())
}

fn cut_over(engine: &suanpan_engine::Engine) -> Result<(AccountingDate, AccountingDate), String> {
    let stopped = || engine.stopped_error().to_string();
    let closed = engine
        .read(|l| l.accounting_date())
        .map_err(|e| e.to_string())?
        .wait()
        .ok_or_else(stopped)?;
    let next = closed.next();
    let results = engine
        .execute(vec![suanpan_ledger::Command::Cutover { date: next }])
        .map_err(|e| e.to_string())?;
    match results.first() {
        Some(suanpan_ledger::ResultCode::Ok) => Ok((closed, next)),
        Some(other) => Err(format!("the cutover to {next} was refused: {other}")),
        None => Err("the engine gave no result for the cutover".into()),
    }
}
