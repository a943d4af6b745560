//! The JSON bodies of the accounting and clearing endpoints. Like `wire.rs`, their schemas in
//! the OpenAPI document are derived from these types; amounts and balances are decimal strings,
//! request bodies refuse unknown fields.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::wire::{Amount, Balance, Total};

// ----- accounting ---------------------------------------------------------------------------

/// One step of a date's day-end.
#[derive(Serialize, JsonSchema)]
pub struct DayEndStepView {
    /// catch_up, supplement, general_ledger, trial_balance, daily_balances, gl_check,
    /// suspense, period_roll_up, reports.
    pub step: &'static str,
    pub done: bool,
    /// How long the step took (absent while not done, or when it was done before times were
    /// recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Where a date's day-end stands.
#[derive(Serialize, JsonSchema)]
pub struct DayEndStatus {
    /// YYYY-MM-DD.
    pub accounting_date: String,
    /// A later date exists: the day-end may run.
    pub closed: bool,
    /// not_started, running, partial (stopped or failed part-way; a rerun continues), complete.
    pub state: &'static str,
    /// The step running now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_step: Option<&'static str>,
    pub transfers: u64,
    pub vouchers: u64,
    /// Transfers whose code has no posting rule (supplemented by the day-end).
    pub unmatched: u64,
    pub steps: Vec<DayEndStepView>,
    /// Why the last run started through the API stopped, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<DayEndFailure>,
}

#[derive(Serialize, JsonSchema, Clone)]
pub struct DayEndFailure {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, JsonSchema)]
pub struct DayEndDates {
    pub dates: Vec<DayEndStatus>,
}

/// A day-end started: read its progress at `status_url`.
#[derive(Serialize, JsonSchema)]
pub struct DayEndStarted {
    pub accounting_date: String,
    pub state: &'static str,
    pub status_url: String,
}

/// One subject of a report: debit-side and credit-side columns, as the CSV has them.
#[derive(Serialize, JsonSchema)]
pub struct ReportRow {
    pub subject_code: String,
    pub name: String,
    /// 1 for a top-level subject, 2 for its children, ...
    pub level: usize,
    pub currency: String,
    pub opening_debit: Total,
    pub opening_credit: Total,
    pub debits: Total,
    pub credits: Total,
    pub closing_debit: Total,
    pub closing_credit: Total,
}

/// Σ debits = Σ credits and the whole chart sums to zero, per currency.
#[derive(Serialize, JsonSchema)]
pub struct TrialBalanceTotals {
    pub currency: String,
    pub debits: Total,
    pub credits: Total,
    pub opening_sum: Balance,
    pub closing_sum: Balance,
    pub balanced: bool,
}

/// The trial balance (试算平衡表): top-level subjects and the totals per currency.
#[derive(Serialize, JsonSchema)]
pub struct TrialBalanceReport {
    pub accounting_date: String,
    pub subjects: Vec<ReportRow>,
    pub totals: Vec<TrialBalanceTotals>,
}

/// The subject balance table (科目余额表): every subject, parents summing their children.
#[derive(Serialize, JsonSchema)]
pub struct SubjectBalanceReport {
    pub accounting_date: String,
    pub subjects: Vec<ReportRow>,
}

#[derive(Serialize, JsonSchema)]
pub struct SuspenseItemView {
    /// The item's number, as a write-off names it.
    pub id: i64,
    /// The date whose GL check found the difference.
    pub accounting_date: String,
    /// The subject the difference was found on.
    pub subject_code: String,
    pub currency: String,
    /// The item's debit-side effect on the suspense subject.
    pub amount: Balance,
    /// Where the difference came from.
    pub origin: String,
    pub voucher_number: u64,
    /// open or written_off.
    pub status: &'static str,
    /// Days open (until the write-off, once written off).
    pub age_days: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_off_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_off_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct SuspenseItems {
    pub items: Vec<SuspenseItemView>,
}

/// Write off suspense items: the explaining voucher(s) are posted on the open date.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteOffBody {
    /// The items' numbers (1 to 1,000), of one currency.
    #[schemars(length(min = 1, max = 1000))]
    pub items: Vec<i64>,
    /// A GL-only subject that explains what the items do not net out among themselves.
    #[serde(default)]
    pub against: Option<String>,
    /// Why: kept with the items and in the audit log (1 to 500 characters, no control characters).
    #[schemars(
        length(min = 1, max = 500),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub note: String,
}

#[derive(Serialize, JsonSchema)]
pub struct WriteOffDone {
    /// The date the voucher(s) were posted on.
    pub accounting_date: String,
    pub voucher_numbers: Vec<u64>,
    pub items: Vec<i64>,
}

#[derive(Serialize, JsonSchema)]
pub struct SubjectView {
    pub code: String,
    pub name: String,
    /// asset, liability, equity, common, income or expense.
    pub category: &'static str,
    /// debit or credit.
    pub normal_side: &'static str,
    /// Kept in the general ledger only, with no ledger accounts under it.
    pub gl_only: bool,
    pub leaf: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct SubjectList {
    pub subjects: Vec<SubjectView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubjectBody {
    /// Digits in dot-separated groups, at most 16 bytes; its parent must exist (`2241.05`
    /// needs `2241`).
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)*$"), length(max = 16))]
    pub code: String,
    /// 1 to 200 characters, no control characters.
    #[schemars(
        length(min = 1, max = 200),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub name: String,
    /// asset, liability, equity, common, income or expense.
    #[schemars(extend("enum" = ["asset", "liability", "equity", "common", "income", "expense"]))]
    pub category: String,
    #[serde(default)]
    pub gl_only: bool,
}

/// What to change; the category and the GL-only mark only while nothing books under it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditSubjectBody {
    /// 1 to 200 characters, no control characters.
    #[serde(default)]
    #[schemars(
        length(min = 1, max = 200),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(extend("enum" = ["asset", "liability", "equity", "common", "income", "expense", null]))]
    pub category: Option<String>,
    #[serde(default)]
    pub gl_only: Option<bool>,
}

/// One line of a posting rule.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleLineBody {
    /// debit or credit.
    pub side: String,
    /// debit_account, credit_account (the subject of that account of the transfer) or a leaf
    /// subject code.
    pub source: String,
    /// A split line's share of the transfer's amount in basis points (1 to 10,000), booked on
    /// a GL-only subject; the debit shares must equal the credit shares. Absent: the whole
    /// amount (the main pair: exactly one such debit line and one such credit line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_bp: Option<u16>,
}

#[derive(Serialize, JsonSchema)]
pub struct RuleView {
    /// The transfer code the rule applies to.
    pub code: u16,
    pub name: String,
    pub lines: Vec<RuleLineBody>,
    /// The rule's version (1, 2, 3, … per code); earlier versions are kept.
    pub version: u32,
    /// The journal batch it takes effect after: transfers committed up to that batch keep
    /// the version before it, however late accounting reads them.
    pub effective_after_batch: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// A posting rule: either `debit` and `credit` (one line each for the whole amount), or
/// `lines`: that main pair plus split lines, shares of the amount on GL-only subjects (e.g. a
/// fee accrued with each payment: debit a fee receivable, credit fee income).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["debit", "credit"], "properties": {"debit": {"type": "string"}, "credit": {"type": "string"}, "lines": {"type": "null"}}},
    {"required": ["lines"], "properties": {"lines": {"type": "array"}, "debit": {"type": "null"}, "credit": {"type": "null"}}}
]))]
pub struct RuleBody {
    /// 1 to 200 characters, no control characters.
    #[schemars(
        length(min = 1, max = 200),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub name: String,
    #[serde(default)]
    pub debit: Option<String>,
    #[serde(default)]
    pub credit: Option<String>,
    #[serde(default)]
    pub lines: Option<Vec<RuleLineBody>>,
}

#[derive(Serialize, JsonSchema)]
pub struct CutoverDone {
    /// The date the books closed.
    pub closed_date: String,
    /// The date business goes on under now.
    pub accounting_date: String,
}

// ----- clearing -----------------------------------------------------------------------------

#[derive(Serialize, JsonSchema)]
pub struct ParticipantView {
    /// 1 to 1024: the owner number of its ledger accounts (and of its API key's participant).
    pub number: u16,
    pub code: String,
    pub name: String,
    /// bank or payment_institution.
    pub kind: &'static str,
    /// active or suspended.
    pub status: &'static str,
    pub net_debit_cap: Amount,
}

#[derive(Serialize, JsonSchema)]
pub struct ParticipantList {
    pub participants: Vec<ParticipantView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParticipantBody {
    /// 1 to 1024.
    #[schemars(range(min = 1, max = 1024))]
    pub number: u16,
    /// 1 to 16 ASCII letters and digits.
    #[schemars(regex(pattern = r"^[A-Za-z0-9]{1,16}$"))]
    pub code: String,
    /// 1 to 64 characters without commas, quotes or control characters.
    #[schemars(regex(pattern = r#"^[^,"\u0000-\u001f\u007f-\u009f]{1,64}$"#))]
    pub name: String,
    /// bank or payment_institution.
    #[schemars(extend("enum" = ["bank", "payment_institution"]))]
    pub kind: String,
    /// The most it may owe, unsettled, in fen.
    pub net_debit_cap: Amount,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapBody {
    pub net_debit_cap: Amount,
}

#[derive(Serialize, JsonSchema)]
pub struct BatchClosed {
    /// The number of the clearing batch just closed.
    pub batch: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct PositionView {
    pub participant: u16,
    pub paid_count: u64,
    pub paid: Total,
    pub received_count: u64,
    pub received: Total,
    pub fee: Total,
    /// Received − paid: positive, the participant is owed; negative, it owes.
    pub net: Balance,
}

#[derive(Serialize, JsonSchema)]
pub struct BilateralView {
    pub a: u16,
    pub b: u16,
    pub a_paid_b: Total,
    pub b_paid_a: Total,
    /// Positive: `a` is owed by `b`.
    pub net_a: Balance,
}

#[derive(Serialize, JsonSchema)]
pub struct SettlementView {
    pub participant: u16,
    /// Positive: the participant receives this much; negative: it pays.
    pub net: Balance,
}

/// A closed clearing batch, read back from the journal: gross, net and settlement figures.
#[derive(Serialize, JsonSchema)]
pub struct BatchReport {
    pub batch: u64,
    pub first_journal_batch: u64,
    pub last_journal_batch: u64,
    pub transactions: u64,
    pub amount: Total,
    pub fee: Total,
    pub positions: Vec<PositionView>,
    pub settlement_instructions: Vec<SettlementView>,
    /// With `?bilateral=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bilateral: Option<Vec<BilateralView>>,
}

impl BatchReport {
    /// The report of a cleared batch: the one shape of `GET /v1/clearing/batches/{batch}` and
    /// `suanpan clear report BATCH --json`, so the two never drift apart.
    pub fn new(
        batch: u64,
        cleared: &suanpan_clearing::ClearedBatch,
        bilateral: bool,
    ) -> BatchReport {
        let n = &cleared.netting;
        BatchReport {
            batch,
            first_journal_batch: cleared.bounds.first_seq,
            last_journal_batch: cleared.bounds.last_seq,
            transactions: n.transactions(),
            amount: Total(n.amount_fen()),
            fee: Total(n.fee_fen()),
            positions: n
                .active_positions()
                .map(|p| PositionView {
                    participant: p.participant,
                    paid_count: p.paid_count,
                    paid: Total(p.paid_fen),
                    received_count: p.received_count,
                    received: Total(p.received_fen),
                    fee: Total(p.fee_fen),
                    net: Balance(p.net_fen()),
                })
                .collect(),
            settlement_instructions: suanpan_clearing::settlement_instructions(n)
                .iter()
                .map(|s| SettlementView {
                    participant: s.participant,
                    net: Balance(s.net_fen),
                })
                .collect(),
            bilateral: bilateral.then(|| {
                n.bilateral_nets()
                    .iter()
                    .map(|b| BilateralView {
                        a: b.a,
                        b: b.b,
                        a_paid_b: Total(b.a_paid_b_fen),
                        b_paid_a: Total(b.b_paid_a_fen),
                        net_a: Balance(b.net_a_fen()),
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct StatementWritten {
    pub participant: u16,
    pub lines: u64,
    /// The trailer's SHA-256 of the body.
    pub body_sha256: String,
}

#[derive(Serialize, JsonSchema)]
pub struct StatementsWritten {
    pub batch: u64,
    pub statements: Vec<StatementWritten>,
}

#[derive(Serialize, JsonSchema)]
pub struct StatementEntry {
    pub batch: u64,
    pub participant: u16,
    pub bytes: u64,
    /// Where to download it.
    pub url: String,
}

/// A batch's settlement posted.
#[derive(Serialize, JsonSchema)]
pub struct BatchSettled {
    pub batch: u64,
    /// The settlement postings made (0 when every net was zero).
    pub postings: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct StatementList {
    pub statements: Vec<StatementEntry>,
}
