//! The chart of accounts (科目表): hierarchical subject codes, each with a category and the
//! side its balance normally stands on. Every ledger account maps to one leaf subject by the
//! subject code it was opened with; the general ledger is kept per subject.

use hashbrown::HashMap;
use suanpan_ledger::SubjectCode;

use crate::AccountingError;

/// The subject that catches what cannot yet be explained (过渡账户 / 挂账).
pub const SUSPENSE_SUBJECT: &str = "3099";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Category {
    Asset,
    Liability,
    Equity,
    /// 共同类: clearing in transit and suspense, whose balance may stand on either side.
    Common,
    Income,
    Expense,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Asset,
        Category::Liability,
        Category::Equity,
        Category::Common,
        Category::Income,
        Category::Expense,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Asset => "asset",
            Category::Liability => "liability",
            Category::Equity => "equity",
            Category::Common => "common",
            Category::Income => "income",
            Category::Expense => "expense",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn normal_side(self) -> Side {
        match self {
            Category::Asset | Category::Common | Category::Expense => Side::Debit,
            Category::Liability | Category::Equity | Category::Income => Side::Credit,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Subject {
    /// Stable row id: vouchers refer to subjects by it.
    pub id: u32,
    pub code: String,
    pub name: String,
    pub category: Category,
    /// Kept in the general ledger only, with no ledger accounts under it (suspense): left out
    /// of the GL-vs-sub-ledger check.
    pub gl_only: bool,
}

impl Subject {
    /// `2241` for `2241.01`; `None` for a top-level subject.
    pub fn parent_code(code: &str) -> Option<&str> {
        code.rsplit_once('.').map(|(parent, _)| parent)
    }
}

/// The chart as loaded from accounting.db.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub subjects: Vec<Subject>,
    by_code: HashMap<String, usize>,
    by_id: HashMap<u32, usize>,
}

impl Chart {
    pub fn new(mut subjects: Vec<Subject>) -> Chart {
        subjects.sort_by(|a, b| a.code.cmp(&b.code));
        let by_code = subjects
            .iter()
            .enumerate()
            .map(|(i, s)| (s.code.clone(), i))
            .collect();
        let by_id = subjects
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        Chart {
            subjects,
            by_code,
            by_id,
        }
    }

    pub fn by_code(&self, code: &str) -> Option<&Subject> {
        self.by_code.get(code).map(|&i| &self.subjects[i])
    }

    pub fn by_id(&self, id: u32) -> Option<&Subject> {
        self.by_id.get(&id).map(|&i| &self.subjects[i])
    }

    pub fn is_leaf(&self, code: &str) -> bool {
        let prefix = format!("{code}.");
        !self.subjects.iter().any(|s| s.code.starts_with(&prefix))
    }

    /// The leaf subject a ledger account opened with `code` books under, if the chart has it.
    pub fn leaf_for(&self, code: &SubjectCode) -> Option<u32> {
        let subject = self.by_code(code.as_str())?;
        self.is_leaf(&subject.code).then_some(subject.id)
    }

    pub fn suspense(&self) -> Result<&Subject, AccountingError> {
        self.by_code(SUSPENSE_SUBJECT)
            .ok_or_else(|| AccountingError::SubjectUnknown(SUSPENSE_SUBJECT.into()))
    }

    /// Checks a new subject against the chart: the code parses, is new, and its parent exists.
    pub fn check_new(&self, code: &str) -> Result<(), AccountingError> {
        if SubjectCode::parse(code).is_none() {
            return Err(AccountingError::SubjectInvalid(format!(
                "subject code {code:?} is not dot-separated digits of at most 16 bytes"
            )));
        }
        if self.by_code(code).is_some() {
            return Err(AccountingError::SubjectExists(code.into()));
        }
        if let Some(parent) = Subject::parent_code(code) {
            if self.by_code(parent).is_none() {
                return Err(AccountingError::SubjectInvalid(format!(
                    "subject {code:?} needs its parent {parent:?} in the chart first"
                )));
            }
        }
        Ok(())
    }
}

impl Chart {
    /// The default chart with ids 1, 2, 3, … in its order, as a new accounting.db numbers it.
    pub fn default_chart() -> Chart {
        Chart::new(
            DEFAULT_CHART
                .iter()
                .enumerate()
                .map(|(i, &(code, name, category, gl_only))| Subject {
                    id: i as u32 + 1,
                    code: code.into(),
                    name: name.into(),
                    category,
                    gl_only,
                })
                .collect(),
        )
    }
}

/// The chart a payment institution starts from: (code, name, category, gl_only).
pub const DEFAULT_CHART: &[(&str, &str, Category, bool)] = &[
    (
        "1002",
        "bank deposits: reserve funds (备付金存款)",
        Category::Asset,
        false,
    ),
    (
        "1122",
        "receivables from channels (应收渠道款)",
        Category::Asset,
        false,
    ),
    (
        "1122.01",
        "receivables from channels: card schemes",
        Category::Asset,
        false,
    ),
    (
        "1122.02",
        "receivables from channels: payment gateways (Alipay, WeChat Pay)",
        Category::Asset,
        false,
    ),
    (
        "2241",
        "other payables (其他应付款)",
        Category::Liability,
        false,
    ),
    (
        "2241.01",
        "customer balances (客户备付金余额)",
        Category::Liability,
        false,
    ),
    (
        "2241.02",
        "merchant payables (应付商户款)",
        Category::Liability,
        false,
    ),
    (
        "3001",
        "clearing in transit (待清算)",
        Category::Common,
        false,
    ),
    (
        SUSPENSE_SUBJECT,
        "suspense (过渡账户 / 挂账)",
        Category::Common,
        true,
    ),
    ("6021", "fee income (手续费收入)", Category::Income, false),
    (
        "6301",
        "non-operating income (营业外收入)",
        Category::Income,
        true,
    ),
    (
        "6421",
        "channel costs (手续费支出)",
        Category::Expense,
        false,
    ),
    (
        "6711",
        "non-operating expense (营业外支出)",
        Category::Expense,
        true,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart::default_chart()
    }

    #[test]
    fn accounts_book_only_under_leaf_subjects() {
        let chart = chart();
        let leaf = |c: &str| SubjectCode::parse(c).and_then(|c| chart.leaf_for(&c));
        assert!(leaf("2241.01").is_some());
        assert_eq!(leaf("2241"), None, "2241 has children");
        assert_eq!(leaf("9999"), None, "not in the chart");
    }

    #[test]
    fn a_new_subject_needs_its_parent() {
        let chart = chart();
        assert!(chart.check_new("2241.03").is_ok());
        assert!(matches!(
            chart.check_new("2242.01"),
            Err(AccountingError::SubjectInvalid(_))
        ));
        assert!(matches!(
            chart.check_new("2241.01"),
            Err(AccountingError::SubjectExists(_))
        ));
        assert!(chart.check_new("22x").is_err());
    }

    #[test]
    fn balances_stand_on_the_category_side() {
        assert_eq!(Category::Asset.normal_side(), Side::Debit);
        assert_eq!(Category::Liability.normal_side(), Side::Credit);
        assert_eq!(Category::parse("income"), Some(Category::Income));
        assert_eq!(Category::parse("loss"), None);
    }
}
