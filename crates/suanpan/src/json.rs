//! One-line JSON objects for the commands' machine-readable output.

use std::fmt::Write;

#[derive(Default)]
pub struct JsonLine {
    out: String,
}

impl JsonLine {
    pub fn num(mut self, key: &str, value: impl std::fmt::Display) -> JsonLine {
        self.sep();
        let _ = write!(self.out, "\"{key}\":{value}");
        self
    }

    /// A rate or duration, printed with fixed decimals (display only, never money).
    pub fn fixed(self, key: &str, value: f64, decimals: usize) -> JsonLine {
        self.num(key, format!("{value:.decimals$}"))
    }

    pub fn str(mut self, key: &str, value: &str) -> JsonLine {
        self.sep();
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = write!(self.out, "\"{key}\":\"{escaped}\"");
        self
    }

    /// A list of numbers.
    pub fn list(self, key: &str, values: &[u64]) -> JsonLine {
        let items: Vec<String> = values.iter().map(u64::to_string).collect();
        self.num(key, format!("[{}]", items.join(",")))
    }

    pub fn bool(self, key: &str, value: bool) -> JsonLine {
        self.num(key, value)
    }

    fn sep(&mut self) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
    }

    pub fn finish(mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}
