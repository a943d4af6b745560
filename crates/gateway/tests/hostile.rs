//! What the channels send, as hostile bytes: a callback's form or JSON body and headers,
//! random or signed correctly around random content, is verified and read or refused, never
//! a panic; a form body always decodes or is refused.

use std::time::Duration;

use proptest::prelude::*;
use suanpan_gateway::channel::{hmac_hex, Channel};
use suanpan_gateway::http::HttpClient;
use suanpan_gateway::{alipay, form, wechat};

const KEY: &str = "k";

fn channels() -> (alipay::Alipay, wechat::Wechat) {
    let timeout = Duration::from_secs(1);
    let a = alipay::Alipay::new("http://127.0.0.1:1", KEY, timeout, HttpClient::default());
    let w = wechat::Wechat::new("http://127.0.0.1:1", KEY, timeout, HttpClient::default());
    match (a, w) {
        (Ok(a), Ok(w)) => (a, w),
        _ => panic!("the channels need only a URL and a key"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_callbacks_are_refused_never_a_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        headers in prop::collection::vec(("[a-z-]{1,20}", ".{0,40}"), 0..4),
    ) {
        let (a, w) = channels();
        let _ = form::decode(&body);
        prop_assert!(a.verify_callback(&headers, &body).is_err());
        prop_assert!(w.verify_callback(&headers, &body).is_err());
    }

    /// Signed with the right key, so verification passes and the content is read: whatever
    /// the fields hold, it is read or refused.
    #[test]
    fn signed_callbacks_with_any_content_are_read_or_refused(
        fields in prop::collection::vec(
            (prop::sample::select(vec!["out_trade_no", "trade_status", "total_amount", "trade_no", "x"]), ".{0,24}"),
            0..6,
        ),
        resource in ".{0,200}",
        ts in "[0-9]{0,12}",
    ) {
        let (a, w) = channels();
        let mut pairs: Vec<(String, String)> =
            fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let sign = hmac_hex(KEY.as_bytes(), alipay::signing_string(&pairs).as_bytes());
        pairs.push(("sign_type".into(), "HMAC-SHA256".into()));
        pairs.push(("sign".into(), sign));
        let borrowed: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let body = form::encode(&borrowed);
        let _ = a.verify_callback(&[], body.as_bytes());
        let body = format!(r#"{{"resource":{resource}}}"#);
        let signature = hmac_hex(
            KEY.as_bytes(),
            &wechat::callback_signing_string(&ts, "n", body.as_bytes()),
        );
        let headers = vec![
            ("wechatpay-timestamp".to_string(), ts.clone()),
            ("wechatpay-nonce".to_string(), "n".to_string()),
            ("wechatpay-signature".to_string(), signature),
        ];
        let _ = w.verify_callback(&headers, body.as_bytes());
    }

    /// `gateway.toml` as an operator might break it: read or refused in one error.
    #[test]
    fn a_broken_configuration_is_refused_never_a_panic(
        text in r#"[\[\]a-z_.=" 0-9,\n]{0,300}"#,
    ) {
        let _ = suanpan_gateway::GatewayConfig::parse(&text);
        let _ = suanpan_gateway::GatewayConfig::parse(&format!("[channels.wechat]\n{text}"));
    }
}
