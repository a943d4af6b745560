//! The bill readers against hostile bytes: a bill comes from outside, so whatever its bytes
//! (random, or a real bill with bytes flipped, cut or inserted, raw or inside its gzip or
//! zip), reading it answers a bill or one error, and never panics or hangs. And any bill the
//! writers make reads back line for line.

use proptest::prelude::*;
use suanpan_recon::{alipay, wechat, BillLine, BillStatus, BillSummary, Key};

const DAY_MS: u64 = 20_000 * 86_400_000;

fn lines() -> impl Strategy<Value = Vec<BillLine>> {
    prop::collection::vec(
        (
            1u64..1_000_000,
            any::<bool>(),
            1u64..10_000_000,
            0u64..10_000,
            any::<bool>(),
            0u64..86_399,
        ),
        1..40,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (id, refund, amount, fee, refunded, s))| BillLine {
                line: i as u32 + 2,
                key: if refund {
                    Key::Refund(id)
                } else {
                    Key::Payment(id)
                },
                order_id: id,
                amount_fen: amount,
                fee_fen: fee.min(amount),
                status: if refunded && !refund {
                    BillStatus::RefundedAtChannel
                } else {
                    BillStatus::Success
                },
                completed_ms: DAY_MS + s * 1000,
            })
            .collect()
    })
}

fn wechat_bytes(lines: &[BillLine]) -> Vec<u8> {
    let mut out = Vec::new();
    wechat::render(lines, "1900000109", &mut out);
    out
}

/// Damage: flip, cut or insert bytes at positions drawn from `edits`.
fn damage(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        match kind % 3 {
            0 => bytes[at] ^= byte | 1,
            1 => bytes.truncate(at),
            _ => bytes.insert(at, byte),
        }
    }
    bytes
}

/// Lines whose amounts together pass what the totals can hold: refused, never a panic.
#[test]
fn a_bill_whose_totals_overflow_is_refused() {
    let line = |n: u32| BillLine {
        line: n,
        key: Key::Payment(u64::from(n)),
        order_id: u64::from(n),
        amount_fen: i64::MAX as u64,
        fee_fen: 0,
        status: BillStatus::Success,
        completed_ms: DAY_MS,
    };
    let lines = [line(2), line(3), line(4)];
    assert!(wechat::parse(&wechat_bytes(&lines)).is_err());
    assert!(alipay::parse(&alipay::render(&lines, "2088000000000001", "20261205")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_or_read_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = wechat::parse(&bytes);
        let _ = alipay::parse(&bytes);
        // Dressed as what each reader looks for first: a gzip frame, a zip archive.
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = wechat::parse(&gz);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        let _ = alipay::parse(&zip);
    }

    #[test]
    fn a_damaged_real_bill_is_refused_or_read_never_a_panic(
        lines in lines(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let csv = wechat_bytes(&lines);
        if let Ok(bill) = wechat::parse(&damage(csv.clone(), &edits)) {
            // What is read is a bill whose summary adds up.
            prop_assert_eq!(bill.summary, BillSummary::of(&bill.lines));
        }
        let _ = wechat::parse(&damage(suanpan_recon::gzip(&csv), &edits));
        let zip = alipay::render(&lines, "2088000000000001", "20261205");
        if let Ok(bill) = alipay::parse(&damage(zip, &edits)) {
            prop_assert_eq!(bill.summary, BillSummary::of(&bill.lines));
        }
    }

    #[test]
    fn every_bill_the_writers_make_reads_back_exactly(lines in lines()) {
        let csv = wechat_bytes(&lines);
        let read = wechat::parse(&csv);
        prop_assert!(read.is_ok(), "{:?}", read.err());
        prop_assert_eq!(read.map(|b| b.lines).unwrap_or_default(), lines.clone());
        let gz = wechat::parse(&suanpan_recon::gzip(&csv)).map(|b| b.lines);
        prop_assert_eq!(gz.unwrap_or_default(), lines.clone());
        // Alipay's detail opens with comment lines: the same lines, at later line numbers.
        let zip = alipay::parse(&alipay::render(&lines, "2088000000000001", "20261205"));
        prop_assert!(zip.is_ok(), "{:?}", zip.as_ref().err());
        let unnumbered = |l: &[BillLine]| -> Vec<BillLine> {
            l.iter().map(|x| BillLine { line: 0, ..x.clone() }).collect()
        };
        prop_assert_eq!(
            unnumbered(&zip.map(|b| b.lines).unwrap_or_default()),
            unnumbered(&lines)
        );
    }
}
