//! Netting (轧差): from a batch's transactions to each participant's gross paid and received,
//! its multilateral net position, and the bilateral figures between any two participants.
//! Pure arithmetic on integers, so it is property-tested alone.

use crate::accounts::PARTICIPANTS_MAX;
use crate::TransactionKind;

/// One cleared transaction: a transfer between two participants' position accounts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TransactionLine {
    pub id: u128,
    pub timestamp_ns: u64,
    pub amount_fen: u64,
    pub fee_fen: u64,
    pub payer: u16,
    pub payee: u16,
    pub kind: TransactionKind,
    /// Index into the batch's references; 0 for none.
    pub reference: u32,
}

/// A participant's figures for one batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Position {
    pub participant: u16,
    pub paid_count: u64,
    pub paid_fen: u128,
    pub received_count: u64,
    pub received_fen: u128,
    /// Fees charged to it as payer (not part of the net position).
    pub fee_fen: u128,
}

impl Position {
    /// Received − paid: positive, the participant is owed; negative, it owes.
    pub fn net_fen(&self) -> i128 {
        self.received_fen as i128 - self.paid_fen as i128
    }

    pub fn is_empty(&self) -> bool {
        self.paid_count == 0 && self.received_count == 0
    }
}

/// What passed between two participants in a batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BilateralNet {
    pub a: u16,
    pub b: u16,
    pub a_paid_b_fen: u128,
    pub b_paid_a_fen: u128,
}

impl BilateralNet {
    /// Positive: `a` is owed by `b` this much; negative: `a` owes `b`.
    pub fn net_a_fen(&self) -> i128 {
        self.b_paid_a_fen as i128 - self.a_paid_b_fen as i128
    }
}

/// The running figures of one batch, built transaction by transaction.
pub struct Netting {
    positions: Vec<Position>,
    /// Gross paid, payer-major: `gross[(payer - 1) * max + payee - 1]`.
    gross: Vec<u128>,
    transactions: u64,
    amount_fen: u128,
    fee_fen: u128,
}

impl Default for Netting {
    fn default() -> Netting {
        Netting::new()
    }
}

impl Netting {
    pub fn new() -> Netting {
        let max = usize::from(PARTICIPANTS_MAX);
        Netting {
            positions: (1..=PARTICIPANTS_MAX)
                .map(|participant| Position {
                    participant,
                    ..Position::default()
                })
                .collect(),
            gross: vec![0; max * max],
            transactions: 0,
            amount_fen: 0,
            fee_fen: 0,
        }
    }

    /// Adds one transaction. Participant numbers are 1..=PARTICIPANTS_MAX and differ (the
    /// scan only passes position-account transfers, and the ledger refuses equal accounts).
    pub fn add(&mut self, line: &TransactionLine) {
        assert!(line.payer != line.payee && line.payer != 0 && line.payee != 0);
        let (payer, payee) = (usize::from(line.payer) - 1, usize::from(line.payee) - 1);
        let amount = u128::from(line.amount_fen);
        let p = &mut self.positions[payer];
        p.paid_count += 1;
        p.paid_fen += amount;
        p.fee_fen += u128::from(line.fee_fen);
        let r = &mut self.positions[payee];
        r.received_count += 1;
        r.received_fen += amount;
        self.gross[payer * usize::from(PARTICIPANTS_MAX) + payee] += amount;
        self.transactions += 1;
        self.amount_fen += amount;
        self.fee_fen += u128::from(line.fee_fen);
    }

    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    pub fn amount_fen(&self) -> u128 {
        self.amount_fen
    }

    pub fn fee_fen(&self) -> u128 {
        self.fee_fen
    }

    /// The position of `participant`, zero if it did nothing in the batch.
    pub fn position(&self, participant: u16) -> Option<&Position> {
        let index = usize::from(participant).checked_sub(1)?;
        self.positions.get(index)
    }

    /// Participants that paid or received in the batch, by number.
    pub fn active_positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.iter().filter(|p| !p.is_empty())
    }

    pub fn bilateral(&self, a: u16, b: u16) -> Option<BilateralNet> {
        let max = usize::from(PARTICIPANTS_MAX);
        let (i, j) = (
            usize::from(a).checked_sub(1)?,
            usize::from(b).checked_sub(1)?,
        );
        if i >= max || j >= max {
            return None;
        }
        Some(BilateralNet {
            a,
            b,
            a_paid_b_fen: self.gross[i * max + j],
            b_paid_a_fen: self.gross[j * max + i],
        })
    }

    /// Every pair of participants that exchanged anything, `a < b`.
    pub fn bilateral_nets(&self) -> Vec<BilateralNet> {
        let active: Vec<u16> = self.active_positions().map(|p| p.participant).collect();
        let mut nets = Vec::new();
        for (k, &a) in active.iter().enumerate() {
            for &b in &active[k + 1..] {
                if let Some(net) = self.bilateral(a, b) {
                    if net.a_paid_b_fen != 0 || net.b_paid_a_fen != 0 {
                        nets.push(net);
                    }
                }
            }
        }
        nets
    }

    /// The invariants of a cleared batch: Σ paid = Σ received = the batch amount, so the net
    /// positions sum to zero, and the counts match. A failure means the books are wrong.
    pub fn check(&self) -> Result<(), String> {
        let (mut paid, mut received, mut net) = (0u128, 0u128, 0i128);
        let (mut paid_count, mut received_count) = (0u64, 0u64);
        for p in &self.positions {
            paid += p.paid_fen;
            received += p.received_fen;
            net += p.net_fen();
            paid_count += p.paid_count;
            received_count += p.received_count;
        }
        if net != 0 || paid != self.amount_fen || received != self.amount_fen {
            return Err(format!(
                "net positions sum to {net} fen (paid {paid}, received {received}, batch {})",
                self.amount_fen
            ));
        }
        if paid_count != self.transactions || received_count != self.transactions {
            return Err(format!(
                "counts disagree: {paid_count} paid, {received_count} received, {} transactions",
                self.transactions
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(id: u128, payer: u16, payee: u16, amount_fen: u64) -> TransactionLine {
        TransactionLine {
            id,
            timestamp_ns: id as u64,
            amount_fen,
            fee_fen: amount_fen / 1_000,
            payer,
            payee,
            kind: TransactionKind::AgreementPayment,
            reference: 0,
        }
    }

    fn lines() -> impl Strategy<Value = Vec<TransactionLine>> {
        prop::collection::vec((1u16..=12, 1u16..=12, 1u64..=u64::MAX / 4), 0..300).prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .filter(|(_, (a, b, _))| a != b)
                .map(|(i, (a, b, amount))| line(i as u128 + 1, a, b, amount))
                .collect()
        })
    }

    fn netting_of(lines: &[TransactionLine]) -> Netting {
        let mut netting = Netting::new();
        lines.iter().for_each(|l| netting.add(l));
        netting
    }

    proptest! {
        #[test]
        fn net_positions_sum_to_zero(lines in lines()) {
            let netting = netting_of(&lines);
            prop_assert_eq!(netting.check(), Ok(()));
            let sum: i128 = netting.active_positions().map(Position::net_fen).sum();
            prop_assert_eq!(sum, 0);
        }

        #[test]
        fn each_net_is_received_minus_paid(lines in lines()) {
            let netting = netting_of(&lines);
            for participant in 1..=12u16 {
                let paid: u128 = lines.iter().filter(|l| l.payer == participant)
                    .map(|l| u128::from(l.amount_fen)).sum();
                let received: u128 = lines.iter().filter(|l| l.payee == participant)
                    .map(|l| u128::from(l.amount_fen)).sum();
                let p = netting.position(participant).copied().unwrap_or_default();
                prop_assert_eq!((p.paid_fen, p.received_fen), (paid, received));
                prop_assert_eq!(p.net_fen(), received as i128 - paid as i128);
            }
        }

        #[test]
        fn bilateral_nets_add_up_to_the_multilateral_net(lines in lines()) {
            let netting = netting_of(&lines);
            for p in netting.active_positions() {
                let from_pairs: i128 = netting.bilateral_nets().iter().map(|n| {
                    if n.a == p.participant { n.net_a_fen() }
                    else if n.b == p.participant { -n.net_a_fen() }
                    else { 0 }
                }).sum();
                prop_assert_eq!(from_pairs, p.net_fen());
            }
        }
    }

    #[test]
    fn a_participant_that_only_pays_owes_what_it_paid() {
        let netting = netting_of(&[line(1, 1, 2, 500), line(2, 1, 3, 250), line(3, 3, 2, 50)]);
        let net = |p| netting.position(p).map(Position::net_fen);
        assert_eq!((net(1), net(2), net(3)), (Some(-750), Some(550), Some(200)));
        assert_eq!(netting.transactions(), 3);
        assert_eq!(netting.amount_fen(), 800);
        assert_eq!(netting.bilateral(3, 2).map(|n| n.net_a_fen()), Some(-50));
    }
}
