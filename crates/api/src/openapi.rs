//! The OpenAPI 3.1 document, rendered from the route table and the wire types' derived
//! schemas at start, and served as is at `/v1/openapi.json`.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::{json, Map, Value};

use crate::error::ErrorCode;
use crate::routes::{Access, QueryValue, ROUTES};
use crate::wire::ErrorBody;

/// The ledger's commands: created now is 201, the same command repeated is 200.
const REPEAT_ANSWERED_200: &[&str] = &[
    "/v1/accounts",
    "/v1/transfers",
    "/v1/transfers/{id}/post",
    "/v1/transfers/{id}/void",
];

pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .with_transform(RecursiveTransform(unsigned_maximum))
        .into_generator();
    let error_ref = generator.subschema_for::<ErrorBody>().to_value();
    let mut paths = Map::new();
    for route in ROUTES {
        let mut op = Map::new();
        op.insert(
            "operationId".into(),
            json!(operation_id(route.path, route.method)),
        );
        op.insert("summary".into(), json!(route.summary));
        let mut parameters = Vec::new();
        if let Some(name) = path_parameter(route.path) {
            let mut schema = json!({"type": "string", "pattern": path_pattern(name)});
            if name == "id" {
                schema["maxLength"] = json!(39);
            }
            if name == "date" {
                schema["format"] = json!("date");
            }
            parameters.push(json!({
                "name": name, "in": "path", "required": true, "schema": schema
            }));
        }
        for q in route.query {
            parameters.push(json!({
                "name": q.name, "in": "query", "required": q.required,
                "description": q.description, "schema": query_schema(q.value)
            }));
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = route.request {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": request(&mut generator).to_value()}}}),
            );
        }
        let mut responses = Map::new();
        let ok = match (route.response, route.path) {
            (Some(schema), _) => {
                json!({"description": "success", "content": {"application/json": {"schema": schema(&mut generator).to_value()}}})
            }
            (None, "/v1/clearing/statements/{batch}") => {
                json!({"description": "the statement file, byte for byte as written (or its camt.053 XML)", "content": {"text/csv": {"schema": {"type": "string"}}, "application/xml": {"schema": {"type": "string"}}}})
            }
            (None, "/pay/result/{id}") => {
                json!({"description": "success", "content": {"text/html": {"schema": {"type": "string"}}}})
            }
            (None, "/v1/channels/alipay/notify" | "/v1/channels/wechat/notify") => {
                json!({"description": "the channel's own answer", "content": {"text/plain": {"schema": {"type": "string"}}}})
            }
            (None, "/metrics") => {
                json!({"description": "success", "content": {"text/plain": {"schema": {"type": "string"}}}})
            }
            (None, _) => {
                json!({"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}})
            }
        };
        let mut ok = ok;
        if route.query.iter().any(|q| q.name == "format") && route.response.is_some() {
            // The reports answer CSV when asked (`?format=csv` or `Accept: text/csv`).
            ok["content"]["text/csv"] = json!({"schema": {"type": "string"}});
        }
        if REPEAT_ANSWERED_200.contains(&route.path) {
            // The ledger's commands are idempotent by the caller's id: the same command again
            // answers 200 with the same body, `result: exists`.
            let mut repeat = ok.clone();
            repeat["description"] =
                json!("the same command was committed before (`result: exists`)");
            responses.insert("200".into(), repeat);
        }
        responses.insert(route.ok_status.to_string(), ok);
        let mut errors: Vec<u16> = route.errors.to_vec();
        if route.access != Access::Public {
            errors.extend([401, 403]);
        }
        errors.sort_unstable();
        errors.dedup();
        // The customer's consent page and the payer's result page answer their errors as
        // pages too.
        let error_content =
            if route.path.starts_with("/consent/") || route.path == "/pay/result/{id}" {
                json!({"text/html": {"schema": {"type": "string"}}})
            } else {
                json!({"application/json": {"schema": error_ref.clone()}})
            };
        for status in errors {
            responses.insert(
                status.to_string(),
                json!({"description": error_description(status), "content": error_content.clone()}),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        if route.access != Access::Public {
            op.insert(
                "security".into(),
                json!([{"participantSignature": [], "participantKey": [], "participantTimestamp": [], "participantNonce": []}, {"operatorToken": []}]),
            );
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = entry {
            item.insert(route.method.to_lowercase(), Value::Object(op));
        }
    }
    let schemas = generator.take_definitions(true);
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Suanpan",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Suanpan's payment ledger API. Ids and amounts are decimal strings. Every error is {{\"error\": {{\"code\", \"message\", \"field\"}}}}; the API's own codes are {}, and a refused ledger command answers 409 or 422 with the ledger's result code (docs/result-codes.md). Participants sign requests with HMAC-SHA256 over METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)).",
                codes.join(", ")
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "participantKey": {"type": "apiKey", "in": "header", "name": "X-Suanpan-Key"},
                "participantTimestamp": {"type": "apiKey", "in": "header", "name": "X-Suanpan-Timestamp"},
                "participantNonce": {"type": "apiKey", "in": "header", "name": "X-Suanpan-Nonce"},
                "participantSignature": {"type": "apiKey", "in": "header", "name": "X-Suanpan-Signature",
                    "description": "hex HMAC-SHA256, keyed by the API secret, of METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))"},
                "operatorToken": {"type": "http", "scheme": "bearer"},
            },
        },
    })
}

/// An unsigned integer field takes what its type holds and no more: the schema says so with
/// `maximum` (schemars gives only the format's name and `minimum: 0`).
fn unsigned_maximum(schema: &mut schemars::Schema) {
    let max: u64 = match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => u8::MAX.into(),
        Some("uint16") => u16::MAX.into(),
        Some("uint32") => u32::MAX.into(),
        Some("uint64") => u64::MAX,
        _ => return,
    };
    if schema.get("maximum").is_none() {
        schema.insert("maximum".into(), json!(max));
    }
}

fn operation_id(path: &str, method: &str) -> String {
    let mut id = method.to_lowercase();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != "v1") {
        let by;
        let part = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => {
                by = format!("by_{name}");
                by.as_str()
            }
            None => part,
        };
        id.push('_');
        id.push_str(&part.replace(['.', '-'], "_"));
    }
    id
}

/// The name of a route's path parameter (`id` in `/v1/accounts/{id}`), if it has one.
fn path_parameter(path: &str) -> Option<&str> {
    path.split('/')
        .find_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn path_pattern(name: &str) -> &'static str {
    match name {
        "id" => "^0*[1-9][0-9]{0,37}$",
        "date" => DATE_PATTERN,
        "subject" => "^[0-9]+(\\.[0-9]+)*$",
        // A transfer code, 0 to 65535.
        "code" => {
            "^0*([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
        }
        // A bank's reference of its customer.
        "customer" => "^[A-Za-z0-9._-]{1,64}$",
        // A clearing participant's number, 1 to 1024.
        "number" => "^0*([1-9][0-9]{0,2}|10[01][0-9]|102[0-4])$",
        // A clearing batch, 1 and up.
        "batch" => "^0*[1-9][0-9]{0,18}$",
        _ => "^[0-9]{1,20}$",
    }
}

/// A date, YYYY-MM-DD, as the server reads it (a real day of the month is checked too, by
/// `format`).
const DATE_PATTERN: &str = "^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// A day of a consent's range: 1970 or later.
const DAY_PATTERN: &str = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

fn query_schema(value: QueryValue) -> Value {
    match value {
        QueryValue::Text => json!({"type": "string"}),
        QueryValue::Cursor => json!({"type": "string", "pattern": "^[0-9]{1,19}$"}),
        QueryValue::Bool => json!({"type": "string", "enum": ["true", "false"]}),
        QueryValue::Limit => json!({"type": "string", "pattern": "^0*([1-9][0-9]{0,2}|1000)$"}),
        QueryValue::OneOf(words) => json!({"type": "string", "enum": words}),
        QueryValue::Instant => json!({"type": "string", "format": "date-time"}),
        QueryValue::Date => json!({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
        QueryValue::Id => json!({"type": "string", "pattern": path_pattern("id"), "maxLength": 39}),
        QueryValue::ParticipantNumber => {
            json!({"type": "string", "pattern": path_pattern("number")})
        }
        QueryValue::ParticipantCode => {
            json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"})
        }
        QueryValue::MerchantOrderNo => {
            json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
        }
    }
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "the request is malformed: bad JSON, unknown field, wrong type, bad id or amount",
        401 => "not authenticated: missing or bad signature, stale timestamp, replayed nonce, bad token",
        403 => "authenticated but not allowed",
        404 => "no such account, transfer, date, subject, participant, batch or statement (for a participant: none of its own)",
        409 => "the id was used before with other fields, or the books' state does not allow it now (the code says which)",
        413 => "the body is larger than body_bytes_max",
        415 => "the body is not application/json",
        422 => "the ledger refused the command; the code says why",
        503 => "the engine's queue is full or it is stopping; retry after Retry-After seconds",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_and_every_reference_resolves() {
        let doc = document();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            assert!(op.is_object(), "{} {} missing", route.method, route.path);
        }
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or("");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{name} unresolved"
            );
        }
    }

    #[test]
    fn the_document_lists_what_the_server_answers() {
        let doc = document();
        for path in REPEAT_ANSWERED_200 {
            let responses = &doc["paths"][*path]["post"]["responses"];
            assert!(responses["201"].is_object(), "{path} 201");
            assert!(responses["200"].is_object(), "{path} repeats answer 200");
        }
        let report = &doc["paths"]["/v1/accounting/dates/{date}/trial-balance"]["get"];
        assert!(report["responses"]["200"]["content"]["text/csv"].is_object());
        let notify = &doc["paths"]["/v1/channels/alipay/notify"]["post"];
        assert!(notify["responses"]["404"].is_object());
        // Zero is not an id, and an id has at most 39 characters.
        let id = &doc["components"]["schemas"]["Id"];
        assert_eq!(id["maxLength"], 39);
        assert!(id["pattern"].as_str().is_some_and(|p| p.contains("[1-9]")));
        let subject = &doc["components"]["schemas"]["NewSubjectBody"]["properties"]["name"];
        assert_eq!(subject["minLength"], 1);
        assert_eq!(subject["maxLength"], 200);
    }
}
