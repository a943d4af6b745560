//! A channel's asynchronous result as it arrives: an Alipay form or a WeChat JSON body with
//! its headers. Unsigned bytes are refused; bytes signed with the merchant's key reach the
//! readers behind the signature, and are read or refused, never a panic.
#![no_main]

use std::time::Duration;

use suanpan_gateway::channel::{hmac_hex, Channel};
use suanpan_gateway::http::HttpClient;
use suanpan_gateway::{alipay, form, wechat};

const KEY: &str = "k";

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let timeout = Duration::from_secs(1);
    let (Ok(a), Ok(w)) = (
        alipay::Alipay::new("http://127.0.0.1:1", KEY, timeout, HttpClient::default()),
        wechat::Wechat::new("http://127.0.0.1:1", KEY, timeout, HttpClient::default()),
    ) else {
        return;
    };
    // The first byte splits the input into a timestamp and a body.
    let (ts, body) = match bytes.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len()).min(16)),
        None => (&[][..], bytes),
    };
    let ts = String::from_utf8_lossy(ts).into_owned();
    assert!(a.verify_callback(&[], body).is_err() || signed_alipay(body));
    // The same bytes as an Alipay form signed correctly.
    if let Some(pairs) = form::decode(body) {
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| k != "sign" && k != "sign_type")
            .collect();
        let sign = hmac_hex(KEY.as_bytes(), alipay::signing_string(&pairs).as_bytes());
        pairs.push(("sign_type".into(), "HMAC-SHA256".into()));
        pairs.push(("sign".into(), sign));
        let borrowed: Vec<(&str, String)> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let _ = a.verify_callback(&[], form::encode(&borrowed).as_bytes());
    }
    // And as a WeChat body signed correctly.
    let signature = hmac_hex(
        KEY.as_bytes(),
        &wechat::callback_signing_string(&ts, "n", body),
    );
    let headers = vec![
        ("wechatpay-timestamp".to_string(), ts),
        ("wechatpay-nonce".to_string(), "n".to_string()),
        ("wechatpay-signature".to_string(), signature),
    ];
    let _ = w.verify_callback(&headers, body);
});

/// Random bytes pass Alipay's check only if they carry a valid signature of themselves.
fn signed_alipay(body: &[u8]) -> bool {
    form::decode(body).is_some_and(|pairs| pairs.iter().any(|(k, _)| k == "sign"))
}
