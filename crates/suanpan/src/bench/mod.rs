//! `suanpan bench ...`: benchmarks that print their figures, the last line one JSON object.

mod day_end;
mod engine;
mod ledger;

pub fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("ledger") => ledger::main(&args[1..]),
        Some("engine") => engine::main(&args[1..]),
        Some("day-end") => day_end::main(&args[1..]),
        Some(other) => Err(format!(
            "unknown benchmark {other:?}; there are `ledger` and `engine`"
        )),
        None => Err("which benchmark? `suanpan bench ledger` or `suanpan bench engine`".into()),
    }
}
