//! Entry points for the fuzz targets in `fuzz/` (built only under `cfg(fuzzing)`, which
//! `cargo fuzz` sets): the parsers that bytes from outside reach before any authentication.

use crate::app::{query_cursor, query_limit, query_pairs, query_time, query_value};

/// Every request body the API reads.
pub fn request_body(bytes: &[u8]) {
    crate::body::parse_every_body(bytes);
}

/// A query string, and each typed parameter read from it.
pub fn query_string(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(pairs) = query_pairs(text) else {
        return;
    };
    let _ = query_cursor(&pairs);
    let _ = query_limit(&pairs);
    let _ = query_time(&pairs, "from");
    let _ = query_value(&pairs, "format");
}

/// `serve`'s configuration file.
pub fn serve_config(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = crate::ServeConfig::layer(Some((text, "suanpan.toml")), |_| None, &[]);
    }
}
