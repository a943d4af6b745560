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

/// The body again with every number written with a fraction of zero (`23.0`, `1e3`) written
/// as an integer; `None` when it has none, or is not JSON.
fn integral_floats_as_integers(bytes: &[u8]) -> Option<Vec<u8>> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // Exactly integral and within u64 (2^64 is exact as an f64; below it every
                // integral f64 converts exactly).
                if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *v = serde_json::Value::from(f as u64);
                    true
                } else if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    *v = serde_json::Value::from(f as i64);
                    true
                } else {
                    false
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, i| walk(i) | c),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, i| walk(i) | c),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !walk(&mut value) {
        return None;
    }
    serde_json::to_vec(&value).ok()
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
}
