//! Decimal digits written straight into a byte buffer: statement files carry tens of millions
//! of numbers, and going through `fmt` would cost more than the rest of the work.

/// "00" to "99": two digits a division.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

pub(crate) fn push_u64(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v = value;
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + v as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

pub(crate) fn push_u128(out: &mut Vec<u8>, value: u128) {
    const TEN_POW_19: u128 = 10_000_000_000_000_000_000;
    if let Ok(small) = u64::try_from(value) {
        return push_u64(out, small);
    }
    // One 128-bit division per 19 digits, not per digit: the rest is 64-bit arithmetic.
    push_u128(out, value / TEN_POW_19);
    let low = (value % TEN_POW_19) as u64;
    let start = out.len();
    push_u64(out, low);
    let width = out.len() - start;
    out.splice(start..start, std::iter::repeat_n(b'0', 19 - width));
}

pub(crate) fn push_i128(out: &mut Vec<u8>, value: i128) {
    if value < 0 {
        out.push(b'-');
    }
    push_u128(out, value.unsigned_abs());
}

pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn digits_are_the_same_as_display(a: u64, b: u128, c: i128) {
            let mut out = Vec::new();
            push_u64(&mut out, a);
            out.push(b',');
            push_u128(&mut out, b);
            out.push(b',');
            push_i128(&mut out, c);
            prop_assert_eq!(String::from_utf8(out).unwrap_or_default(), format!("{a},{b},{c}"));
        }
    }

    #[test]
    fn every_width_of_number() {
        let mut value = 1u64;
        for _ in 0..20 {
            for v in [value - 1, value, value.saturating_mul(10) - 1] {
                let mut out = Vec::new();
                push_u64(&mut out, v);
                assert_eq!(String::from_utf8(out).unwrap_or_default(), v.to_string());
            }
            value = value.saturating_mul(10);
        }
    }

    #[test]
    fn extremes() {
        let mut out = Vec::new();
        push_i128(&mut out, i128::MIN);
        push_u64(&mut out, 0);
        push_hex(&mut out, &[0, 0xab]);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            format!("{}0", i128::MIN) + "00ab"
        );
    }
}
