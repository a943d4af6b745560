//! A request's query string, percent-decoded and read as typed parameters.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    suanpan_api::fuzzing::query_string(bytes);
});
