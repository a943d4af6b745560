//! The currency a payout is in; channels list the ones they carry. The room keeps its own small
//! type because it depends on no other room.

use std::fmt;

/// An ISO 4217 alphabetic code such as `CNY`; only the shape (three ASCII capitals) is checked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const CNY: Currency = Currency(*b"CNY");

    /// `None` unless `code` is exactly three ASCII capital letters.
    pub fn parse(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(u8::is_ascii_uppercase)
            .then_some(Currency(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII capitals, so the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_capitals_make_a_currency() {
        assert_eq!(Currency::parse("CNY"), Some(Currency::CNY));
        assert_eq!(
            Currency::parse("USD").map(|c| c.to_string()).as_deref(),
            Some("USD")
        );
        assert_eq!(Currency::parse("cny"), None);
        assert_eq!(Currency::parse("CN"), None);
        assert_eq!(Currency::parse("CNYY"), None);
    }
}
