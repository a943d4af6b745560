//! Posting rules: how a committed transfer becomes a voucher. The transfer's code (its
//! transaction type) picks the rule; the rule says which subject each side of the voucher books
//! under. A code with no rule is not lost: the transfer waits for the day-end's supplement step.

use hashbrown::HashMap;

use crate::chart::{Chart, Side};
use crate::AccountingError;

/// Where one side of a voucher books.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SubjectSource {
    /// The subject of the transfer's debit account.
    DebitAccount,
    /// The subject of the transfer's credit account.
    CreditAccount,
    /// A fixed subject (by id).
    Subject(u32),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PostingRule {
    pub code: u16,
    pub name: String,
    /// The voucher's main pair: the whole amount, debit and credit.
    pub debit: SubjectSource,
    pub credit: SubjectSource,
    /// Lines beyond the main pair (a fee accrued with a payment, say): shares of the amount on
    /// GL-only subjects, balanced (Σ debit shares = Σ credit shares).
    pub extra: Vec<ExtraLine>,
}

/// A line of a split rule beyond the main pair.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtraLine {
    pub side: Side,
    /// A GL-only leaf subject (by id): these lines name no ledger account, so they must stay
    /// out of the GL-vs-sub-ledger check.
    pub subject: u32,
    /// Share of the transfer's amount in basis points, 1..=10,000.
    pub share_bp: u16,
}

/// Most extra lines one rule has.
pub const EXTRA_LINES_MAX: usize = 8;

/// The amounts of a rule's extra lines for a transfer of `amount`, in the rule's order. Each
/// line is its share rounded down, except that the last line of each side takes what makes
/// the side's total the side's whole share rounded down: as the two sides' shares are equal,
/// the two totals are equal, so the lines balance exactly.
pub fn extra_amounts(extra: &[ExtraLine], amount: u64) -> Vec<u64> {
    let share = |bp: u64| (u128::from(amount) * u128::from(bp) / 10_000) as u64;
    let mut out: Vec<u64> = extra.iter().map(|l| share(u64::from(l.share_bp))).collect();
    for side in [Side::Debit, Side::Credit] {
        let on_side: Vec<usize> = (0..extra.len())
            .filter(|&i| extra[i].side == side)
            .collect();
        let Some(&last) = on_side.last() else {
            continue;
        };
        let total_bp: u64 = on_side.iter().map(|&i| u64::from(extra[i].share_bp)).sum();
        let others: u64 = on_side[..on_side.len() - 1].iter().map(|&i| out[i]).sum();
        out[last] = share(total_bp) - others;
    }
    out
}

/// Checks a rule's extra lines: each a GL-only leaf with a share of 1 to 10,000 basis points,
/// at most [`EXTRA_LINES_MAX`], the debit shares equal to the credit shares.
pub fn check_extra(extra: &[ExtraLine], chart: &Chart) -> Result<(), AccountingError> {
    let invalid = |why: String| Err(AccountingError::RuleInvalid(why));
    if extra.len() > EXTRA_LINES_MAX {
        return invalid(format!(
            "at most {EXTRA_LINES_MAX} lines beyond the main pair"
        ));
    }
    let mut sums = [0u64; 2];
    for line in extra {
        let Some(subject) = chart.by_id(line.subject) else {
            return invalid(format!("no subject #{}", line.subject));
        };
        if !subject.gl_only || !chart.is_leaf(&subject.code) {
            return invalid(format!(
                "a split line books a share on a GL-only leaf subject; {} is not one (a share of an account's side would differ from its sub-ledger)",
                subject.code
            ));
        }
        if !(1..=10_000).contains(&line.share_bp) {
            return invalid(format!(
                "a share is 1 to 10,000 basis points, not {}",
                line.share_bp
            ));
        }
        sums[usize::from(line.side == Side::Credit)] += u64::from(line.share_bp);
    }
    if sums[0] != sums[1] {
        return invalid(format!(
            "the split lines do not balance: debit shares {} bp, credit shares {} bp",
            sums[0], sums[1]
        ));
    }
    Ok(())
}

impl PostingRule {
    /// The rule's lines: (side, where it books, share in basis points; `None`: the whole
    /// amount, the main pair).
    pub fn lines(&self) -> impl Iterator<Item = (Side, SubjectSource, Option<u16>)> + '_ {
        [
            (Side::Debit, self.debit, None),
            (Side::Credit, self.credit, None),
        ]
        .into_iter()
        .chain(
            self.extra
                .iter()
                .map(|l| (l.side, SubjectSource::Subject(l.subject), Some(l.share_bp))),
        )
    }

    /// Every subject source the rule names.
    pub fn sources(&self) -> impl Iterator<Item = SubjectSource> + '_ {
        self.lines().map(|(_, source, _)| source)
    }

    /// The (debit, credit) subjects of a transfer between accounts booked under `debit_subject`
    /// and `credit_subject`.
    pub fn subjects(&self, debit_subject: u32, credit_subject: u32) -> (u32, u32) {
        let pick = |source: SubjectSource| match source {
            SubjectSource::DebitAccount => debit_subject,
            SubjectSource::CreditAccount => credit_subject,
            SubjectSource::Subject(id) => id,
        };
        (pick(self.debit), pick(self.credit))
    }
}

/// How a source is written in accounting.db and on the command line.
pub fn source_text(source: SubjectSource, chart: &Chart) -> String {
    match source {
        SubjectSource::DebitAccount => "debit_account".into(),
        SubjectSource::CreditAccount => "credit_account".into(),
        SubjectSource::Subject(id) => chart
            .by_id(id)
            .map_or_else(|| format!("#{id}"), |s| s.code.clone()),
    }
}

pub fn parse_source(text: &str, chart: &Chart) -> Result<SubjectSource, AccountingError> {
    match text {
        "debit_account" => Ok(SubjectSource::DebitAccount),
        "credit_account" => Ok(SubjectSource::CreditAccount),
        code => {
            let subject = chart
                .by_code(code)
                .ok_or_else(|| AccountingError::SubjectUnknown(code.into()))?;
            if !chart.is_leaf(code) {
                return Err(AccountingError::SubjectInvalid(format!(
                    "a rule books only under leaf subjects; {code:?} has children"
                )));
            }
            Ok(SubjectSource::Subject(subject.id))
        }
    }
}

/// One version of a code's rule and the point of the journal it takes effect after: it is
/// in force for the batches after `effective_after` until a later version of its code. A change
/// keyed to the journal, not to when the projection reads it, makes the vouchers a function of
/// the journal alone, whatever the projection's lag.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RuleVersion {
    /// 1, 2, 3, … per code.
    pub version: u32,
    /// The last journal batch this version does not apply to.
    pub effective_after: u64,
    pub rule: PostingRule,
}

/// Every version of every rule, by transfer code; a code's versions in order, their
/// `effective_after` never decreasing.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    by_code: HashMap<u16, Vec<RuleVersion>>,
}

impl Rules {
    /// `versions` in any order; each code's are sorted by version.
    pub fn new(versions: Vec<RuleVersion>) -> Rules {
        let mut by_code: HashMap<u16, Vec<RuleVersion>> = HashMap::new();
        for v in versions {
            by_code.entry(v.rule.code).or_default().push(v);
        }
        for versions in by_code.values_mut() {
            versions.sort_by_key(|v| v.version);
            assert!(
                versions
                    .windows(2)
                    .all(|w| w[0].effective_after <= w[1].effective_after),
                "a rule version takes effect before the version it follows"
            );
        }
        Rules { by_code }
    }

    /// The rule of `code` in force for journal batch `seq`: the last version set before it.
    pub fn in_force(&self, code: u16, seq: u64) -> Option<&PostingRule> {
        self.by_code
            .get(&code)?
            .iter()
            .rev()
            .find(|v| v.effective_after < seq)
            .map(|v| &v.rule)
    }

    /// The newest version of a code's rule: what the transfers committed from now on get.
    pub fn latest(&self, code: u16) -> Option<&RuleVersion> {
        self.by_code.get(&code)?.last()
    }

    /// The rule transfers committed from now on get.
    pub fn get(&self, code: u16) -> Option<&PostingRule> {
        self.latest(code).map(|v| &v.rule)
    }

    /// The newest rule of each code, by code.
    pub fn all(&self) -> Vec<&PostingRule> {
        let mut all: Vec<&PostingRule> = self.by_code.keys().filter_map(|&c| self.get(c)).collect();
        all.sort_by_key(|r| r.code);
        all
    }

    /// Every version of every rule: what a re-projection of the whole journal may use.
    pub fn versions(&self) -> impl Iterator<Item = &RuleVersion> + '_ {
        self.by_code.values().flatten()
    }
}

/// The rules Suanpan ships: each side books under its own account's subject.
pub const DEFAULT_RULES: &[(u16, &str)] = &[
    (0, "transfer between accounts"),
    (1, "payment"),
    (2, "payout (代付)"),
    (3, "collection (代收)"),
    (4, "refund (退款)"),
    (5, "fee (手续费)"),
    (6, "settlement (结算)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_books_each_side_under_the_subject_it_names() {
        let natural = PostingRule {
            code: 1,
            name: "payment".into(),
            debit: SubjectSource::DebitAccount,
            credit: SubjectSource::CreditAccount,
            extra: Vec::new(),
        };
        assert_eq!(natural.subjects(10, 20), (10, 20));
        let wrong_side = PostingRule {
            debit: SubjectSource::CreditAccount,
            credit: SubjectSource::DebitAccount,
            ..natural.clone()
        };
        assert_eq!(wrong_side.subjects(10, 20), (20, 10));
        let fixed = PostingRule {
            credit: SubjectSource::Subject(7),
            ..natural
        };
        assert_eq!(fixed.subjects(10, 20), (10, 7));
    }

    #[test]
    fn a_batch_gets_the_version_in_force_after_the_point_it_was_set() {
        let version = |version, effective_after, debit| RuleVersion {
            version,
            effective_after,
            rule: PostingRule {
                code: 1,
                name: "payment".into(),
                debit,
                credit: SubjectSource::CreditAccount,
                extra: Vec::new(),
            },
        };
        let rules = Rules::new(vec![
            version(2, 10, SubjectSource::Subject(7)),
            version(1, 0, SubjectSource::DebitAccount),
            version(3, 10, SubjectSource::Subject(8)),
        ]);
        let debit_at = |seq| rules.in_force(1, seq).map(|r| r.debit);
        assert_eq!(debit_at(1), Some(SubjectSource::DebitAccount));
        assert_eq!(debit_at(10), Some(SubjectSource::DebitAccount));
        // Two versions set at the same point: the later one stands.
        assert_eq!(debit_at(11), Some(SubjectSource::Subject(8)));
        assert_eq!(
            rules.get(1).map(|r| r.debit),
            Some(SubjectSource::Subject(8))
        );
        assert_eq!(rules.in_force(2, 11), None);
    }

    #[test]
    fn split_lines_balance_for_every_amount() {
        let line = |side, share_bp| ExtraLine {
            side,
            subject: 1,
            share_bp,
        };
        let extra = [
            line(Side::Debit, 33),
            line(Side::Debit, 27),
            line(Side::Credit, 60),
        ];
        for amount in [0, 1, 99, 166, 10_000, 123_457, u64::MAX] {
            let amounts = extra_amounts(&extra, amount);
            assert_eq!(amounts[0] + amounts[1], amounts[2], "{amount}: {amounts:?}");
            assert_eq!(
                u128::from(amounts[2]),
                u128::from(amount) * 60 / 10_000,
                "{amount}"
            );
        }
    }
}
