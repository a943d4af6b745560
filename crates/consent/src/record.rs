//! One entry of the access record: who did what under which consent, to which accounts and
//! data, when, and how it ended. Written durably before the answer it records.

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// Its place in the record (0 until written).
    pub seq: u64,
    pub time_ns: u64,
    pub consent_id: String,
    pub third_party_owner: u64,
    pub bank_owner: u64,
    pub customer: String,
    /// `participant:<code>`, `operator:<name>` or `customer` (on the consent page).
    pub actor: String,
    /// `request`, `authorise`, `reject`, `revoke`, `terminate`, `expire`, `replace`,
    /// `issue_code`, `read_balances`, `read_transactions`.
    pub action: String,
    pub accounts: Vec<u128>,
    /// The data the access concerned (`balances`, `transactions 2026-12-01..2026-12-06`).
    pub data: String,
    pub customer_present: bool,
    /// An unattended read that counted against the day's limit.
    pub counted: bool,
    /// `ok`, or the refusal's code.
    pub outcome: String,
}
