//! `suanpan bench ...`: benchmarks that print their figures, the last line one JSON object.

mod clearing;
mod consent;
mod console;
mod day_end;
mod engine;
pub(crate) mod gateway;
mod http;
mod ledger;
mod open_loop;
mod payouts;
pub(crate) mod process;
mod recon;
mod recovery;
mod routing;

pub fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("ledger") => ledger::main(&args[1..]),
        Some("engine") => engine::main(&args[1..]),
        Some("http") => http::main(&args[1..]),
        Some("clearing") => clearing::main(clearing::Measure::Clearing, &args[1..]),
        Some("statements") => clearing::main(clearing::Measure::Statements, &args[1..]),
        Some("day-end") => day_end::main(&args[1..]),
        Some("gateway") => gateway::main(&args[1..]),
        Some("consent") => consent::main(&args[1..]),
        Some("routing") => routing::main(&args[1..]),
        Some("recon") => recon::main(&args[1..]),
        Some("payouts") => payouts::main(&args[1..]),
        Some("console") => console::main(&args[1..]),
        Some("recovery") => recovery::main(&args[1..]),
        Some(other) => Err(format!(
            "unknown benchmark {other:?}; there are `ledger`, `engine`, `http`, `clearing`, `statements`, `day-end`, `gateway`, `consent`, `routing`, `payouts`, `recon`, `console` and `recovery`"
        )),
        None => Err("which benchmark? `suanpan bench ledger`, `engine` or `http`".into()),
    }
}
