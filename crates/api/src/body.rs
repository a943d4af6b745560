//! Reading a JSON body into a request type, with every failure named by code and field:
//! malformed JSON, unknown fields, wrong types, missing fields, bad ids and amounts.

mod strict;

use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};
use crate::wire::{INVALID_AMOUNT, INVALID_ID};
use strict::Strict;

/// A body as `T`, every struct in it a JSON object (serde's derive would also take an array
/// of the fields in order, which the API does not document: `strict.rs` refuses it).
fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(Strict(&mut de))?;
    de.end()?;
    Ok(value)
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The fast path parses without tracking where it is; only a body that fails is parsed
    // again with the path tracked, to name the offending field.
    if let Ok(value) = from_slice(bytes) {
        return Ok(value);
    }
    // JSON has one kind of number: `23.0` is the integer 23 (JSON Schema agrees), while serde
    // reads it as a float and refuses it for an integer field. Only a body that failed pays
    // for reading it this way.
    let normalised = integral_floats_as_integers(bytes);
    if let Some(value) = normalised.as_deref().and_then(|b| from_slice(b).ok()) {
        return Ok(value);
    }
    // What is wrong is then named in the body as normalised: not a `23.0` that was fine.
    let bytes = normalised.as_deref().unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        classify(e.into_inner(), path)
    })?;
    de.end().map_err(|e| classify(e, String::new()))?;
    Ok(value)
}

/// The body again with every number that is an integer written another way (`23.0`,
/// `1e3`, `2.50e1`) written as that integer; `None` when it has none. Done on the text, never
/// through `f64`, so a large value stays exact and `1.00000000000000001` stays a fraction.
fn integral_floats_as_integers(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut at = 0;
    let mut in_string = false;
    while at < bytes.len() {
        let b = bytes[at];
        if in_string {
            out.push(b);
            match b {
                b'\\' => {
                    if let Some(&next) = bytes.get(at + 1) {
                        out.push(next);
                        at += 1;
                    }
                }
                b'"' => in_string = false,
                _ => {}
            }
            at += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
        }
        if b == b'-' || b.is_ascii_digit() {
            let end = at
                + bytes[at..]
                    .iter()
                    .position(|c| !(c.is_ascii_digit() || b"+-.eE".contains(c)))
                    .unwrap_or(bytes.len() - at);
            let token = &bytes[at..end];
            match as_integer(token) {
                Some(integer) => {
                    changed |= integer != token;
                    out.extend_from_slice(&integer);
                }
                None => out.extend_from_slice(token),
            }
            at = end;
            continue;
        }
        out.push(b);
        at += 1;
    }
    changed.then_some(out)
}

/// A JSON number's text as the integer it is (`-12.00` → `-12`, `25e-1`: none, `2.5e1` →
/// `25`), or `None` when it is not an integer or is malformed.
fn as_integer(token: &[u8]) -> Option<Vec<u8>> {
    let (sign, rest) = match token.split_first()? {
        (b'-', rest) => (&b"-"[..], rest),
        _ => (&b""[..], token),
    };
    let (mantissa, exponent) = match rest.iter().position(|&c| c == b'e' || c == b'E') {
        Some(e) => (
            &rest[..e],
            std::str::from_utf8(&rest[e + 1..])
                .ok()?
                .parse::<i32>()
                .ok()?,
        ),
        None => (rest, 0),
    };
    let (whole, fraction) = match mantissa.iter().position(|&c| c == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &b""[..]),
    };
    if whole.is_empty() || !whole.iter().chain(fraction).all(u8::is_ascii_digit) {
        return None;
    }
    // The digits with the decimal point `point` places from the left.
    let digits: Vec<u8> = whole.iter().chain(fraction).copied().collect();
    let point = whole.len() as i64 + i64::from(exponent);
    // Beyond any integer field's 20 digits: left for the field to refuse.
    if !(1..=40).contains(&point) {
        return None;
    }
    let point = point as usize;
    if digits.iter().skip(point).any(|&d| d != b'0') {
        return None;
    }
    let mut integer: Vec<u8> = digits.iter().take(point).copied().collect();
    integer.resize(point, b'0');
    while integer.len() > 1 && integer[0] == b'0' {
        integer.remove(0);
    }
    Some([sign, &integer[..]].concat())
}

fn classify(e: serde_json::Error, path: String) -> ApiError {
    use serde_json::error::Category;
    let full = e.to_string();
    // serde_json appends the position; the field path says more.
    let message = match full.rfind(" at line ") {
        Some(at) => &full[..at],
        None => &full,
    };
    let field = (!path.is_empty() && path != ".").then_some(path);
    if matches!(
        e.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {full}"),
        );
    }
    let (code, message, field) = if let Some(rest) = message.strip_prefix(INVALID_ID) {
        (ErrorCode::InvalidId, rest.to_string(), field)
    } else if let Some(rest) = message.strip_prefix(INVALID_AMOUNT) {
        (ErrorCode::InvalidAmount, rest.to_string(), field)
    } else if message.starts_with("unknown field") {
        (ErrorCode::UnknownField, message.to_string(), field)
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        let field = match field {
            Some(parent) => format!("{parent}.{name}"),
            None => name.to_string(),
        };
        (ErrorCode::MissingField, message.to_string(), Some(field))
    } else if message.starts_with("invalid type") {
        (ErrorCode::WrongType, message.to_string(), field)
    } else {
        (ErrorCode::InvalidValue, message.to_string(), field)
    };
    let error = ApiError::new(code, message);
    match field {
        Some(f) => error.field(f),
        None => error,
    }
}

/// Every body parser, against hostile bytes (the property tests and the fuzz targets): each
/// answers a value or one error, never a panic.
#[cfg(any(test, fuzzing))]
pub(crate) fn parse_every_body(bytes: &[u8]) {
    let _ = parse::<crate::wire::NewTransferBody>(bytes);
    let _ = parse::<crate::wire::BatchBody>(bytes);
    let _ = parse::<crate::wire::NewAccountBody>(bytes);
    let _ = parse::<crate::orders::NewOrderBody>(bytes);
    let _ = parse::<crate::recon::ReconRunBody>(bytes);
    let _ = parse::<crate::recon::ResolveBody>(bytes);
    let _ = parse::<crate::consents::NewConsentBody>(bytes);
    let _ = parse::<crate::payouts::NewPayoutBody>(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BatchBody, NewTransferBody};

    fn error_of(body: &str) -> (String, Option<String>) {
        let e = parse::<NewTransferBody>(body.as_bytes()).expect_err("an error");
        (e.code.to_string(), e.field)
    }

    const GOOD: &str = r#"{"id":"1","debit_account_id":"2","credit_account_id":"3","amount":"100","currency":"CNY"}"#;

    #[test]
    fn an_integer_written_with_a_zero_fraction_is_that_integer() {
        let body = GOOD.replace(
            r#""currency":"CNY""#,
            r#""currency":"CNY","code":17.0,"timeout_ms":1e3"#,
        );
        let t = parse::<NewTransferBody>(body.as_bytes()).expect("parses");
        assert_eq!((t.code, t.timeout_ms), (17, 1000));
        // A fraction, or beyond the field's type, is still refused, naming the field.
        let half = GOOD.replace(r#""currency":"CNY""#, r#""currency":"CNY","code":17.5"#);
        assert_eq!(error_of(&half), ("wrong_type".into(), Some("code".into())));
        let big = GOOD.replace(r#""currency":"CNY""#, r#""currency":"CNY","code":70000.0"#);
        assert_eq!(error_of(&big).1.as_deref(), Some("code"));
    }

    #[test]
    fn an_integer_is_read_from_its_text_exactly() {
        assert_eq!(as_integer(b"23.0").as_deref(), Some(&b"23"[..]));
        assert_eq!(as_integer(b"-12.00").as_deref(), Some(&b"-12"[..]));
        assert_eq!(as_integer(b"2.5e1").as_deref(), Some(&b"25"[..]));
        assert_eq!(as_integer(b"1E3").as_deref(), Some(&b"1000"[..]));
        assert_eq!(as_integer(b"0.0").as_deref(), Some(&b"0"[..]));
        assert_eq!(as_integer(b"17").as_deref(), Some(&b"17"[..]));
        for fraction in [
            &b"1.00000000000000001"[..],
            b"25e-1",
            b"1.5",
            b"1e-400",
            b"-",
            b"1.e",
        ] {
            assert_eq!(
                as_integer(fraction),
                None,
                "{:?}",
                String::from_utf8_lossy(fraction)
            );
        }
        // Exact beyond f64's 2^53, and strings are left alone.
        let body = GOOD.replace(
            r#""currency":"CNY""#,
            r#""currency":"CNY","reference":"1.0","timeout_ms":18446744073709551615.0"#,
        );
        let t = parse::<NewTransferBody>(body.as_bytes()).expect("parses");
        assert_eq!(
            (t.timeout_ms, t.reference.as_deref()),
            (u64::MAX, Some("1.0"))
        );
        let near = GOOD.replace(
            r#""currency":"CNY""#,
            r#""currency":"CNY","timeout_ms":9007199254740993.0"#,
        );
        assert_eq!(
            parse::<NewTransferBody>(near.as_bytes())
                .expect("parses")
                .timeout_ms,
            9_007_199_254_740_993
        );
        let not_integral = GOOD.replace(
            r#""currency":"CNY""#,
            r#""currency":"CNY","code":1.00000000000000001"#,
        );
        assert_eq!(
            error_of(&not_integral),
            ("wrong_type".into(), Some("code".into()))
        );
    }

    #[test]
    fn a_body_is_an_object_never_an_array_of_the_fields() {
        let array = r#" ["1","2","3","100","CNY"]"#;
        assert_eq!(error_of(array).0, "wrong_type");
        // Nested too: a batch's transfer given as the array of its fields.
        let nested = r#"{"transfers":[["1","2","3","100","CNY"]]}"#;
        let e = parse::<BatchBody>(nested.as_bytes()).expect_err("refused");
        assert_eq!(
            (e.code.to_string(), e.field.as_deref()),
            ("wrong_type".to_string(), Some("transfers[0]"))
        );
        // And objects still read at every depth.
        let good = format!(r#"{{"transfers":[{GOOD}]}}"#);
        assert_eq!(
            parse::<BatchBody>(good.as_bytes())
                .expect("parses")
                .transfers
                .len(),
            1
        );
    }

    #[test]
    fn a_good_transfer_parses() {
        let t = parse::<NewTransferBody>(GOOD.as_bytes()).expect("parses");
        assert_eq!((t.id.0, t.amount.0, t.code), (1, 100, 0));
    }

    #[test]
    fn each_kind_of_bad_body_has_its_code_and_field() {
        assert_eq!(error_of("{").0, "malformed_json");
        assert_eq!(error_of(&format!("{GOOD} x")).0, "malformed_json");
        assert_eq!(
            error_of(&GOOD.replace("\"currency\"", "\"colour\":1,\"currency\"")),
            ("unknown_field".into(), Some("colour".into()))
        );
        assert_eq!(
            error_of(&GOOD.replace("\"100\"", "100")),
            ("wrong_type".into(), Some("amount".into()))
        );
        assert_eq!(
            error_of(&GOOD.replace("\"100\"", "100.5")),
            ("wrong_type".into(), Some("amount".into()))
        );
        assert_eq!(
            error_of(&GOOD.replace("\"100\"", "\"18446744073709551616\"")),
            ("invalid_amount".into(), Some("amount".into()))
        );
        assert_eq!(
            error_of(&GOOD.replace("\"id\":\"1\"", "\"id\":\"0\"")),
            ("invalid_id".into(), Some("id".into()))
        );
        assert_eq!(
            error_of(&GOOD.replace("\"id\":\"1\",", "")),
            ("missing_field".into(), Some("id".into()))
        );
        assert_eq!(
            error_of(&GOOD.replace("\"currency\"", "\"code\":70000,\"currency\"")),
            ("invalid_value".into(), Some("code".into()))
        );
    }

    #[test]
    fn a_batch_error_names_the_item() {
        let body = format!(
            r#"{{"transfers":[{GOOD},{}]}}"#,
            GOOD.replace("\"2\"", "\"x\"")
        );
        let e = parse::<BatchBody>(body.as_bytes()).expect_err("an error");
        assert_eq!(e.code, "invalid_id");
        assert_eq!(e.field.as_deref(), Some("transfers[1].debit_account_id"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        #[test]
        fn hostile_bodies_are_refused_never_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            shaped in r#"[\[\]{}",:0-9a-z_.eE+\- ]{0,300}"#,
        ) {
            super::parse_every_body(&bytes);
            super::parse_every_body(shaped.as_bytes());
            // A real body's fields with hostile values.
            let fields = format!(
                r#"{{"id":"{0}","debit_account_id":"1","credit_account_id":{0},"amount":"{0}","currency":"CNY","merchant_order_no":"{0}","subject":"{0}","channel":"wechat","date":"{0}","action":"{0}"}}"#,
                shaped.replace('"', "")
            );
            super::parse_every_body(fields.as_bytes());
        }
    }
}
