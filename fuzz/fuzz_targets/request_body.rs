//! Every request body the HTTP API reads: a value or one error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    suanpan_api::fuzzing::request_body(bytes);
});
