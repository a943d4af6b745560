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
    pub debit: SubjectSource,
    pub credit: SubjectSource,
}

impl PostingRule {
    /// The (debit, credit) subjects of a transfer between accounts booked under `debit_subject`
    /// and `credit_subject`.
    /// The rule's lines: (side, where it books, share in basis points; `None`: the rest).
    pub fn lines(&self) -> impl Iterator<Item = (Side, SubjectSource, Option<u16>)> {
        [
            (Side::Debit, self.debit, None),
            (Side::Credit, self.credit, None),
        ]
        .into_iter()
    }

    /// Every subject source the rule names.
    pub fn sources(&self) -> impl Iterator<Item = SubjectSource> {
        [self.debit, self.credit].into_iter()
    }

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

/// The rules in force, by transfer code.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    by_code: HashMap<u16, PostingRule>,
}

impl Rules {
    pub fn new(rules: Vec<PostingRule>) -> Rules {
        Rules {
            by_code: rules.into_iter().map(|r| (r.code, r)).collect(),
        }
    }

    pub fn get(&self, code: u16) -> Option<&PostingRule> {
        self.by_code.get(&code)
    }

    pub fn all(&self) -> Vec<&PostingRule> {
        let mut all: Vec<&PostingRule> = self.by_code.values().collect();
        all.sort_by_key(|r| r.code);
        all
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
}
