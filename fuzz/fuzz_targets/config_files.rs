//! The configuration files an operator writes: `serve`'s, the gateway's and the payouts
//! room's. Each is read or refused with one error.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    suanpan_api::fuzzing::serve_config(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = suanpan_gateway::GatewayConfig::parse(text);
        let _ = suanpan_payouts::PayoutsConfig::parse(text);
    }
});
