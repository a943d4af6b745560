//! Instants on the wire: RFC 3339 in UTC with nanoseconds (`2026-11-26T01:02:03.123456789Z`),
//! read back from any RFC 3339 offset. The engine counts nanoseconds since the Unix epoch.

const NS_PER_S: u64 = 1_000_000_000;
const S_PER_DAY: i64 = 86_400;

/// Formats engine time (ns since the epoch) as RFC 3339 UTC.
pub fn format_ns(ns: u64) -> String {
    let secs = (ns / NS_PER_S) as i64;
    let nanos = ns % NS_PER_S;
    let days = secs.div_euclid(S_PER_DAY);
    let sod = secs.rem_euclid(S_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Parses RFC 3339 (`Z` or `±hh:mm`, optional fraction up to 9 digits) to ns since the epoch.
/// Instants before 1970 are refused: engine time starts there.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (secs, nanos) = parse_rfc3339_parts(text)?;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(NS_PER_S)?.checked_add(nanos)
}

/// An RFC 3339 instant as a bound of a search (`at`, `from`, `to`): any valid instant, one
/// before 1970 as 0 and one past what nanoseconds since 1970 hold in a `u64` (2554) as the
/// largest, since nothing in the books lies outside those.
pub fn parse_rfc3339_bound(text: &str) -> Option<u64> {
    let (secs, nanos) = parse_rfc3339_parts(text)?;
    if secs < 0 {
        return Some(0);
    }
    Some(
        (secs as u64)
            .checked_mul(NS_PER_S)
            .and_then(|ns| ns.checked_add(nanos))
            .unwrap_or(u64::MAX),
    )
}

/// Seconds since 1970 (negative before it) and nanoseconds.
fn parse_rfc3339_parts(text: &str) -> Option<(i64, u64)> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = text.get(from..to)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut at = 19;
    let mut nanos: u64 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        let digits = at - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(start, at)? as u64 * 10u64.pow((9 - digits) as u32);
    }
    let offset_s = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let (oh, om) = (num(at + 1, at + 3)?, num(at + 4, at + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some((
        days_from_civil(y, mo, d) * S_PER_DAY + h * 3600 + mi * 60 + s - offset_s,
        nanos,
    ))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_bound_takes_any_instant() {
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339_bound("1969-12-31T23:59:59Z"), Some(0));
        assert_eq!(parse_rfc3339_bound("0001-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_bound("9999-12-31T23:59:59Z"), Some(u64::MAX));
        assert_eq!(
            parse_rfc3339_bound("2026-11-18T11:06:40Z"),
            parse_rfc3339("2026-11-18T11:06:40Z")
        );
        assert_eq!(parse_rfc3339_bound("2026-02-30T00:00:00Z"), None);
    }

    #[test]
    fn formats_and_parses_back() {
        let ns = 1_795_000_000_123_456_789;
        let text = format_ns(ns);
        assert_eq!(text, "2026-11-18T11:06:40.123456789Z");
        assert_eq!(parse_rfc3339(&text), Some(ns));
        assert_eq!(
            parse_rfc3339("2026-11-18T19:06:40.123456789+08:00"),
            Some(ns)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800 * NS_PER_S)
        );
    }

    #[test]
    fn refuses_what_is_not_an_instant() {
        for bad in [
            "",
            "2026-11-18",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-18T24:00:00Z",
            "2026-11-18T10:26:40",
            "2026-11-18T10:26:40.Z",
            "2026-11-18T10:26:40.1234567891Z",
            "1969-12-31T23:59:59Z",
            "2026-11-18T10:26:40+8:00",
            "2026-11-18T10:26:40Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
