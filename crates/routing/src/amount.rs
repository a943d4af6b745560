//! How an amount in fen reads in an explanation: `80,000.00`, the way a bank statement writes
//! yuan. Only for text; every comparison and sum in the room is on the integer fen.

use std::fmt;

/// An amount in fen (minor units), displayed as yuan with thousands separators.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Amount(pub u64);

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (yuan, fen) = (self.0 / 100, self.0 % 100);
        // u64::MAX yuan has 18 digits; group them by three from the right.
        let digits = yuan.to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        write!(f, ".{fen:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::Amount;

    #[test]
    fn amounts_read_as_yuan_with_separators() {
        let cases = [
            (0, "0.00"),
            (5, "0.05"),
            (500, "5.00"),
            (100_000, "1,000.00"),
            (8_000_000, "80,000.00"),
            (200_000_000, "2,000,000.00"),
            (u64::MAX, "184,467,440,737,095,516.15"),
        ];
        for (fen, text) in cases {
            assert_eq!(Amount(fen).to_string(), text);
        }
    }
}
