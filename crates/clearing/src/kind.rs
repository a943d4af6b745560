//! The kinds of interbank transaction the seed names, carried as the ledger transfer's code.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u16)]
pub enum TransactionKind {
    /// 协议支付: quick payment under the customer's agreement with its bank.
    AgreementPayment = 6001,
    /// 代付: payout on behalf of a customer.
    Payout = 6002,
    /// 网关支付: gateway payment through the bank's page.
    GatewayPayment = 6003,
    /// 退款: back to the original payer, never more than what is left of the original.
    Refund = 6004,
}

impl TransactionKind {
    pub const ALL: [TransactionKind; 4] = [
        TransactionKind::AgreementPayment,
        TransactionKind::Payout,
        TransactionKind::GatewayPayment,
        TransactionKind::Refund,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<TransactionKind> {
        TransactionKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::AgreementPayment => "agreement_payment",
            TransactionKind::Payout => "payout",
            TransactionKind::GatewayPayment => "gateway_payment",
            TransactionKind::Refund => "refund",
        }
    }

    pub fn parse(name: &str) -> Option<TransactionKind> {
        TransactionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        (self.code() - 6001) as usize
    }
}

impl fmt::Display for TransactionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The platform's fee per kind, in basis points of the amount, charged to the payer and shown
/// on statements. No public schedule was found, so it is configuration; the default is zero.
/// Fees are not part of the net positions: they are booked by accounting.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FeeSchedule {
    pub basis_points: [u16; 4],
}

impl FeeSchedule {
    /// Most a fee may be: 10,000 basis points is the whole amount.
    pub const BASIS_POINTS_MAX: u16 = 10_000;

    /// The fee on `amount_fen`, rounded down to the fen (the payer is never overcharged).
    pub fn fee_fen(&self, kind: TransactionKind, amount_fen: u64) -> u64 {
        let bp = u128::from(self.basis_points[kind.index()].min(FeeSchedule::BASIS_POINTS_MAX));
        (u128::from(amount_fen) * bp / 10_000) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_code_and_name() {
        for kind in TransactionKind::ALL {
            assert_eq!(TransactionKind::from_code(kind.code()), Some(kind));
            assert_eq!(TransactionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TransactionKind::from_code(6005), None);
        assert_eq!(TransactionKind::from_code(1), None);
    }

    #[test]
    fn fees_round_down_and_never_exceed_the_amount() {
        let fees = FeeSchedule {
            basis_points: [6, 0, 10_000, 60_000],
        };
        assert_eq!(fees.fee_fen(TransactionKind::AgreementPayment, 10_000), 6);
        assert_eq!(fees.fee_fen(TransactionKind::AgreementPayment, 1_666), 0);
        assert_eq!(fees.fee_fen(TransactionKind::Payout, 1_000_000), 0);
        assert_eq!(
            fees.fee_fen(TransactionKind::GatewayPayment, u64::MAX),
            u64::MAX
        );
        assert_eq!(fees.fee_fen(TransactionKind::Refund, 77), 77);
    }
}
