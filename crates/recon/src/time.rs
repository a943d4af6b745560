//! Bills print times in Beijing time (UTC+8, no daylight saving) as `yyyy-MM-dd HH:mm:ss`.

use suanpan_ledger::AccountingDate;

const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;

/// `yyyy-MM-dd HH:mm:ss` in Beijing time as Unix milliseconds; `None` if malformed or before
/// 1970.
pub fn parse_beijing(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = AccountingDate::parse(&text[..10])?;
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = &text[from..to];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let ms = i64::from(date.0) * MS_PER_DAY + (h * 3600 + mi * 60 + s) * 1000 - BEIJING_OFFSET_MS;
    u64::try_from(ms).ok()
}

/// Unix milliseconds as `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub fn format_beijing(ms: u64) -> String {
    let local = ms as i64 + BEIJING_OFFSET_MS;
    let date = AccountingDate(local.div_euclid(MS_PER_DAY) as i32);
    let in_day = local.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{date} {:02}:{:02}:{:02}",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// The end (exclusive) of the Beijing date `yyyy-MM-dd` (or `yyyyMMdd`), Unix milliseconds.
pub fn beijing_date_end(date: &str) -> Option<u64> {
    let compact;
    let date = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        compact = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
        &compact[..]
    } else {
        date
    };
    let start = parse_beijing(&format!("{date} 00:00:00"))?;
    start.checked_add(MS_PER_DAY as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_reads_and_writes_back() {
        let ms = parse_beijing("2026-12-05 00:00:00").expect("parses");
        assert_eq!(ms, 1_796_400_000_000);
        assert_eq!(format_beijing(ms + 86_399_000), "2026-12-05 23:59:59");
        assert_eq!(beijing_date_end("2026-12-05"), Some(ms + 86_400_000));
        assert_eq!(beijing_date_end("20261205"), Some(ms + 86_400_000));
        for bad in [
            "2026-02-30 00:00:00",
            "2026-12-05T00:00:00",
            "2026-12-05 24:00:00",
            "",
        ] {
            assert_eq!(parse_beijing(bad), None, "{bad}");
        }
    }
}
