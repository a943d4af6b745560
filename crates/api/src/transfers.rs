//! Transfer endpoints: one transfer, a batch, post and void of pending transfers, and reading
//! a committed transfer back.

use suanpan_journal::TransferRow;
use suanpan_ledger::{
    Command, Currency, Reference, ResultCode, Transfer, TransferFlags, BATCH_COMMANDS_MAX,
};

use crate::accounts::parse_currency;
use crate::app::{App, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::wire::*;
use suanpan_access::Role;

pub fn transfer_view(t: &TransferRow) -> TransferView {
    let flags = TransferFlags(t.flags);
    let kind = if flags.pending() {
        "pending"
    } else if flags.post_pending() {
        "post_pending"
    } else if flags.void_pending() {
        "void_pending"
    } else {
        "posted"
    };
    TransferView {
        id: Id(t.id),
        debit_account_id: Id(t.debit_account_id),
        credit_account_id: Id(t.credit_account_id),
        amount: Amount(t.amount),
        currency: t.currency.clone(),
        code: t.code,
        kind: kind.into(),
        linked: flags.linked(),
        pending_id: (t.pending_id != 0).then_some(Id(t.pending_id)),
        timeout_ms: t.timeout_ms,
        reference: t.reference.clone(),
        accounting_date: t.accounting_date.clone(),
        timestamp: Time(t.timestamp),
        batch: t.batch,
    }
}

/// Turns a body into a ledger transfer; `at` prefixes field names inside a batch.
fn to_transfer(body: &NewTransferBody, at: &str) -> Result<Transfer, ApiError> {
    let reference = match &body.reference {
        None => Reference::EMPTY,
        Some(text) => Reference::new(text.as_bytes()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("a reference is at most {} bytes", Reference::LEN_MAX),
            )
            .field(format!("{at}reference"))
        })?,
    };
    let mut flags = 0;
    if body.linked {
        flags |= TransferFlags::LINKED;
    }
    if body.pending {
        flags |= TransferFlags::PENDING;
    }
    Ok(Transfer {
        id: body.id.0,
        debit_account_id: body.debit_account_id.0,
        credit_account_id: body.credit_account_id.0,
        amount: body.amount.0,
        currency: parse_currency(&body.currency, &format!("{at}currency"))?,
        code: body.code,
        reference,
        flags: TransferFlags(flags),
        pending_id: 0,
        timeout_ms: body.timeout_ms,
    })
}

fn check_accounts(app: &App, caller: &Caller, t: &Transfer, at: &str) -> Result<(), ApiError> {
    app.check_owner(caller, t.debit_account_id, &format!("{at}debit_account_id"))?;
    app.check_owner(
        caller,
        t.credit_account_id,
        &format!("{at}credit_account_id"),
    )
}

/// Operators may move money (adjustments), with the operator role, and every such transfer
/// is audited.
async fn operator_audit(
    app: &App,
    caller: &Caller,
    action: &'static str,
    target: String,
    outcome: String,
) -> Result<(), ApiError> {
    if let Some(op) = app
        .authorize(caller, Role::Operator, action, &target)
        .await?
    {
        app.audit(op, action, target, outcome).await?;
    }
    Ok(())
}

fn outcome_of(result: &Result<Vec<ResultCode>, ApiError>) -> String {
    match result {
        Ok(codes) if codes.len() == 1 => codes[0].as_str().to_string(),
        Ok(codes) => format!(
            "{} of {} accepted",
            codes
                .iter()
                .filter(|c| matches!(c, ResultCode::Ok | ResultCode::Exists))
                .count(),
            codes.len()
        ),
        Err(e) => e.code.to_string(),
    }
}

/// One command's answer: 201 when it was committed now, 200 when it had been before.
fn single(id: u128, code: ResultCode) -> Result<Reply, ApiError> {
    match code {
        ResultCode::Ok => Reply::json(
            201,
            &CommandResult {
                id: Id(id),
                result: "ok".into(),
            },
        ),
        ResultCode::Exists => Reply::json(
            200,
            &CommandResult {
                id: Id(id),
                result: "exists".into(),
            },
        ),
        other => Err(ApiError::ledger(
            other,
            format!("transfer {id} refused: {other}"),
        )),
    }
}

pub async fn create(app: &App, caller: &Caller, body: NewTransferBody) -> Result<Reply, ApiError> {
    let transfer = to_transfer(&body, "")?;
    if transfer.flags.linked() {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "a single transfer cannot be linked: send a chain through /v1/transfers/batch",
        )
        .field("linked"));
    }
    check_accounts(app, caller, &transfer, "")?;
    let target = transfer.id.to_string();
    operator_audit(
        app,
        caller,
        "create_transfer",
        target.clone(),
        "requested".into(),
    )
    .await?;
    let result = app.execute(vec![Command::CreateTransfer(transfer)]).await;
    operator_audit(app, caller, "create_transfer", target, outcome_of(&result)).await?;
    single(
        transfer.id,
        result?.first().copied().unwrap_or(ResultCode::Ok),
    )
}

pub async fn batch(app: &App, caller: &Caller, body: BatchBody) -> Result<Reply, ApiError> {
    if body.transfers.is_empty() || body.transfers.len() > BATCH_COMMANDS_MAX {
        return Err(ApiError::new(
            ErrorCode::TooManyTransfers,
            format!(
                "a batch holds 1 to {BATCH_COMMANDS_MAX} transfers, this one {}",
                body.transfers.len()
            ),
        )
        .field("transfers"));
    }
    let mut commands = Vec::with_capacity(body.transfers.len());
    for (i, t) in body.transfers.iter().enumerate() {
        let at = format!("transfers[{i}].");
        let transfer = to_transfer(t, &at)?;
        check_accounts(app, caller, &transfer, &at)?;
        commands.push(Command::CreateTransfer(transfer));
    }
    let target = format!(
        "{} transfers from {}",
        commands.len(),
        body.transfers[0].id.0
    );
    operator_audit(
        app,
        caller,
        "create_transfer_batch",
        target.clone(),
        "requested".into(),
    )
    .await?;
    let result = app.execute(commands).await;
    operator_audit(
        app,
        caller,
        "create_transfer_batch",
        target,
        outcome_of(&result),
    )
    .await?;
    let codes = result?;
    let mut accepted = 0;
    let results = codes
        .iter()
        .zip(&body.transfers)
        .enumerate()
        .map(|(i, (code, t))| {
            if matches!(code, ResultCode::Ok | ResultCode::Exists) {
                accepted += 1;
            }
            BatchItemResult {
                index: i as u32,
                id: t.id,
                result: code.as_str(),
            }
        })
        .collect::<Vec<_>>();
    let rejected = results.len() as u32 - accepted;
    Reply::json(
        200,
        &BatchResult {
            results,
            accepted,
            rejected,
        },
    )
}

/// Posts (`amount` Some or None) or voids a pending transfer.
pub async fn resolve(
    app: &App,
    caller: &Caller,
    pending_id: u128,
    id: u128,
    amount: Option<u64>,
    post: bool,
) -> Result<Reply, ApiError> {
    // The pending transfer's accounts decide who may resolve it, and give the currency.
    let found = app
        .read(move |l| {
            l.transfer_by_id(pending_id).map(|r| {
                let accounts = l.accounts();
                let debit = &accounts[r.debit_index as usize];
                let credit = &accounts[r.credit_index as usize];
                (debit.id, credit.id, debit.currency)
            })
        })
        .await?;
    let found = match found {
        Some(found) => Some(found),
        // Out of the ledger's memory (posted, voided or expired long ago): the history index
        // still knows its accounts, and the ledger says how it ended.
        None => {
            app.history_caught_up().await?;
            let history = app.history.clone();
            app.blocking(move || {
                history
                    .transfer(pending_id)
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
            })
            .await?
            .and_then(|t| {
                Currency::parse(&t.currency).map(|c| (t.debit_account_id, t.credit_account_id, c))
            })
        }
    };
    let Some((debit, credit, currency)) = found else {
        return Err(ApiError::new(
            ErrorCode::TransferNotFound,
            format!("no transfer {pending_id}"),
        )
        .field("id"));
    };
    if caller.owner().is_some()
        && (app.check_owner(caller, debit, "id").is_err()
            || app.check_owner(caller, credit, "id").is_err())
    {
        return Err(ApiError::new(
            ErrorCode::TransferNotFound,
            format!("this participant has no transfer {pending_id}"),
        )
        .field("id"));
    }
    let transfer = Transfer {
        id,
        debit_account_id: 0,
        credit_account_id: 0,
        amount: amount.unwrap_or(0),
        currency,
        code: 0,
        reference: Reference::EMPTY,
        flags: TransferFlags(if post {
            TransferFlags::POST_PENDING
        } else {
            TransferFlags::VOID_PENDING
        }),
        pending_id,
        timeout_ms: 0,
    };
    let action = if post { "post_pending" } else { "void_pending" };
    let target = format!("{pending_id} by {id}");
    operator_audit(app, caller, action, target.clone(), "requested".into()).await?;
    let result = app.execute(vec![Command::CreateTransfer(transfer)]).await;
    operator_audit(app, caller, action, target, outcome_of(&result)).await?;
    single(id, result?.first().copied().unwrap_or(ResultCode::Ok))
}

pub async fn get(app: &App, caller: &Caller, id: u128) -> Result<Reply, ApiError> {
    app.history_caught_up().await?;
    let history = app.history.clone();
    let row = app
        .blocking(move || {
            history
                .transfer(id)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
        })
        .await?;
    // A participant sees every transfer that touches one of its accounts, as its account's
    // list shows them.
    let visible = row.filter(|t| {
        caller.owner().is_none()
            || app.check_owner(caller, t.debit_account_id, "id").is_ok()
            || app.check_owner(caller, t.credit_account_id, "id").is_ok()
    });
    match visible {
        Some(t) => Reply::json(200, &transfer_view(&t)),
        None => {
            Err(ApiError::new(ErrorCode::TransferNotFound, format!("no transfer {id}")).field("id"))
        }
    }
}
