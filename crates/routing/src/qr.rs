//! Per-customer daily caps on QR-code payments (PBOC yinfa 2017-296, in force from 2018-04-01).
//!
//! The notice grades a payment by how the payer was authenticated. A static code (a printed
//! code, the same for every payment) is the weakest grade whatever else was checked: 500.00 a
//! day. A dynamic code is capped by the payer's risk level: A, a limit the customer agreed
//! with the institution; B, 5,000.00; C, 1,000.00.
//!
//! C2C (person to person over UnionPay's QR standard) is capped like a dynamic code: the
//! payment is made and authenticated inside the payer's bank app, as a dynamic code is. A C2C
//! flow that scans a printed personal code should be checked as `C2bStatic` instead.
//!
//! Pure arithmetic: the caller keeps what the customer spent today (reset at the cutover).

use std::fmt;

use crate::amount::Amount;

/// 500.00 CNY a day for static codes.
pub const QR_STATIC_DAILY_CAP_FEN: u64 = 50_000;
/// 5,000.00 CNY a day for dynamic codes at risk level B.
pub const QR_DYNAMIC_LEVEL_B_DAILY_CAP_FEN: u64 = 500_000;
/// 1,000.00 CNY a day for dynamic codes at risk level C.
pub const QR_DYNAMIC_LEVEL_C_DAILY_CAP_FEN: u64 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum QrKind {
    /// Merchant-presented static code (静态码).
    C2bStatic,
    /// Dynamic code: merchant-presented per-order code or consumer-presented payment code.
    C2bDynamic,
    /// Person to person; capped as dynamic (see the module comment).
    C2c,
}

/// The payer's risk-prevention level under the notice; it matters only for dynamic codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RiskLevel {
    A,
    B,
    C,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum QrRefusalReason {
    /// Spent today plus this payment would pass the day's cap.
    DailyCapExceeded,
    /// Level A's cap is what the customer agreed, and no agreed cap was given.
    SelfAgreedCapMissing,
    /// A zero amount is no payment.
    ZeroAmount,
}

impl QrRefusalReason {
    pub const fn code(self) -> &'static str {
        match self {
            QrRefusalReason::DailyCapExceeded => "qr_daily_cap_exceeded",
            QrRefusalReason::SelfAgreedCapMissing => "qr_self_agreed_cap_missing",
            QrRefusalReason::ZeroAmount => "qr_zero_amount",
        }
    }
}

/// A QR payment the daily cap refuses, with the figures that decided it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct QrRefusal {
    pub reason: QrRefusalReason,
    pub cap_fen: Option<u64>,
    pub spent_today_fen: u64,
    pub amount_fen: u64,
}

impl fmt::Display for QrRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (spent, amount) = (Amount(self.spent_today_fen), Amount(self.amount_fen));
        match (self.reason, self.cap_fen) {
            (QrRefusalReason::DailyCapExceeded, Some(cap)) => write!(
                f,
                "{amount} on top of {spent} spent today is over the {} daily QR cap",
                Amount(cap)
            ),
            (QrRefusalReason::DailyCapExceeded, None) => {
                write!(f, "{amount} is over the daily QR cap")
            }
            (QrRefusalReason::SelfAgreedCapMissing, _) => f.write_str(
                "risk level A needs the daily cap the customer agreed, and none was given",
            ),
            (QrRefusalReason::ZeroAmount, _) => f.write_str("a QR payment of 0.00 is no payment"),
        }
    }
}

impl std::error::Error for QrRefusal {}

/// The day's cap for this kind of code and risk level; `None` for level A without an agreed cap.
pub fn qr_daily_cap_fen(
    kind: QrKind,
    risk_level: RiskLevel,
    self_agreed_cap_fen: Option<u64>,
) -> Option<u64> {
    match (kind, risk_level) {
        (QrKind::C2bStatic, _) => Some(QR_STATIC_DAILY_CAP_FEN),
        (QrKind::C2bDynamic | QrKind::C2c, RiskLevel::A) => self_agreed_cap_fen,
        (QrKind::C2bDynamic | QrKind::C2c, RiskLevel::B) => Some(QR_DYNAMIC_LEVEL_B_DAILY_CAP_FEN),
        (QrKind::C2bDynamic | QrKind::C2c, RiskLevel::C) => Some(QR_DYNAMIC_LEVEL_C_DAILY_CAP_FEN),
    }
}

/// What is left of the day's cap after this payment, or why it is refused. Refused exactly when
/// `spent_today_fen + amount_fen > cap`: reaching the cap is allowed.
pub fn qr_cap_check(
    kind: QrKind,
    risk_level: RiskLevel,
    spent_today_fen: u64,
    amount_fen: u64,
    self_agreed_cap_fen: Option<u64>,
) -> Result<u64, QrRefusal> {
    let cap_fen = qr_daily_cap_fen(kind, risk_level, self_agreed_cap_fen);
    let refuse = |reason| QrRefusal {
        reason,
        cap_fen,
        spent_today_fen,
        amount_fen,
    };
    if amount_fen == 0 {
        return Err(refuse(QrRefusalReason::ZeroAmount));
    }
    let cap = cap_fen.ok_or_else(|| refuse(QrRefusalReason::SelfAgreedCapMissing))?;
    // An overflowing sum is past any cap.
    let total = spent_today_fen.checked_add(amount_fen);
    match total {
        Some(total) if total <= cap => Ok(cap - total),
        _ => Err(refuse(QrRefusalReason::DailyCapExceeded)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_code_cap_allows_500_00_and_refuses_one_fen_more() {
        assert_eq!(
            qr_cap_check(
                QrKind::C2bStatic,
                RiskLevel::A,
                20_000,
                30_000,
                Some(9_999_999)
            ),
            Ok(0)
        );
        let refused = qr_cap_check(
            QrKind::C2bStatic,
            RiskLevel::A,
            20_000,
            30_001,
            Some(9_999_999),
        );
        assert_eq!(
            refused.map_err(|r| r.reason.code()),
            Err("qr_daily_cap_exceeded")
        );
    }

    #[test]
    fn dynamic_caps_follow_the_risk_level_exactly_at_the_boundary() {
        let cases = [
            (QrKind::C2bDynamic, RiskLevel::B, 500_000),
            (QrKind::C2bDynamic, RiskLevel::C, 100_000),
            (QrKind::C2bDynamic, RiskLevel::A, 2_000_000),
            (QrKind::C2c, RiskLevel::B, 500_000),
            (QrKind::C2c, RiskLevel::C, 100_000),
            (QrKind::C2c, RiskLevel::A, 2_000_000),
            (QrKind::C2bStatic, RiskLevel::B, 50_000),
        ];
        for (kind, level, cap) in cases {
            let agreed = Some(2_000_000);
            assert_eq!(
                qr_cap_check(kind, level, 0, cap, agreed),
                Ok(0),
                "{kind:?} {level:?}"
            );
            assert_eq!(
                qr_cap_check(kind, level, 1, cap - 1, agreed),
                Ok(0),
                "{kind:?} {level:?}"
            );
            assert_eq!(
                qr_cap_check(kind, level, 0, cap - 100, agreed),
                Ok(100),
                "{kind:?} {level:?}"
            );
            let refused = qr_cap_check(kind, level, 1, cap, agreed);
            assert_eq!(
                refused.map_err(|r| r.reason),
                Err(QrRefusalReason::DailyCapExceeded)
            );
        }
    }

    #[test]
    fn level_a_without_an_agreed_cap_and_zero_and_overflow_are_refused() {
        let missing = qr_cap_check(QrKind::C2bDynamic, RiskLevel::A, 0, 1, None);
        assert_eq!(
            missing.map_err(|r| r.reason.code()),
            Err("qr_self_agreed_cap_missing")
        );
        let zero = qr_cap_check(QrKind::C2bDynamic, RiskLevel::B, 0, 0, None);
        assert_eq!(zero.map_err(|r| r.reason.code()), Err("qr_zero_amount"));
        let overflow = qr_cap_check(QrKind::C2c, RiskLevel::A, u64::MAX, 1, Some(u64::MAX));
        assert_eq!(
            overflow.map_err(|r| r.reason),
            Err(QrRefusalReason::DailyCapExceeded)
        );
        let shown = qr_cap_check(QrKind::C2bStatic, RiskLevel::C, 49_000, 1_001, None).err();
        assert_eq!(
            shown.map(|r| r.to_string()).as_deref(),
            Some("10.01 on top of 490.00 spent today is over the 500.00 daily QR cap")
        );
    }
}
