//! What every HTML page shares: escaping everything it shows, and the language of the pages
//! served to payers and customers.

/// The language of a page served to a payer or a customer: Simplified Chinese unless the
/// browser's first choice is English.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageLang {
    Zh,
    En,
}

impl PageLang {
    pub fn of(headers: &hyper::HeaderMap) -> PageLang {
        let first = headers
            .get(hyper::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|l| l.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if first.starts_with("en") {
            PageLang::En
        } else {
            PageLang::Zh
        }
    }

    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            PageLang::Zh => zh,
            PageLang::En => en,
        }
    }

    /// The `lang` attribute of the page.
    pub fn code(self) -> &'static str {
        self.t("zh-CN", "en")
    }
}

/// Text made safe to put in HTML content or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
