//! QR payments (C2B static and dynamic codes, C2C) under the per-customer daily caps of PBOC
//! yinfa 2017-296: the day's total by QR is counted per payer account and Asia/Shanghai day,
//! and a payment that would pass the cap is refused before any money moves.

use suanpan_ledger::{Command, Currency, Transfer};
use suanpan_routing::{qr_cap_check, QrKind, QrRefusalReason, RiskLevel};

use crate::booking::{qr_transfer_id, CODE_QR_PAYMENT};
use crate::error::PayoutError;
use crate::payouts::Payouts;
use crate::store;

/// One QR payment as a participant asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrPayment {
    pub id: u128,
    pub kind: QrKind,
    pub risk_level: RiskLevel,
    /// The cap a level-A customer agreed with the bank (fen), if any.
    pub self_agreed_cap_fen: Option<u64>,
    pub payer_account: u128,
    pub payee_account: u128,
    pub amount_fen: u64,
    pub currency: Currency,
}

pub fn kind_code(kind: QrKind) -> &'static str {
    match kind {
        QrKind::C2bStatic => "c2b_static",
        QrKind::C2bDynamic => "c2b_dynamic",
        QrKind::C2c => "c2c",
    }
}

pub fn parse_kind(text: &str) -> Option<QrKind> {
    [QrKind::C2bStatic, QrKind::C2bDynamic, QrKind::C2c]
        .into_iter()
        .find(|k| kind_code(*k) == text)
}

pub fn parse_risk_level(text: &str) -> Option<RiskLevel> {
    match text {
        "A" | "a" => Some(RiskLevel::A),
        "B" | "b" => Some(RiskLevel::B),
        "C" | "c" => Some(RiskLevel::C),
        _ => None,
    }
}

/// The kinds whose payments count together against a kind's cap: static codes on their own;
/// dynamic codes and person-to-person together (both are capped by the risk level).
fn counted_with(kind: QrKind) -> &'static [&'static str] {
    match kind {
        QrKind::C2bStatic => &["c2b_static"],
        QrKind::C2bDynamic | QrKind::C2c => &["c2b_dynamic", "c2c"],
    }
}

/// The Asia/Shanghai day of an instant, as days since 1970-01-01.
fn shanghai_day(now_ns: u64) -> i32 {
    (((now_ns / 1_000_000_000) as i64 + 8 * 3600).div_euclid(86_400)) as i32
}

impl Payouts {
    /// Pays by QR code: the cap checked against the payer's day, the payment recorded (so
    /// it counts) before the transfer, the transfer booked. The same id again answers the
    /// same payment; what the customer has left today is returned.
    pub async fn qr_pay(&self, payment: QrPayment, now_ns: u64) -> Result<u64, PayoutError> {
        if payment.amount_fen == 0 {
            return Err(PayoutError::Invalid("amount", "must be above zero".into()));
        }
        if payment.id == 0 || payment.id > crate::booking::PAYOUT_ID_MAX {
            return Err(PayoutError::Invalid("id", "must be 1 to 2^88 - 1".into()));
        }
        if payment.payer_account == payment.payee_account {
            // Well formed, like the ledger's own refusal of the same transfer.
            return Err(PayoutError::Refused("accounts_must_be_different"));
        }
        // One payment at a time: the check and the record must not interleave with another
        // payment of the same payer.
        let _one_at_a_time = self.qr_lock().lock().await;
        let day = shanghai_day(now_ns);
        let payer = payment.payer_account;
        let recorded = self.store().read(|c| store::qr_payment(c, payment.id))?;
        let left = match recorded {
            Some((p, q, kind, amount, currency)) => {
                let same = p == payer
                    && q == payment.payee_account
                    && kind == kind_code(payment.kind)
                    && amount == payment.amount_fen
                    && currency == payment.currency.to_string();
                if !same {
                    return Err(PayoutError::Conflict);
                }
                None
            }
            None => {
                let spent = self
                    .store()
                    .read(|c| store::qr_spent(c, payer, day, counted_with(payment.kind)))?;
                let left = qr_cap_check(
                    payment.kind,
                    payment.risk_level,
                    spent,
                    payment.amount_fen,
                    payment.self_agreed_cap_fen,
                )
                .map_err(|refusal| match (refusal.reason, refusal.cap_fen) {
                    (QrRefusalReason::DailyCapExceeded, Some(cap_fen)) => {
                        PayoutError::QrDailyCapExceeded {
                            cap_fen,
                            spent_fen: spent,
                        }
                    }
                    (QrRefusalReason::SelfAgreedCapMissing, _) => PayoutError::Invalid(
                        "self_agreed_cap",
                        "a level-A customer's dynamic-code payment needs the agreed cap".into(),
                    ),
                    _ => PayoutError::Invalid("amount", refusal.to_string()),
                })?;
                let p = payment.clone();
                self.store()
                    .write(move |c| {
                        store::insert_qr(
                            c,
                            p.id,
                            p.payer_account,
                            p.payee_account,
                            kind_code(p.kind),
                            p.amount_fen,
                            &p.currency.to_string(),
                            day,
                            now_ns,
                        )
                    })
                    .await?;
                Some(left)
            }
        };
        let mut t = Transfer::new(
            qr_transfer_id(payment.id),
            payer,
            payment.payee_account,
            payment.amount_fen,
            payment.currency,
        );
        t.code = CODE_QR_PAYMENT;
        let results = self
            .booker()
            .execute(vec![Command::CreateTransfer(t)])
            .await?;
        match results.first() {
            Some(r) if r.is_success() => {}
            Some(r) if left.is_none() => {
                // A repeat the ledger refuses: the first payment's record stays as it was.
                return Err(PayoutError::Refused(r.as_str()));
            }
            Some(r) => {
                // Refused by the ledger: this call's record does not count against the day.
                let id = payment.id;
                self.store().write(move |c| store::delete_qr(c, id)).await?;
                return Err(PayoutError::Refused(r.as_str()));
            }
            None => return Err(PayoutError::System("the engine answered no result".into())),
        }
        match left {
            Some(left) => Ok(left),
            None => {
                let spent = self
                    .store()
                    .read(|c| store::qr_spent(c, payer, day, counted_with(payment.kind)))?;
                Ok(suanpan_routing::qr_daily_cap_fen(
                    payment.kind,
                    payment.risk_level,
                    payment.self_agreed_cap_fen,
                )
                .map_or(u64::MAX, |cap| cap.saturating_sub(spent)))
            }
        }
    }
}
