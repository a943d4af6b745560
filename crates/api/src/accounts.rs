//! Account endpoints: open, read, freeze / unfreeze / close, an account's transfers and its
//! balance at a past instant.

use suanpan_ledger::{
    Account, AccountFlags, Command, Currency, NewAccount, ResultCode, SubjectCode, Tier,
};

use crate::app::{self, App, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::transfers::transfer_view;
use crate::wire::*;
use suanpan_access::Role;

pub fn account_view(a: &Account) -> AccountView {
    let mut flags = Vec::new();
    for (bit, name) in [
        (
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            AccountFlagName::DebitsMustNotExceedCredits,
        ),
        (
            AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            AccountFlagName::CreditsMustNotExceedDebits,
        ),
        (
            AccountFlags::NON_BOUND_INFLOW_CONSENT,
            AccountFlagName::NonBoundInflowConsent,
        ),
    ] {
        if a.flags.contains(bit) {
            flags.push(name);
        }
    }
    AccountView {
        id: Id(a.id),
        currency: a.currency.as_str().to_string(),
        subject_code: a.subject.as_str().to_string(),
        owner: Id(u128::from(a.owner)),
        tier: match a.tier {
            Tier::None => TierName::None,
            Tier::I => TierName::ClassI,
            Tier::II => TierName::ClassIi,
            Tier::III => TierName::ClassIii,
        },
        bound_account_id: (a.bound_account != 0).then_some(Id(a.bound_account)),
        flags,
        status: a.status.as_str().to_string(),
        debits_posted: Total(a.debits_posted),
        credits_posted: Total(a.credits_posted),
        debits_pending: Total(a.debits_pending),
        credits_pending: Total(a.credits_pending),
        credit_balance: Balance(a.credit_balance()),
        created_at: Time(a.timestamp),
    }
}

/// Customer balances (`2241.01`) and merchant payables (`2241.02`), and subjects under them:
/// the accounts that hold other people's money.
fn customer_or_merchant(subject: &SubjectCode) -> bool {
    let code = subject.as_str();
    ["2241.01", "2241.02"].iter().any(|p| {
        code == *p
            || code
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

pub fn parse_currency(text: &str, field: &str) -> Result<Currency, ApiError> {
    Currency::parse(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCurrency,
            format!("{text:?} is not a currency code (three capital letters, e.g. CNY)"),
        )
        .field(field)
    })
}

pub async fn create(app: &App, caller: &Caller, body: NewAccountBody) -> Result<Reply, ApiError> {
    let owner = match (caller, body.owner) {
        (Caller::Participant(p), None) => p.owner,
        (Caller::Participant(p), Some(o)) if o.0 == u128::from(p.owner) => p.owner,
        (Caller::Participant(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "a participant opens accounts for itself only; leave out owner",
            )
            .field("owner"))
        }
        (Caller::Operator(_), None) => {
            return Err(ApiError::new(
                ErrorCode::PartyRequired,
                "an operator opening an account names its owner",
            )
            .field("owner"))
        }
        (Caller::Operator(_), Some(o)) => u64::try_from(o.0).map_err(|_| {
            ApiError::new(ErrorCode::InvalidValue, "owner numbers are 64-bit").field("owner")
        })?,
    };
    let subject = SubjectCode::parse(&body.subject_code).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!(
                "{:?} is not a subject code (digits in dot-separated groups, at most 16 bytes)",
                body.subject_code
            ),
        )
        .field("subject_code")
    })?;
    let mut flags = 0;
    for f in &body.flags {
        flags |= match f {
            AccountFlagName::DebitsMustNotExceedCredits => {
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            }
            AccountFlagName::CreditsMustNotExceedDebits => {
                AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS
            }
            AccountFlagName::NonBoundInflowConsent => AccountFlags::NON_BOUND_INFLOW_CONSENT,
        };
    }
    if customer_or_merchant(&subject) {
        let strict = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        match (body.overdraft, flags & strict != 0) {
            (true, true) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidValue,
                    "overdraft and debits_must_not_exceed_credits contradict each other",
                )
                .field("overdraft"))
            }
            // The safe choice by default: a customer's or merchant's money cannot go below
            // zero unless the opener asks for an overdraft.
            (false, _) => flags |= strict,
            (true, false) => {}
        }
    }
    let new = NewAccount {
        id: body.id.0,
        currency: parse_currency(&body.currency, "currency")?,
        subject,
        owner,
        tier: match body.tier.unwrap_or(TierName::None) {
            TierName::None => Tier::None,
            TierName::ClassI => Tier::I,
            TierName::ClassIi => Tier::II,
            TierName::ClassIii => Tier::III,
        },
        bound_account: body.bound_account_id.map(|b| b.0).unwrap_or(0),
        flags: AccountFlags(flags),
    };
    let operator = app
        .authorize(
            caller,
            Role::Operator,
            "create_account",
            &new.id.to_string(),
        )
        .await?;
    if let Some(op) = operator {
        app.audit(op, "create_account", new.id.to_string(), "requested".into())
            .await?;
    }
    let result = app.execute(vec![Command::CreateAccount(new)]).await;
    if let Some(op) = operator {
        let outcome = match &result {
            Ok(r) => r.first().map(|c| c.as_str()).unwrap_or("none").to_string(),
            Err(e) => e.code.to_string(),
        };
        app.audit(op, "create_account", new.id.to_string(), outcome)
            .await?;
    }
    let code = result?.first().copied().unwrap_or(ResultCode::Ok);
    match code {
        ResultCode::Ok | ResultCode::Exists => {
            app.owners.insert(new.id, owner);
            let id = new.id;
            let account = app.read(move |l| l.account_by_id(id).copied()).await?;
            let account = account.ok_or_else(|| {
                ApiError::new(ErrorCode::Internal, "the account vanished after opening")
            })?;
            Reply::json(
                if code == ResultCode::Ok { 201 } else { 200 },
                &account_view(&account),
            )
        }
        other => Err(ApiError::ledger(
            other,
            format!("account {} refused: {other}", new.id),
        )),
    }
}

pub async fn get(app: &App, caller: &Caller, id: u128) -> Result<Reply, ApiError> {
    app.check_owner(caller, id, "id")?;
    match app.read(move |l| l.account_by_id(id).copied()).await? {
        Some(account) => Reply::json(200, &account_view(&account)),
        None => {
            Err(ApiError::new(ErrorCode::AccountNotFound, format!("no account {id}")).field("id"))
        }
    }
}

/// Freeze, unfreeze or close.
pub async fn set_status(
    app: &App,
    caller: &Caller,
    id: u128,
    command: Command,
) -> Result<Reply, ApiError> {
    let action = command.kind();
    app.check_owner(caller, id, "id")?;
    let operator = app
        .authorize(caller, Role::Operator, action, &id.to_string())
        .await?;
    if let Some(op) = operator {
        app.audit(op, action, id.to_string(), "requested".into())
            .await?;
    }
    let result = app.execute(vec![command]).await;
    if let Some(op) = operator {
        let outcome = match &result {
            Ok(r) => r.first().map(|c| c.as_str()).unwrap_or("none").to_string(),
            Err(e) => e.code.to_string(),
        };
        app.audit(op, action, id.to_string(), outcome).await?;
    }
    match result?.first().copied().unwrap_or(ResultCode::Ok) {
        ResultCode::Ok => Reply::json(
            200,
            &CommandResult {
                id: Id(id),
                result: "ok".into(),
            },
        ),
        ResultCode::AccountNotFound => {
            Err(ApiError::new(ErrorCode::AccountNotFound, format!("no account {id}")).field("id"))
        }
        other => Err(ApiError::ledger(
            other,
            format!("{action} of account {id} refused: {other}"),
        )),
    }
}

pub async fn transfers(
    app: &App,
    caller: &Caller,
    id: u128,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    app.check_owner(caller, id, "id")?;
    let limit = app::query_limit(query)?;
    let from = app::query_time(query, "from")?.unwrap_or(0);
    let to = app::query_time(query, "to")?.unwrap_or(u64::MAX);
    let after = app::query_cursor(query)?;
    app.check_exists(caller, id)?;
    app.history_caught_up().await?;
    let history = app.history.clone();
    let rows = app
        .blocking(move || {
            history
                .account_transfers(id, after, from, to, limit + 1)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
        })
        .await?;
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

pub async fn balance_at(
    app: &App,
    caller: &Caller,
    id: u128,
    query: &[(String, String)],
) -> Result<Reply, ApiError> {
    app.check_owner(caller, id, "id")?;
    let at = app::query_time(query, "at")?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingField,
            "give the instant as ?at=<RFC 3339>",
        )
        .field("at")
    })?;
    app.check_exists(caller, id)?;
    app.history_caught_up().await?;
    let history = app.history.clone();
    let posted = app
        .blocking(move || {
            history
                .posted_at(id, at)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
        })
        .await?;
    let (debits, credits) = posted
        .map(|p| (p.debits_posted, p.credits_posted))
        .unwrap_or((0, 0));
    Reply::json(
        200,
        &BalanceAt {
            account_id: Id(id),
            at: Time(at),
            debits_posted: Total(debits),
            credits_posted: Total(credits),
            credit_balance: Balance(credits as i128 - debits as i128),
            last_transfer_id: posted.map(|p| Id(p.transfer_id)),
        },
    )
}
