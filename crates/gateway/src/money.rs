//! Amounts as channels write them. Alipay writes yuan with two decimals ("12.34"); Suanpan
//! keeps fen. Converted with integers only: no floating point touches money.

/// Fen as yuan text: 1234 → "12.34".
pub fn fen_to_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Yuan text as fen: "12.34" → 1234, "12.3" → 1230, "12" → 1200. `None` for anything else
/// (a sign, a third decimal, an overflow).
pub fn yuan_to_fen(text: &str) -> Option<u64> {
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty()
        || whole.len() > 18
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_and_fen_convert_exactly() {
        for fen in [0, 1, 9, 10, 99, 100, 1234, 100_000_000_001] {
            assert_eq!(yuan_to_fen(&fen_to_yuan(fen)), Some(fen));
        }
        assert_eq!(yuan_to_fen("12.3"), Some(1230));
        assert_eq!(yuan_to_fen("12"), Some(1200));
        for bad in [
            "",
            ".5",
            "1.234",
            "-1.00",
            "1e3",
            "1.0a",
            "99999999999999999999",
        ] {
            assert_eq!(yuan_to_fen(bad), None, "{bad}");
        }
    }
}
