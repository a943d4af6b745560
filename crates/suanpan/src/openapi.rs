//! `suanpan openapi`: prints the OpenAPI 3.1 document that `serve` answers at
//! /v1/openapi.json (the same function renders both), for validators and client generators.

pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        if arg == "--help" || arg == "-h" {
            println!("usage: suanpan openapi\n\nPrints the API's OpenAPI 3.1 document (JSON).");
            return Ok(());
        }
        return Err(format!("`suanpan openapi` takes no arguments, not {arg:?}"));
    }
    let doc = suanpan_api::openapi::document();
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}
