//! `suanpan route explain`: which interbank channel a payout would take now or at an
//! instant, and why every other channel was not chosen (the routing room, `suanpan-routing`).

use lexopt::prelude::*;
use suanpan_routing::{
    route, Calendar, Channel, ChannelSet, Currency, Health, LocalDateTime, Origin, Payout, Rules,
};

use crate::json::JsonLine;
use crate::parse_value;

const USAGE: &str = "usage: suanpan route explain --amount YUAN --at RFC3339 [--real-time]
                             [--from mobile_banking|counter|atm_pos|qr] [--currency CNY]
                             [--bank-systems hvps,beps,ibps,unionpay_payout] [--down CHANNEL,...]
                             [--calendar FILE] [--json]

Routes one payout with the default rules and the built-in calendar (2025 and 2026) or the
calendar file given, and explains the choice: the chosen channel (hvps, beps, ibps or
unionpay_payout), the alternatives, and for every channel its reason. The amount is in yuan
with at most two decimals (80000.00); the instant is RFC 3339 (2026-12-07T20:00:00+08:00),
routed in Asia/Shanghai time.";

pub fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("explain") => explain(&args[1..]),
        Some("--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err("which route command? `suanpan route explain --help`".into()),
    }
}

/// Yuan with at most two decimals, as fen.
fn parse_yuan(text: &str) -> Option<u64> {
    let (whole, cents) = match text.split_once('.') {
        Some((w, c)) if (1..=2).contains(&c.len()) => (w, c),
        Some(_) => return None,
        None => (text, "0"),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(cents) {
        return None;
    }
    let cents: u64 = if cents.len() == 1 {
        cents.parse::<u64>().ok()? * 10
    } else {
        cents.parse().ok()?
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// An RFC 3339 instant as Beijing local time.
fn shanghai_local(text: &str) -> Option<LocalDateTime> {
    LocalDateTime::beijing(suanpan_api::time::parse_rfc3339(text)?)
}

fn channels(text: &str, flag: &str) -> Result<ChannelSet, String> {
    let mut set = ChannelSet::EMPTY;
    for code in text.split(',').filter(|c| !c.is_empty()) {
        let channel = Channel::from_code(code).ok_or_else(|| {
            format!("{flag}: {code:?} is not hvps, beps, ibps or unionpay_payout")
        })?;
        set = set.with(channel);
    }
    Ok(set)
}

fn explain(args: &[String]) -> Result<(), String> {
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    let (mut amount, mut at, mut real_time, mut json) = (None, None, false, false);
    let (mut origin, mut currency) = (Origin::MobileBanking, Currency::CNY);
    let (mut systems, mut down) = (ChannelSet::ALL, ChannelSet::EMPTY);
    let mut calendar = Calendar::china();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("amount") => {
                let text: String = parse_value(&mut parser, "--amount")?;
                amount = Some(parse_yuan(&text).ok_or_else(|| {
                    format!(
                        "--amount {text:?} is not yuan with at most two decimals, e.g. 80000.00"
                    )
                })?);
            }
            Long("at") => {
                let text: String = parse_value(&mut parser, "--at")?;
                at = Some(shanghai_local(&text).ok_or_else(|| {
                    format!(
                        "--at {text:?} is not an RFC 3339 instant, e.g. 2026-12-07T20:00:00+08:00"
                    )
                })?);
            }
            Long("real-time") => real_time = true,
            Long("from") => {
                let text: String = parse_value(&mut parser, "--from")?;
                let code = if text == "mobile" {
                    "mobile_banking"
                } else {
                    text.as_str()
                };
                origin = Origin::from_code(code).ok_or_else(|| {
                    format!("--from {text:?} is not mobile_banking, counter, atm_pos or qr")
                })?;
            }
            Long("currency") => {
                let text: String = parse_value(&mut parser, "--currency")?;
                currency = Currency::parse(&text)
                    .ok_or_else(|| format!("--currency {text:?} is not a currency code"))?;
            }
            Long("bank-systems") => {
                systems = channels(
                    &parse_value::<String>(&mut parser, "--bank-systems")?,
                    "--bank-systems",
                )?
            }
            Long("down") => {
                down = channels(&parse_value::<String>(&mut parser, "--down")?, "--down")?
            }
            Long("calendar") => {
                let path: String = parse_value(&mut parser, "--calendar")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                calendar = Calendar::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            }
            Long("json") => json = true,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                return Err(format!(
                    "{}; see `suanpan route explain --help`",
                    other.unexpected()
                ))
            }
        }
    }
    let payout = Payout {
        amount_fen: amount.ok_or_else(|| {
            "--amount is required (see `suanpan route explain --help`)".to_string()
        })?,
        currency,
        real_time,
        at: at
            .ok_or_else(|| "--at is required (see `suanpan route explain --help`)".to_string())?,
        origin,
        beneficiary_systems: systems,
    };
    let rules = Rules::default();
    let decision = route(&payout, Health::down(down), &rules, &calendar);
    let explanation = decision.explain(&calendar);
    if !json {
        print!("{explanation}");
        return Ok(());
    }
    let mut verdicts = String::from("[");
    for (i, channel) in decision.ranked().iter().enumerate() {
        let v = decision.verdict(*channel);
        if i > 0 {
            verdicts.push(',');
        }
        let mut line = JsonLine::default()
            .str("channel", channel.code())
            .str("reason", v.reason.code())
            .num("fee_fen", v.fee_fen)
            .str("explanation", explanation.channel(*channel));
        if let Some(date) = v.booking_date {
            line = line.str("booking_date", &date.to_string());
        }
        verdicts.push_str(&line.finish());
    }
    verdicts.push(']');
    let alternatives: Vec<String> = decision
        .alternatives()
        .iter()
        .map(|c| format!("\"{}\"", c.code()))
        .collect();
    let mut line = JsonLine::default()
        .num("rule_version", decision.rule_version)
        .str("at", &payout.at.to_string());
    line = match decision.chosen() {
        Some(v) => line
            .str("channel", v.channel.code())
            .num("fee_fen", v.fee_fen)
            .str(
                "booking_date",
                &v.booking_date.map(|d| d.to_string()).unwrap_or_default(),
            ),
        None => line.num("channel", "null"),
    };
    println!(
        "{}",
        line.num("alternatives", format!("[{}]", alternatives.join(",")))
            .num("channels", verdicts)
            .str("summary", &explanation.summary)
            .finish()
    );
    if decision.chosen().is_none() {
        return Err("no channel can take this payout (reasons above)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_parse_to_fen_exactly() {
        assert_eq!(parse_yuan("80000.00"), Some(8_000_000));
        assert_eq!(parse_yuan("0.5"), Some(50));
        assert_eq!(parse_yuan("12"), Some(1_200));
        for bad in ["1.234", "", ".5", "1.", "-1", "1e3", "99999999999999999999"] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_turn_into_beijing_time() {
        let at = shanghai_local("2026-12-07T12:00:00Z").map(|t| t.to_string());
        assert_eq!(at.as_deref(), Some("2026-12-07 20:00"));
    }
}
