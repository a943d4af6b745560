//! The journal's decoders, fed a damaged batch body or results blob (a bad copy, a disk that
//! lied): refused or read, never a panic, and what is read encodes back to the same bytes.
#![no_main]

use suanpan_journal::{decode_batch, decode_results, encode_batch};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = decode_results(bytes);
    if let Ok((segments, commands)) = decode_batch(bytes) {
        let mut again = Vec::new();
        encode_batch(&segments, &commands, &mut again);
        assert_eq!(decode_batch(&again), Ok((segments, commands)));
    }
});
