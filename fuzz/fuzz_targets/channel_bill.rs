//! A channel's bill as downloaded: WeChat's CSV (plain or gzipped) and Alipay's zip of GBK
//! CSV. Read or refused, never a panic; what is read adds up. Half the inputs are raw bytes;
//! the other half are real bills, rendered from lines the input describes, then damaged (bytes
//! flipped, cut or inserted) where the input says, so the readers' depths are reached.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use suanpan_recon::{alipay, gzip, wechat, BillLine, BillStatus, BillSummary, Key};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        read(rest);
        return;
    }
    let mut u = Unstructured::new(rest);
    let Ok((lines, edits)) = described(&mut u) else {
        return;
    };
    let mut csv = Vec::new();
    wechat::render(&lines, "1900000109", &mut csv);
    read(&damage(csv.clone(), &edits));
    read(&damage(gzip(&csv), &edits));
    read(&damage(
        alipay::render(&lines, "2088000000000001", "20261205"),
        &edits,
    ));
});

fn read(bytes: &[u8]) {
    if let Ok(bill) = wechat::parse(bytes) {
        assert_eq!(bill.summary, BillSummary::of(&bill.lines));
    }
    if let Ok(bill) = alipay::parse(bytes) {
        assert_eq!(bill.summary, BillSummary::of(&bill.lines));
    }
}

type Edit = (u16, u8, u8);

fn described(u: &mut Unstructured<'_>) -> Result<(Vec<BillLine>, Vec<Edit>)> {
    let count = u.int_in_range(1..=20u32)?;
    let mut lines = Vec::new();
    for i in 0..count {
        let id = u.int_in_range(1..=999_999u64)?;
        let amount_fen = u.int_in_range(1..=9_999_999u64)?;
        let refund: bool = u.arbitrary()?;
        lines.push(BillLine {
            line: i + 2,
            key: if refund {
                Key::Refund(id)
            } else {
                Key::Payment(id)
            },
            order_id: id,
            amount_fen,
            fee_fen: u.int_in_range(0..=amount_fen.min(9_999))?,
            status: if !refund && u.arbitrary::<bool>()? {
                BillStatus::RefundedAtChannel
            } else {
                BillStatus::Success
            },
            completed_ms: 1_728_000_000_000 + u.int_in_range(0..=86_399u64)? * 1000,
        });
    }
    let edits: Vec<Edit> = u.arbitrary()?;
    Ok((lines, edits))
}

/// Flips, cuts or inserts a byte at each edit's position.
fn damage(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for &(at, kind, byte) in edits.iter().take(8) {
        if bytes.is_empty() {
            break;
        }
        let at = usize::from(at) % bytes.len();
        match kind % 3 {
            0 => bytes[at] ^= byte | 1,
            1 => bytes.truncate(at),
            _ => bytes.insert(at, byte),
        }
    }
    bytes
}
