use std::fmt;

/// An ISO 4217 alphabetic code, e.g. `CNY`. Only the shape is checked (three ASCII capitals):
/// the ledger never converts between currencies, it only refuses to mix them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const CNY: Currency = Currency(*b"CNY");

    /// Parses `code`; `None` unless it is exactly three ASCII capital letters.
    pub fn parse(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        Currency::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: [u8; 3]) -> Option<Currency> {
        bytes
            .iter()
            .all(u8::is_ascii_uppercase)
            .then_some(Currency(bytes))
    }

    pub fn as_bytes(&self) -> [u8; 3] {
        self.0
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from three ASCII capitals, so always valid UTF-8.
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
        assert_eq!(Currency::parse("cny"), None);
        assert_eq!(Currency::parse("CNYY"), None);
        assert_eq!(Currency::parse("C1Y"), None);
        assert_eq!(Currency::parse(""), None);
    }
}
