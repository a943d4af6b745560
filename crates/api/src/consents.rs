//! The consent endpoints: a third party requests a consent and reads under it; the bank that
//! keeps the customer's accounts authorises, rejects or revokes it for the customer, fetches
//! the one-time code of the consent page, and lists its customers' consents and the access
//! record. Every rule is the consent room's; this file translates HTTP to it and reads the
//! balances and transactions a permitted read returns.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use suanpan_consent::{
    Access as Grant, Action, Caller as ConsentCaller, Consent, ConsentError, ConsentRequest,
    DataKind, Day, Party, RecordFilter,
};

use crate::app::{self, App, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::transfers::transfer_view;
use crate::wire::*;
use suanpan_access::{ParticipantRole, Role};

/// The header by which a third party says the customer is present (their IP address, as
/// PSD2's PSU-IP-Address): such a read is recorded but not counted against the day's limit.
pub const CUSTOMER_IP_HEADER: &str = "x-customer-ip-address";

/// The consent routes (one variant of `RouteId`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConsentRoute {
    Create,
    Get,
    Authorise,
    Reject,
    Revoke,
    Terminate,
    IssueCode,
    Balances,
    Transactions,
    Record,
    CustomerConsents,
    CustomerRecord,
    Page,
    PageAction,
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The HTTP status of each of the room's refusals: every variant named, so a new one cannot
/// be added without choosing its status (docs/api-errors.md lists them; a test checks).
pub fn consent_status(e: &ConsentError) -> u16 {
    match e {
        ConsentError::Invalid(..) => 400,
        ConsentError::NotFound => 404,
        ConsentError::Conflict
        | ConsentError::StateConflict { .. }
        | ConsentError::CodeNotIssued => 409,
        ConsentError::NotThirdParty
        | ConsentError::Pending
        | ConsentError::Rejected
        | ConsentError::Expired
        | ConsentError::Revoked
        | ConsentError::Terminated
        | ConsentError::Replaced
        | ConsentError::AccountNotConsented
        | ConsentError::DataNotConsented
        | ConsentError::RangeNotConsented
        | ConsentError::CodeInvalid { .. }
        | ConsentError::CodeExpired => 403,
        ConsentError::BankUnknown | ConsentError::AccountNotOwned(_) => 422,
        ConsentError::ReadsPerDayExceeded { .. } | ConsentError::CodeAttemptsExceeded => 429,
        ConsentError::Overloaded => 503,
        ConsentError::Store(_) => 500,
    }
}

pub fn consent_error(e: ConsentError) -> ApiError {
    match &e {
        ConsentError::Invalid(field, why) => {
            ApiError::new(ErrorCode::InvalidValue, why.clone()).field(*field)
        }
        ConsentError::Overloaded => ApiError::new(ErrorCode::Overloaded, e.to_string()),
        ConsentError::Store(_) => ApiError::new(ErrorCode::Internal, e.to_string()),
        _ => ApiError {
            status: consent_status(&e),
            code: e.code(),
            message: e.to_string(),
            field: None,
            retry_after_s: None,
        },
    }
}

// ---- wire types ----------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsentBody {
    /// Your own id of this request, 1 to 64 of A-Z a-z 0-9 - _. The same request again
    /// answers the same consent; the same id with other fields is refused.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub request_id: String,
    /// The code of the participant (bank) that keeps the accounts.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,32}$"))]
    pub bank: String,
    /// The bank's reference of its customer, 1 to 64 of A-Z a-z 0-9 - _ .
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub customer: String,
    /// The customer's accounts at that bank, 1 to 20.
    #[schemars(length(min = 1, max = 20))]
    pub accounts: Vec<Id>,
    pub access: GrantBody,
    /// The last day reads are allowed (YYYY-MM-DD, Asia/Shanghai), at most 180 days ahead.
    #[schemars(regex(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"))]
    pub valid_until: String,
    /// Unattended reads of each account a day, 1 to 4 (1 for a one-off consent).
    #[schemars(range(min = 1, max = 4))]
    pub frequency_per_day: u8,
    /// `false`: one-off, reads only on the day it is authorised.
    pub recurring: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    #[serde(default)]
    pub balances: bool,
    /// Transactions booked on these days (both included).
    #[serde(default)]
    pub transactions: Option<DayRange>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DayRange {
    /// YYYY-MM-DD
    pub from: String,
    /// YYYY-MM-DD
    pub to: String,
}

#[derive(Serialize, JsonSchema)]
pub struct GrantView {
    pub balances: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<DayRange>,
}

#[derive(Serialize, JsonSchema)]
pub struct ConsentView {
    pub id: String,
    pub request_id: String,
    /// The third party's participant code.
    pub third_party: String,
    /// The bank's participant code.
    pub bank: String,
    pub customer: String,
    pub accounts: Vec<Id>,
    pub access: GrantView,
    pub valid_until: String,
    pub frequency_per_day: u8,
    pub recurring: bool,
    /// `requested`, `authorised`, `rejected`, `revoked_by_customer`, `expired`,
    /// `terminated_by_third_party` or `replaced`.
    pub state: String,
    pub created_at: Time,
    pub changed_at: Time,
    /// The consent page where the customer answers with the bank's one-time code.
    pub consent_page: String,
}

#[derive(Serialize, JsonSchema)]
pub struct ConsentList {
    pub consents: Vec<ConsentView>,
}

#[derive(Serialize, JsonSchema)]
pub struct OneTimeCodeView {
    /// Six digits for the bank to deliver to its customer; shown once.
    pub code: String,
    pub expires_at: Time,
}

/// An account's balance as a consent shows it: nothing beyond the figures.
#[derive(Serialize, JsonSchema)]
pub struct ConsentBalance {
    pub account_id: Id,
    pub currency: String,
    /// Credits minus debits, posted.
    pub credit_balance: Balance,
    pub debits_pending: Total,
    pub credits_pending: Total,
}

#[derive(Serialize, JsonSchema)]
pub struct ConsentBalances {
    pub consent_id: String,
    pub balances: Vec<ConsentBalance>,
    pub as_of: Time,
}

#[derive(Serialize, JsonSchema)]
pub struct AccessRecordEntry {
    pub seq: u64,
    pub time: Time,
    pub consent_id: String,
    /// `participant:<code>`, `customer` or `system`.
    pub actor: String,
    pub action: String,
    pub accounts: Vec<Id>,
    pub data: String,
    pub customer_present: bool,
    pub counted: bool,
    /// `ok` or the refusal's code.
    pub outcome: String,
}

#[derive(Serialize, JsonSchema)]
pub struct AccessRecordPage {
    pub entries: Vec<AccessRecordEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub fn consent_view(app: &App, c: &Consent) -> ConsentView {
    let r = &c.request;
    ConsentView {
        id: c.id.clone(),
        request_id: r.request_id.clone(),
        third_party: r.third_party.code.clone(),
        bank: r.bank.code.clone(),
        customer: r.customer.clone(),
        accounts: r.accounts.iter().map(|a| Id(*a)).collect(),
        access: GrantView {
            balances: r.access.balances,
            transactions: r.access.transactions.map(|(from, to)| DayRange {
                from: from.to_string(),
                to: to.to_string(),
            }),
        },
        valid_until: r.valid_until.to_string(),
        frequency_per_day: r.frequency_per_day,
        recurring: r.recurring,
        state: c.state.as_str().into(),
        created_at: Time(c.created_ns),
        changed_at: Time(c.changed_ns),
        consent_page: format!("{}/consent/{}", app.public_url(), c.id),
    }
}

// ---- handlers ------------------------------------------------------------------------------

fn participant(caller: &Caller) -> Result<&suanpan_access::Participant, ApiError> {
    match caller {
        Caller::Participant(p) => Ok(p),
        Caller::Operator(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "consents are asked for, answered and read by participants",
        )),
    }
}

/// 1 to `max` ASCII letters, digits and the `extra` bytes; otherwise refused naming `field`.
fn check_token(
    text: &str,
    max: usize,
    extra: &[u8],
    field: &'static str,
    what: &str,
) -> Result<(), ApiError> {
    let ok = (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    if ok {
        return Ok(());
    }
    let allowed: String = extra.iter().map(|&b| format!(" {}", b as char)).collect();
    Err(ApiError::new(
        ErrorCode::InvalidValue,
        format!("{field} {text:?} is not {what} (1 to {max} of A-Z a-z 0-9{allowed})"),
    )
    .field(field))
}

fn third_party(caller: &Caller) -> Result<&suanpan_access::Participant, ApiError> {
    let p = participant(caller)?;
    if p.role != ParticipantRole::ThirdParty {
        return Err(consent_error(ConsentError::NotThirdParty));
    }
    Ok(p)
}

fn day(field: &'static str, text: &str) -> Result<Day, ApiError> {
    Day::parse(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{text:?} is not a date YYYY-MM-DD"),
        )
        .field(field)
    })
}

fn consent_id(param: Option<&str>) -> Result<&str, ApiError> {
    match param {
        Some(id)
            if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Ok(id)
        }
        _ => Err(consent_error(ConsentError::NotFound)),
    }
}

pub async fn dispatch(
    app: &App,
    route: ConsentRoute,
    caller: &Caller,
    param: Option<&str>,
    query: &[(String, String)],
    headers: &hyper::HeaderMap,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    match route {
        ConsentRoute::Create => create(app, caller, crate::body::parse(bytes)?).await,
        ConsentRoute::Get => {
            let viewer = caller.owner();
            let c = app
                .consents
                .get(consent_id(param)?, viewer, now_ns())
                .map_err(consent_error)?;
            Reply::json(200, &consent_view(app, &c))
        }
        ConsentRoute::Authorise => act(app, caller, param, Action::Authorise).await,
        ConsentRoute::Reject => act(app, caller, param, Action::Reject).await,
        ConsentRoute::Revoke => act(app, caller, param, Action::Revoke).await,
        ConsentRoute::Terminate => act(app, caller, param, Action::Terminate).await,
        ConsentRoute::IssueCode => {
            let p = participant(caller)?;
            let who = ConsentCaller::participant(&p.code, p.owner);
            let (code, expires_ns) = app
                .consents
                .issue_code(consent_id(param)?, &who, now_ns())
                .await
                .map_err(consent_error)?;
            Reply::json(
                201,
                &OneTimeCodeView {
                    code,
                    expires_at: Time(expires_ns),
                },
            )
        }
        ConsentRoute::Balances => balances(app, caller, consent_id(param)?, query, headers).await,
        ConsentRoute::Transactions => {
            transactions(app, caller, consent_id(param)?, query, headers).await
        }
        ConsentRoute::Record => {
            let id = consent_id(param)?;
            let bank_owner = match caller {
                Caller::Operator(_) => None,
                Caller::Participant(p) => Some(p.owner),
            };
            if let Some(owner) = bank_owner {
                // The bank reads its customers' records; the third party its consent only.
                let c = app
                    .consents
                    .get(id, Some(owner), now_ns())
                    .map_err(consent_error)?;
                if c.request.bank.owner != owner {
                    return Err(consent_error(ConsentError::NotFound));
                }
            } else {
                app.authorize(caller, Role::Admin, "read_consent_record", id)
                    .await?;
                app.consents
                    .get(id, None, now_ns())
                    .map_err(consent_error)?;
            }
            record_page(app, RecordFilter::Consent(id), query)
        }
        ConsentRoute::CustomerConsents | ConsentRoute::CustomerRecord => {
            // `bank` names a participant by its code, whoever asks (only admins need it).
            if let Some(bank) = app::query_value(query, "bank") {
                check_token(bank, 32, b"-_", "bank", "a participant code")?;
            }
            let customer = param.unwrap_or("");
            check_token(customer, 64, b"-_.", "customer", "a customer reference")?;
            let bank = match caller {
                Caller::Participant(p) => p.owner,
                Caller::Operator(_) => {
                    app.authorize(caller, Role::Admin, "read_consent_record", customer)
                        .await?;
                    let code = app::query_value(query, "bank").ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::PartyRequired,
                            "operators name the bank: ?bank=CODE",
                        )
                        .field("bank")
                    })?;
                    bank_owner(app, code).await?
                }
            };
            if route == ConsentRoute::CustomerRecord {
                return record_page(
                    app,
                    RecordFilter::Customer {
                        bank_owner: bank,
                        customer,
                    },
                    query,
                );
            }
            let consents = app.consents.for_customer(bank, customer, now_ns());
            Reply::json(
                200,
                &ConsentList {
                    consents: consents.iter().map(|c| consent_view(app, c)).collect(),
                },
            )
        }
        ConsentRoute::Page | ConsentRoute::PageAction => Err(ApiError::new(
            ErrorCode::Internal,
            "the consent page is served before authentication",
        )),
    }
}

async fn bank_owner(app: &App, code: &str) -> Result<u64, ApiError> {
    let access = app.access.clone();
    let code = code.to_string();
    let found = app
        .blocking(move || {
            access
                .participant(&code)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e))
        })
        .await?;
    match found {
        Some(p) if p.role == ParticipantRole::Member => Ok(p.owner),
        _ => Err(consent_error(ConsentError::BankUnknown).field("bank")),
    }
}

async fn create(app: &App, caller: &Caller, body: NewConsentBody) -> Result<Reply, ApiError> {
    let tp = third_party(caller)?;
    let bank = bank_owner(app, &body.bank).await?;
    let transactions = match &body.access.transactions {
        None => None,
        Some(r) => Some((
            day("access.transactions.from", &r.from)?,
            day("access.transactions.to", &r.to)?,
        )),
    };
    let request = ConsentRequest {
        request_id: body.request_id,
        third_party: Party {
            code: tp.code.clone(),
            owner: tp.owner,
        },
        bank: Party {
            code: body.bank,
            owner: bank,
        },
        customer: body.customer,
        accounts: body.accounts.iter().map(|a| a.0).collect(),
        access: Grant {
            balances: body.access.balances,
            transactions,
        },
        valid_until: day("valid_until", &body.valid_until)?,
        frequency_per_day: body.frequency_per_day,
        recurring: body.recurring,
    };
    let (consent, created) = app
        .consents
        .request(request, now_ns())
        .await
        .map_err(consent_error)?;
    Reply::json(
        if created { 201 } else { 200 },
        &consent_view(app, &consent),
    )
}

async fn act(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    action: Action,
) -> Result<Reply, ApiError> {
    let p = participant(caller)?;
    let who = ConsentCaller::participant(&p.code, p.owner);
    let owners = |account: u128| app.owners.get(account);
    let c = app
        .consents
        .act(consent_id(param)?, action, &who, owners, now_ns())
        .await
        .map_err(consent_error)?;
    Reply::json(200, &consent_view(app, &c))
}

/// The customer's presence as the third party declares it: an IP address, recorded.
fn customer_ip(headers: &hyper::HeaderMap) -> Result<Option<IpAddr>, ApiError> {
    match headers.get(CUSTOMER_IP_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|t| t.trim().parse::<IpAddr>().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidValue,
                    "X-Customer-IP-Address must be the customer's IP address",
                )
                .field("X-Customer-IP-Address")
            }),
    }
}

fn query_account(query: &[(String, String)]) -> Result<Option<u128>, ApiError> {
    match app::query_value(query, "account") {
        None => Ok(None),
        Some(text) => parse_id(text).map(Some).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidId,
                format!("account {text:?} is not an id"),
            )
            .field("account")
        }),
    }
}

/// Checks a read against the consent; a refusal is recorded before it is answered.
#[allow(clippy::too_many_arguments)]
async fn permit(
    app: &App,
    who: &ConsentCaller,
    third_party_owner: u64,
    id: &str,
    account: Option<u128>,
    kind: DataKind,
    range: Option<(Day, Day)>,
    present: bool,
) -> Result<suanpan_consent::ReadPermit, ApiError> {
    let now = now_ns();
    let asked = account.map(|a| [a]);
    match app.consents.begin_read(
        id,
        third_party_owner,
        asked.as_ref().map(|a| &a[..]),
        kind,
        range,
        present,
        now,
    ) {
        Ok(permit) => Ok(permit),
        Err(refusal) => {
            let accounts: Vec<u128> = account.into_iter().collect();
            app.consents
                .refused(id, kind, &accounts, present, who, &refusal, now)
                .await
                .map_err(consent_error)?;
            Err(consent_error(refusal))
        }
    }
}

async fn balances(
    app: &App,
    caller: &Caller,
    id: &str,
    query: &[(String, String)],
    headers: &hyper::HeaderMap,
) -> Result<Reply, ApiError> {
    let tp = third_party(caller)?;
    let ip = customer_ip(headers)?;
    let account = query_account(query)?;
    let who = ConsentCaller::participant(&tp.code, tp.owner);
    let permit = permit(
        app,
        &who,
        tp.owner,
        id,
        account,
        DataKind::Balances,
        None,
        ip.is_some(),
    )
    .await?;
    let accounts = permit.accounts.clone();
    let read = app
        .read(move |l| {
            accounts
                .iter()
                .filter_map(|a| l.account_by_id(*a).copied())
                .collect::<Vec<_>>()
        })
        .await;
    let found = match read {
        Ok(found) => found,
        Err(e) => {
            app.consents.release(&permit);
            return Err(e);
        }
    };
    let as_of = now_ns();
    let data = match ip {
        Some(ip) => format!("balances; customer at {ip}"),
        None => "balances".into(),
    };
    app.consents
        .finish_read(&permit, DataKind::Balances, data, &who, as_of)
        .await
        .map_err(consent_error)?;
    let balances = found
        .iter()
        .map(|a| ConsentBalance {
            account_id: Id(a.id),
            currency: a.currency.to_string(),
            credit_balance: Balance(a.credits_posted as i128 - a.debits_posted as i128),
            debits_pending: Total(a.debits_pending),
            credits_pending: Total(a.credits_pending),
        })
        .collect();
    Reply::json(
        200,
        &ConsentBalances {
            consent_id: id.to_string(),
            balances,
            as_of: Time(as_of),
        },
    )
}

async fn transactions(
    app: &App,
    caller: &Caller,
    id: &str,
    query: &[(String, String)],
    headers: &hyper::HeaderMap,
) -> Result<Reply, ApiError> {
    let tp = third_party(caller)?;
    let ip = customer_ip(headers)?;
    let account = query_account(query)?.ok_or_else(|| {
        ApiError::new(ErrorCode::MissingField, "name the account: ?account=ID").field("account")
    })?;
    let limit = app::query_limit(query)?;
    let after = app::query_cursor(query)?;
    let granted = app
        .consents
        .get(id, Some(tp.owner), now_ns())
        .ok()
        .and_then(|c| c.request.access.transactions);
    let from = match app::query_value(query, "from") {
        Some(text) => Some(day("from", text)?),
        None => granted.map(|(from, _)| from),
    };
    let to = match app::query_value(query, "to") {
        Some(text) => Some(day("to", text)?),
        None => granted.map(|(_, to)| to),
    };
    let range = from.zip(to);
    let who = ConsentCaller::participant(&tp.code, tp.owner);
    let permit = permit(
        app,
        &who,
        tp.owner,
        id,
        Some(account),
        DataKind::Transactions,
        range,
        ip.is_some(),
    )
    .await?;
    let (from_ns, to_ns) = match range {
        Some((from, to)) => (from.plus(-1).end_ns(), to.end_ns()),
        None => (0, 0),
    };
    let rows = async {
        app.history_caught_up().await?;
        let history = app.history.clone();
        app.blocking(move || {
            history
                .account_transfers(account, after, from_ns, to_ns, limit + 1)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
        })
        .await
    }
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            app.consents.release(&permit);
            return Err(e);
        }
    };
    let data = match (range, ip) {
        (Some((f, t)), Some(ip)) => format!("transactions {f}..{t}; customer at {ip}"),
        (Some((f, t)), None) => format!("transactions {f}..{t}"),
        (None, _) => "transactions".into(),
    };
    app.consents
        .finish_read(&permit, DataKind::Transactions, data, &who, now_ns())
        .await
        .map_err(consent_error)?;
    let more = rows.len() > limit as usize;
    let transfers: Vec<TransferView> = rows
        .iter()
        .take(limit as usize)
        .map(transfer_view)
        .collect();
    let next_cursor = more
        .then(|| transfers.last().map(|t| t.timestamp.0.to_string()))
        .flatten();
    Reply::json(
        200,
        &TransferPage {
            transfers,
            next_cursor,
        },
    )
}

fn record_page(
    app: &App,
    filter: RecordFilter<'_>,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    let limit = app::query_limit(query)?;
    let after = app::query_cursor(query)?;
    let rows = app
        .consents
        .records(filter, after, limit + 1)
        .map_err(consent_error)?;
    let more = rows.len() > limit as usize;
    let entries: Vec<AccessRecordEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AccessRecordEntry {
            seq: r.seq,
            time: Time(r.time_ns),
            consent_id: r.consent_id,
            actor: r.actor,
            action: r.action,
            accounts: r.accounts.into_iter().map(Id).collect(),
            data: r.data,
            customer_present: r.customer_present,
            counted: r.counted,
            outcome: r.outcome,
        })
        .collect();
    let next_cursor = more
        .then(|| entries.last().map(|e| e.seq.to_string()))
        .flatten();
    Reply::json(
        200,
        &AccessRecordPage {
            entries,
            next_cursor,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each refusal, so the documentation check covers them all.
    fn every_refusal() -> Vec<ConsentError> {
        vec![
            ConsentError::Invalid("f", String::new()),
            ConsentError::NotFound,
            ConsentError::Conflict,
            ConsentError::NotThirdParty,
            ConsentError::BankUnknown,
            ConsentError::AccountNotOwned(1),
            ConsentError::StateConflict {
                state: "s",
                action: "a",
            },
            ConsentError::Pending,
            ConsentError::Rejected,
            ConsentError::Expired,
            ConsentError::Revoked,
            ConsentError::Terminated,
            ConsentError::Replaced,
            ConsentError::AccountNotConsented,
            ConsentError::DataNotConsented,
            ConsentError::RangeNotConsented,
            ConsentError::ReadsPerDayExceeded { limit: 4 },
            ConsentError::CodeNotIssued,
            ConsentError::CodeInvalid { attempts_left: 1 },
            ConsentError::CodeExpired,
            ConsentError::CodeAttemptsExceeded,
            ConsentError::Overloaded,
            ConsentError::Store(String::new()),
        ]
    }

    #[test]
    fn every_consent_refusal_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/api-errors.md");
        let all = every_refusal();
        assert_eq!(
            all.len(),
            ConsentError::CODES.len(),
            "a refusal missing here"
        );
        for e in all {
            assert!(ConsentError::CODES.contains(&e.code()), "{}", e.code());
            let answered = consent_error(e);
            let row = format!("| `{}` | {} |", answered.code, answered.status);
            assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
        }
    }
}
