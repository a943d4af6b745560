//! The route table: every endpoint once, with what the router, the OpenAPI document and the
//! metrics need to know about it. The router dispatches on [`RouteId`] and the document is
//! rendered from this table, so an endpoint cannot exist without being documented.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::books::BooksRoute;
use crate::books_wire::*;
use crate::consents::{
    AccessRecordPage, ConsentBalances, ConsentList, ConsentRoute, ConsentView, NewConsentBody,
    OneTimeCodeView,
};
use crate::orders::{
    NewOrderBody, NewRefundBody, NotificationList, OrderView, PayStatus, RefundView, ResendResult,
};
use crate::payouts::{
    CalendarBody, ExplainBody, NewPayoutBody, PayoutRoute, PayoutView, QrPaymentBody,
    QrPaymentView, RouteExplanation, RoutingRulesView, RulesBody,
};
use crate::recon::{
    ChannelReportView, DifferenceView, ReconReportView, ReconRoute, ReconRunBody, ResolveBody,
};
use crate::wire::*;
use suanpan_access::Role;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RouteId {
    CreateAccount,
    GetAccount,
    FreezeAccount,
    UnfreezeAccount,
    CloseAccount,
    AccountTransfers,
    AccountBalanceAt,
    CreateTransfer,
    CreateTransferBatch,
    GetTransfer,
    PostPending,
    VoidPending,
    AuditLog,
    OpenApi,
    Metrics,
    Healthz,
    Readyz,
    /// The accounting and clearing endpoints (`books.rs`).
    Books(crate::books::BooksRoute),
    CreateOrder,
    FindOrder,
    GetOrder,
    CreateRefund,
    OrderNotifications,
    ResendNotification,
    AlipayNotify,
    WechatNotify,
    ResultPage,
    ResultStatus,
    /// The consent endpoints and page (`consents.rs`, `consent_page.rs`).
    Consent(crate::consents::ConsentRoute),
    /// Payouts, routing and QR payments (`payouts.rs`).
    Payouts(crate::payouts::PayoutRoute),
    /// Reconciliation (`recon.rs`).
    Recon(crate::recon::ReconRoute),
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// Anyone: health, metrics, the document itself.
    Public,
    /// A signed participant (on its own accounts) or an operator of at least the viewer role
    /// for reads, the operator role for changes.
    Caller,
    /// Operators only, of at least this role.
    Operator(suanpan_access::Role),
}

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// One transfer alone: a linked chain goes through the batch endpoint.
fn single_transfer(g: &mut SchemaGenerator) -> Schema {
    let transfer = g.subschema_for::<NewTransferBody>();
    schemars::json_schema!({
        "allOf": [transfer],
        "properties": {"linked": {"enum": [false]}}
    })
}

pub struct QueryParam {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
    /// What the server takes: the document's schema for the parameter says exactly this.
    pub value: QueryValue,
}

/// The values a query parameter takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QueryValue {
    /// Any text (a result page's token).
    Text,
    /// Where the previous page ended, as its `next_cursor` gave it.
    Cursor,
    /// `true` or `false`.
    Bool,
    /// Items per page: 1 to 1000.
    Limit,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// An RFC 3339 instant.
    Instant,
    /// A day, YYYY-MM-DD, 1970 or later.
    Date,
    /// A decimal id, 1 to 2^128 - 1.
    Id,
    /// A clearing participant's number, 1 to 1024.
    ParticipantNumber,
    /// A participant's code: 1 to 32 letters, digits, `-` or `_`.
    ParticipantCode,
    /// A merchant's order number: 1 to 64 letters, digits, `-` or `_`.
    MerchantOrderNo,
}

pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    /// `{id}` marks the one path parameter.
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub query: &'static [QueryParam],
    pub request: Option<SchemaFn>,
    /// The success status and body.
    pub ok_status: u16,
    pub response: Option<SchemaFn>,
    /// Error statuses this route can answer (beyond 401/403 for authenticated routes).
    pub errors: &'static [u16],
}

const PAGE: QueryParam = QueryParam {
    name: "cursor",
    required: false,
    description: "From the previous page's next_cursor.",
    value: QueryValue::Cursor,
};
const LIMIT: QueryParam = QueryParam {
    name: "limit",
    required: false,
    description: "Items per page, 1 to 1000 (default 100).",
    value: QueryValue::Limit,
};

const FORMAT: QueryParam = QueryParam {
    name: "format",
    required: false,
    description: "csv or json (default: by the Accept header, else json).",
    value: QueryValue::OneOf(&["csv", "json"]),
};
const STATEMENT_FORMAT: QueryParam = QueryParam {
    name: "format",
    required: false,
    description: "csv (the file as written, the default) or camt053 (ISO 20022 camt.053.001.08 of the same statement).",
    value: QueryValue::OneOf(&["csv", "camt053"]),
};
const STATEMENT_PARTICIPANT: QueryParam = QueryParam {
    name: "participant",
    required: false,
    description: "The participant's number (operators; a participant may name only itself).",
    value: QueryValue::ParticipantNumber,
};

pub const ROUTES: &[Route] = &[
    Route {
        id: RouteId::CreateAccount,
        method: "POST",
        path: "/v1/accounts",
        summary: "Open an account. Repeating the same account answers 200 with it.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<NewAccountBody>),
        ok_status: 201,
        response: Some(schema::<AccountView>),
        errors: &[400, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::GetAccount,
        method: "GET",
        path: "/v1/accounts/{id}",
        summary: "Read an account and its balances.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<AccountView>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::FreezeAccount,
        method: "POST",
        path: "/v1/accounts/{id}/freeze",
        summary: "Freeze an account: no money moves in or out (operators).",
        access: Access::Operator(suanpan_access::Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<CommandResult>),
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::UnfreezeAccount,
        method: "POST",
        path: "/v1/accounts/{id}/unfreeze",
        summary: "Unfreeze an account (operators).",
        access: Access::Operator(suanpan_access::Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<CommandResult>),
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::CloseAccount,
        method: "POST",
        path: "/v1/accounts/{id}/close",
        summary: "Close an account for good (its owner, or operators).",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<CommandResult>),
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::AccountTransfers,
        method: "GET",
        path: "/v1/accounts/{id}/transfers",
        summary: "An account's transfers, oldest first, in pages, optionally within [from, to).",
        access: Access::Caller,
        query: &[
            PAGE,
            LIMIT,
            QueryParam {
                name: "from",
                required: false,
                description: "RFC 3339 instant: transfers at or after it.",
                value: QueryValue::Instant,
            },
            QueryParam {
                name: "to",
                required: false,
                description: "RFC 3339 instant: transfers before it.",
                value: QueryValue::Instant,
            },
        ],
        request: None,
        ok_status: 200,
        response: Some(schema::<TransferPage>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::AccountBalanceAt,
        method: "GET",
        path: "/v1/accounts/{id}/balance",
        summary: "An account's posted balance as it stood at an instant.",
        access: Access::Caller,
        query: &[QueryParam {
            name: "at",
            required: true,
            description: "RFC 3339 instant.",
            value: QueryValue::Instant,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<BalanceAt>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::CreateTransfer,
        method: "POST",
        path: "/v1/transfers",
        summary: "Make one transfer. Repeating the same transfer answers 200 `exists`.",
        access: Access::Caller,
        query: &[],
        request: Some(single_transfer),
        ok_status: 201,
        response: Some(schema::<CommandResult>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::CreateTransferBatch,
        method: "POST",
        path: "/v1/transfers/batch",
        summary: "Make up to 8,190 transfers in order; one result per transfer.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<BatchBody>),
        ok_status: 200,
        response: Some(schema::<BatchResult>),
        errors: &[400, 404, 413, 415, 503],
    },
    Route {
        id: RouteId::GetTransfer,
        method: "GET",
        path: "/v1/transfers/{id}",
        summary: "Read a committed transfer.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<TransferView>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::PostPending,
        method: "POST",
        path: "/v1/transfers/{id}/post",
        summary: "Post a pending transfer, in full or in part.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<PostPendingBody>),
        ok_status: 201,
        response: Some(schema::<CommandResult>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::VoidPending,
        method: "POST",
        path: "/v1/transfers/{id}/void",
        summary: "Void a pending transfer, releasing it.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<VoidPendingBody>),
        ok_status: 201,
        response: Some(schema::<CommandResult>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::AuditLog,
        method: "GET",
        path: "/v1/audit",
        summary: "The operators' audit log, oldest first (admins).",
        access: Access::Operator(suanpan_access::Role::Admin),
        query: &[PAGE, LIMIT],
        request: None,
        ok_status: 200,
        response: Some(schema::<AuditPage>),
        errors: &[400],
    },
    Route {
        id: RouteId::OpenApi,
        method: "GET",
        path: "/v1/openapi.json",
        summary: "This document.",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[],
    },
    Route {
        id: RouteId::Metrics,
        method: "GET",
        path: "/metrics",
        summary: "Prometheus metrics (text exposition format).",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[],
    },
    Route {
        id: RouteId::Healthz,
        method: "GET",
        path: "/healthz",
        summary: "Liveness: the process answers.",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<Health>),
        errors: &[],
    },
    Route {
        id: RouteId::Readyz,
        method: "GET",
        path: "/readyz",
        summary: "Readiness: the engine takes requests (503 while stopping or stopped).",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<Health>),
        errors: &[503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Dates),
        method: "GET",
        path: "/v1/accounting/dates",
        summary: "Every accounting date the journal holds, with its day-end status (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<DayEndDates>),
        errors: &[503],
    },
    Route {
        id: RouteId::Books(BooksRoute::DayEndStatus),
        method: "GET",
        path: "/v1/accounting/dates/{date}/day-end",
        summary: "A date's day-end: per step, done or not and the time it took (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<DayEndStatus>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::DayEndRun),
        method: "POST",
        path: "/v1/accounting/dates/{date}/day-end",
        summary: "Start a closed date's day-end (operators): 202 at once, then read its status; a rerun continues at the first unfinished step.",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 202,
        response: Some(schema::<DayEndStarted>),
        errors: &[400, 404, 409, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::TrialBalance),
        method: "GET",
        path: "/v1/accounting/dates/{date}/trial-balance",
        summary: "The trial balance of a day-ended date, JSON or CSV (`Accept: text/csv` or `?format=csv`) (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[FORMAT],
        request: None,
        ok_status: 200,
        response: Some(schema::<TrialBalanceReport>),
        errors: &[400, 404, 409, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::SubjectBalances),
        method: "GET",
        path: "/v1/accounting/dates/{date}/subject-balances",
        summary: "The subject balance table of a day-ended date, JSON or CSV (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[FORMAT],
        request: None,
        ok_status: 200,
        response: Some(schema::<SubjectBalanceReport>),
        errors: &[400, 404, 409, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Suspense),
        method: "GET",
        path: "/v1/accounting/suspense",
        summary: "Suspense items with their origin and age; open ones only unless `?all=true` (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[QueryParam {
            name: "all",
            required: false,
            description: "true: written-off items too.",
            value: QueryValue::Bool,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<SuspenseItems>),
        errors: &[400, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::WriteOff),
        method: "POST",
        path: "/v1/accounting/suspense/write-off",
        summary: "Write off suspense items by posting the explaining voucher(s) (operators; audited).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<WriteOffBody>),
        ok_status: 201,
        response: Some(schema::<WriteOffDone>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Subjects),
        method: "GET",
        path: "/v1/accounting/subjects",
        summary: "The chart of accounts (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<SubjectList>),
        errors: &[503],
    },
    Route {
        id: RouteId::Books(BooksRoute::AddSubject),
        method: "POST",
        path: "/v1/accounting/subjects",
        summary: "Add a subject to the chart (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<NewSubjectBody>),
        ok_status: 201,
        response: Some(schema::<SubjectView>),
        errors: &[400, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::EditSubject),
        method: "PATCH",
        path: "/v1/accounting/subjects/{subject}",
        summary: "Rename a subject; change its category only while nothing books under it (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<EditSubjectBody>),
        ok_status: 200,
        response: Some(schema::<SubjectView>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::DeleteSubject),
        method: "DELETE",
        path: "/v1/accounting/subjects/{subject}",
        summary: "Delete a subject nothing refers to; one with accounts, rules or postings is refused (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<SubjectView>),
        errors: &[404, 409, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Rules),
        method: "GET",
        path: "/v1/accounting/rules",
        summary: "The posting rules by transfer code (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<RuleList>),
        errors: &[503],
    },
    Route {
        id: RouteId::Books(BooksRoute::SetRule),
        method: "PUT",
        path: "/v1/accounting/rules/{code}",
        summary: "Add or replace the posting rule of a transfer code; it applies to transfers projected from then on (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<RuleBody>),
        ok_status: 200,
        response: Some(schema::<RuleView>),
        errors: &[400, 404, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Cutover),
        method: "POST",
        path: "/v1/accounting/cutover",
        summary: "Cut the books over (日切) to the next accounting date now, in the sequence (admins).",
        access: Access::Operator(Role::Admin),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<CutoverDone>),
        errors: &[422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Participants),
        method: "GET",
        path: "/v1/clearing/participants",
        summary: "The clearing participants (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ParticipantList>),
        errors: &[503],
    },
    Route {
        id: RouteId::Books(BooksRoute::CreateParticipant),
        method: "POST",
        path: "/v1/clearing/participants",
        summary: "Register a participant: opens its position and settlement accounts and credits its net debit cap (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<NewParticipantBody>),
        ok_status: 201,
        response: Some(schema::<ParticipantView>),
        errors: &[400, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::GetParticipant),
        method: "GET",
        path: "/v1/clearing/participants/{number}",
        summary: "A clearing participant (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ParticipantView>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::SuspendParticipant),
        method: "POST",
        path: "/v1/clearing/participants/{number}/suspend",
        summary: "Suspend a participant: its position account is frozen (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ParticipantView>),
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::ActivateParticipant),
        method: "POST",
        path: "/v1/clearing/participants/{number}/activate",
        summary: "Reactivate a suspended participant (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ParticipantView>),
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::SetCap),
        method: "POST",
        path: "/v1/clearing/participants/{number}/cap",
        summary: "Change a participant's net debit cap; below what it owes now is refused (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<CapBody>),
        ok_status: 200,
        response: Some(schema::<ParticipantView>),
        errors: &[400, 404, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::CloseBatch),
        method: "POST",
        path: "/v1/clearing/batches",
        summary: "Close the open clearing batch now: a cut in the sequence (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 201,
        response: Some(schema::<BatchClosed>),
        errors: &[422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::SettleBatch),
        method: "POST",
        path: "/v1/clearing/batches/{batch}/settle",
        summary: "Post the confirmed settlement of a closed batch: net debtors' settlement accounts refill their positions, net creditors' positions pay out (operators; once, again answers the same).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<BatchSettled>),
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::BatchReport),
        method: "GET",
        path: "/v1/clearing/batches/{batch}",
        summary: "A closed clearing batch's gross, net and settlement figures, read back from the journal (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[QueryParam {
            name: "bilateral",
            required: false,
            description: "true: the bilateral nets too.",
            value: QueryValue::Bool,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<BatchReport>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::WriteStatements),
        method: "POST",
        path: "/v1/clearing/batches/{batch}/statements",
        summary: "Write every participant's statement file of a closed batch (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 201,
        response: Some(schema::<StatementsWritten>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Statements),
        method: "GET",
        path: "/v1/clearing/statements",
        summary: "Statement files: a participant's own; an operator's all, or one participant's.",
        access: Access::Caller,
        query: &[STATEMENT_PARTICIPANT],
        request: None,
        ok_status: 200,
        response: Some(schema::<StatementList>),
        errors: &[400, 422, 503],
    },
    Route {
        id: RouteId::Books(BooksRoute::Statement),
        method: "GET",
        path: "/v1/clearing/statements/{batch}",
        summary: "A statement file as written (text/csv), or as camt.053 XML with ?format=camt053, its SHA-256 in X-Suanpan-Sha256: a participant's own only (another's is 404); operators name ?participant=.",
        access: Access::Caller,
        query: &[STATEMENT_PARTICIPANT, STATEMENT_FORMAT],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[400, 404, 422, 503],
    },
    Route {
        id: RouteId::CreateOrder,
        method: "POST",
        path: "/v1/orders",
        summary: "A merchant's payment order, handed to its channel; the result comes later. The same merchant order number and body again answers 200 with the order.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<NewOrderBody>),
        ok_status: 201,
        response: Some(schema::<OrderView>),
        errors: &[400, 403, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::FindOrder,
        method: "GET",
        path: "/v1/orders",
        summary: "The merchant's order by its merchant order number (asks the channel when the order is open).",
        access: Access::Caller,
        query: &[QueryParam {
            name: "merchant_order_no",
            required: true,
            description: "The merchant's own order number.",
            value: QueryValue::MerchantOrderNo,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<OrderView>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::GetOrder,
        method: "GET",
        path: "/v1/orders/{id}",
        summary: "An order's status (asks the channel when the order is open).",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<OrderView>),
        errors: &[400, 404, 503],
    },
    Route {
        id: RouteId::CreateRefund,
        method: "POST",
        path: "/v1/orders/{id}/refunds",
        summary: "Refund a succeeded order, in full or in part, never beyond what was paid.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<NewRefundBody>),
        ok_status: 201,
        response: Some(schema::<RefundView>),
        errors: &[400, 404, 409, 413, 415, 422, 500, 503],
    },
    Route {
        id: RouteId::OrderNotifications,
        method: "GET",
        path: "/v1/orders/{id}/notifications",
        summary: "The merchant notifications of an order, with every delivery attempt.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<NotificationList>),
        errors: &[400, 404],
    },
    Route {
        id: RouteId::ResendNotification,
        method: "POST",
        path: "/v1/orders/{id}/notifications/resend",
        summary: "Send the order's latest notification again now, with a fresh retry schedule (operators).",
        access: Access::Operator(suanpan_access::Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ResendResult>),
        errors: &[400, 404],
    },
    Route {
        id: RouteId::AlipayNotify,
        method: "POST",
        path: "/v1/channels/alipay/notify",
        summary: "The Alipay-style channel's signed result (form body); answered `success` or `failure`.",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[404],
    },
    Route {
        id: RouteId::WechatNotify,
        method: "POST",
        path: "/v1/channels/wechat/notify",
        summary: "The WeChat-style channel's signed result (JSON body, Wechatpay-* headers); answered 200 SUCCESS or 500 FAIL.",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[404, 500],
    },
    Route {
        id: RouteId::ResultPage,
        method: "GET",
        path: "/pay/result/{id}",
        summary: "The payer's result page (HTML, Simplified Chinese unless the browser prefers English): the merchant, the amount, the order number and paid time; polls the order's status at fixed times, shows the result and what to do next, or offers to check again; a link back to the merchant. A link that is not valid answers a page too (404).",
        access: Access::Public,
        query: &[QueryParam {
            name: "token",
            required: true,
            description: "The token in the order's result_url.",
            value: QueryValue::Text,
        }],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[404],
    },
    Route {
        id: RouteId::ResultStatus,
        method: "GET",
        path: "/pay/status/{id}",
        summary: "The order's state for the result page (asks the channel when the order is open).",
        access: Access::Public,
        query: &[QueryParam {
            name: "token",
            required: true,
            description: "The token in the order's result_url.",
            value: QueryValue::Text,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<PayStatus>),
        errors: &[400, 404],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Create),
        method: "POST",
        path: "/v1/consents",
        summary: "A third party asks a customer, through the bank keeping the accounts, for consent to read them. The same request_id and body again answers 200 with the consent.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<NewConsentBody>),
        ok_status: 201,
        response: Some(schema::<ConsentView>),
        errors: &[400, 403, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Get),
        method: "GET",
        path: "/v1/consents/{id}",
        summary: "A consent and its state (its third party, its bank, or operators).",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentView>),
        errors: &[404],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Authorise),
        method: "POST",
        path: "/v1/consents/{id}/authorise",
        summary: "The bank authorises a requested consent for its customer; a recurring one replaces the customer's former recurring consent to the same third party.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentView>),
        errors: &[403, 404, 409, 422, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Reject),
        method: "POST",
        path: "/v1/consents/{id}/reject",
        summary: "The bank rejects a requested consent for its customer.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentView>),
        errors: &[403, 404, 409, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Revoke),
        method: "POST",
        path: "/v1/consents/{id}/revoke",
        summary: "The customer, through the bank, revokes an authorised consent: the next read is refused.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentView>),
        errors: &[403, 404, 409, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Terminate),
        method: "POST",
        path: "/v1/consents/{id}/terminate",
        summary: "The third party ends its consent.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentView>),
        errors: &[403, 404, 409, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::IssueCode),
        method: "POST",
        path: "/v1/consents/{id}/code",
        summary: "The bank fetches a one-time code (10 minutes, 5 tries) to deliver to its customer for the consent page; a new one replaces the old.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 201,
        response: Some(schema::<OneTimeCodeView>),
        errors: &[403, 404, 409, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Balances),
        method: "GET",
        path: "/v1/consents/{id}/balances",
        summary: "The third party reads the consented accounts' balances (one with ?account=). Without the X-Customer-IP-Address header a read counts against the day's limit per account (Asia/Shanghai days). Recorded before it is answered.",
        access: Access::Caller,
        query: &[QueryParam {
            name: "account",
            required: false,
            description: "One consented account (default: all of them).",
            value: QueryValue::Id,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentBalances>),
        errors: &[400, 403, 404, 429, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Transactions),
        method: "GET",
        path: "/v1/consents/{id}/transactions",
        summary: "The third party reads a consented account's transactions within the consented days, oldest first, in pages. Counted and recorded as balances are.",
        access: Access::Caller,
        query: &[
            QueryParam {
                name: "account",
                required: true,
                description: "The consented account.",
                value: QueryValue::Id,
            },
            QueryParam {
                name: "from",
                required: false,
                description: "First day, YYYY-MM-DD (default: the consent's).",
                value: QueryValue::Date,
            },
            QueryParam {
                name: "to",
                required: false,
                description: "Last day, YYYY-MM-DD (default: the consent's).",
                value: QueryValue::Date,
            },
            PAGE,
            LIMIT,
        ],
        request: None,
        ok_status: 200,
        response: Some(schema::<TransferPage>),
        errors: &[400, 403, 404, 429, 503],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Record),
        method: "GET",
        path: "/v1/consents/{id}/record",
        summary: "Every request, change, read and refusal under a consent, oldest first (its bank, or admins).",
        access: Access::Caller,
        query: &[PAGE, LIMIT],
        request: None,
        ok_status: 200,
        response: Some(schema::<AccessRecordPage>),
        errors: &[400, 403, 404],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::CustomerConsents),
        method: "GET",
        path: "/v1/customers/{customer}/consents",
        summary: "A customer's consents at the calling bank (admins name the bank).",
        access: Access::Caller,
        query: &[QueryParam {
            name: "bank",
            required: false,
            description: "The bank's participant code (admins only).",
            value: QueryValue::ParticipantCode,
        }],
        request: None,
        ok_status: 200,
        response: Some(schema::<ConsentList>),
        errors: &[400, 403, 422],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::CustomerRecord),
        method: "GET",
        path: "/v1/customers/{customer}/consent-record",
        summary: "Every access under any of a customer's consents at the calling bank, oldest first (admins name the bank).",
        access: Access::Caller,
        query: &[
            QueryParam {
                name: "bank",
                required: false,
                description: "The bank's participant code (admins only).",
                value: QueryValue::ParticipantCode,
            },
            PAGE,
            LIMIT,
        ],
        request: None,
        ok_status: 200,
        response: Some(schema::<AccessRecordPage>),
        errors: &[400, 403, 422],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::Page),
        method: "GET",
        path: "/consent/{id}",
        summary: "The consent page (HTML): who asks for which data of which accounts until when, and a form for the bank's one-time code.",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[404],
    },
    Route {
        id: RouteId::Consent(ConsentRoute::PageAction),
        method: "POST",
        path: "/consent/{id}",
        summary: "The consent page's form (application/x-www-form-urlencoded: code, action = authorise | reject | revoke); answers the page again with the outcome.",
        access: Access::Public,
        query: &[],
        request: None,
        ok_status: 200,
        response: None,
        errors: &[400, 403, 404, 409, 429],
    },
    Route {
        id: RouteId::Recon(ReconRoute::Run),
        method: "POST",
        path: "/v1/recon/runs",
        summary: "Reconcile a channel's bill of a date (operators): downloaded through the channel's bill API, or given as `bill_base64`; matched against the gateway's orders and refunds and the ledger's bookings, every line and order in one class; differences recorded with their evidence, those that can be explained resolved (a 长款 whose order exists booked as its late success). A rerun gives the same classes and posts nothing twice. Unexplained differences go to suspense at the day-end's reconcile step.",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<ReconRunBody>),
        ok_status: 200,
        response: Some(schema::<ChannelReportView>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Recon(ReconRoute::Report),
        method: "GET",
        path: "/v1/recon/dates/{date}",
        summary: "A date's reconciliation report, per channel: the bill's summary, counts and sums per class (summing to the bill's own totals), and every difference with its state; JSON or CSV (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[FORMAT],
        request: None,
        ok_status: 200,
        response: Some(schema::<ReconReportView>),
        errors: &[400],
    },
    Route {
        id: RouteId::Recon(ReconRoute::Difference),
        method: "GET",
        path: "/v1/recon/differences/{id}",
        summary: "A reconciliation difference: its class, state, amount, evidence (the bill line, the order or refund, the booking) and history (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<DifferenceView>),
        errors: &[400, 404],
    },
    Route {
        id: RouteId::Recon(ReconRoute::Resolve),
        method: "POST",
        path: "/v1/recon/differences/{id}/resolve",
        summary: "Resolve a difference (operators), audited in its history: book_late_success (a 长款 whose order exists), rebook (in the gateway, not booked), query_channel (a 短款: paid at the channel resolves it, else suspense), reverse (a 短款 the channel, asked again, never had: the payment and its fee reversed), suspense (挂账), channel_right (an amount or fee difference to channel cost), platform_right (to suspense, to claim), accept (no money in question, with a note), write_off (核销: the accounting room writes off its suspense item against `against`).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: Some(schema::<ResolveBody>),
        ok_status: 200,
        response: Some(schema::<DifferenceView>),
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::Create),
        method: "POST",
        path: "/v1/payouts",
        summary: "A payout from one of your customers' accounts to another bank: routed (HVPS, BEPS, IBPS or UnionPay payout, every channel's reason given), the amount held, sent in the background and followed to settlement; a definite refusal or an outage re-routes it, an unknown outcome is queried, never resent. The same id and fields again answer 200 with the payout.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<NewPayoutBody>),
        ok_status: 201,
        response: Some(schema::<PayoutView>),
        errors: &[400, 403, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::Get),
        method: "GET",
        path: "/v1/payouts/{id}",
        summary: "A payout: its state, route and reasons, every attempt at a channel and every state change.",
        access: Access::Caller,
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<PayoutView>),
        errors: &[400, 404],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::Return),
        method: "POST",
        path: "/v1/payouts/{id}/return",
        summary: "Record a return the channel reported for a settled payout (PR22): the customer is paid back (operators).",
        access: Access::Operator(Role::Operator),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<PayoutView>),
        errors: &[400, 404, 409, 503],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::Explain),
        method: "POST",
        path: "/v1/routing/explain",
        summary: "Which interbank channel a payout would take, now or at an instant, and why every other channel was not chosen.",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<ExplainBody>),
        ok_status: 200,
        response: Some(schema::<RouteExplanation>),
        errors: &[400, 413, 415],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::QrPay),
        method: "POST",
        path: "/v1/qr/payments",
        summary: "A QR payment (C2B static or dynamic code, C2C) from one of your customers' accounts, refused with qr_daily_cap_exceeded once the customer's total by QR today (Asia/Shanghai) would pass the daily cap (static 500.00; dynamic 5,000.00 at risk level B, 1,000.00 at C, the agreed cap at A).",
        access: Access::Caller,
        query: &[],
        request: Some(schema::<QrPaymentBody>),
        ok_status: 201,
        response: Some(schema::<QrPaymentView>),
        errors: &[400, 403, 404, 409, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::Rules),
        method: "GET",
        path: "/v1/routing/rules",
        summary: "The routing rules and calendar in force, their version and who made it (viewers).",
        access: Access::Operator(Role::Viewer),
        query: &[],
        request: None,
        ok_status: 200,
        response: Some(schema::<RoutingRulesView>),
        errors: &[],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::SetRules),
        method: "PUT",
        path: "/v1/routing/rules",
        summary: "New routing rules: the operators' changes to each channel's hours, limits and fees, as a new version recorded with every payout it routes (admins, audited).",
        access: Access::Operator(Role::Admin),
        query: &[],
        request: Some(schema::<RulesBody>),
        ok_status: 200,
        response: Some(schema::<RoutingRulesView>),
        errors: &[400, 413, 415, 422, 503],
    },
    Route {
        id: RouteId::Payouts(PayoutRoute::SetCalendar),
        method: "PUT",
        path: "/v1/routing/calendar",
        summary: "A new calendar of holidays and make-up working days, as a new version of the routing rules (admins, audited).",
        access: Access::Operator(Role::Admin),
        query: &[],
        request: Some(schema::<CalendarBody>),
        ok_status: 200,
        response: Some(schema::<RoutingRulesView>),
        errors: &[400, 413, 415, 422, 503],
    },
];

/// What matched: the route's index in [`ROUTES`] and its path parameter.
pub enum Matched<'a> {
    Route(usize, Option<&'a str>),
    /// The path exists, not with this method; the methods it takes, for `Allow`.
    WrongMethod(String),
    None,
}

pub fn find<'a>(method: &str, path: &'a str) -> Matched<'a> {
    // A path that names a route literally (`/v1/transfers/batch`) is that route's, not the
    // `{id}` of another (`/v1/transfers/{id}`): its other methods answer 405 with the
    // literal route's methods in `Allow`, as the document lists them.
    for literal in [true, false] {
        let mut allowed: Vec<&str> = Vec::new();
        for (i, route) in ROUTES.iter().enumerate() {
            if route.path.contains('{') == literal {
                continue;
            }
            if let Some(param) = match_path(route.path, path) {
                if route.method == method {
                    return Matched::Route(i, param);
                }
                if !allowed.contains(&route.method) {
                    allowed.push(route.method);
                }
            }
        }
        if !allowed.is_empty() {
            return Matched::WrongMethod(allowed.join(", "));
        }
    }
    Matched::None
}

/// `Some(param)` when `path` fits `template`; the parameter is the `{...}` segment.
fn match_path<'a>(template: &str, path: &'a str) -> Option<Option<&'a str>> {
    let mut param = None;
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(param),
            (Some(t), Some(seg)) if t.starts_with('{') && !seg.is_empty() => param = Some(seg),
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_routes_only() {
        let id = |m, p| match find(m, p) {
            Matched::Route(i, param) => Some((ROUTES[i].id, param.map(str::to_string))),
            _ => None,
        };
        assert_eq!(
            id("POST", "/v1/transfers"),
            Some((RouteId::CreateTransfer, None))
        );
        assert_eq!(
            id("POST", "/v1/transfers/batch"),
            Some((RouteId::CreateTransferBatch, None))
        );
        assert_eq!(
            id("GET", "/v1/transfers/42"),
            Some((RouteId::GetTransfer, Some("42".into())))
        );
        assert_eq!(
            id("POST", "/v1/accounts/7/freeze"),
            Some((RouteId::FreezeAccount, Some("7".into())))
        );
        assert!(matches!(
            find("DELETE", "/v1/transfers"),
            Matched::WrongMethod(allow) if allow == "POST"
        ));
        // `batch` is the literal route's, not an `{id}` of `/v1/transfers/{id}`.
        assert!(matches!(
            find("GET", "/v1/transfers/batch"),
            Matched::WrongMethod(allow) if allow == "POST"
        ));
        assert!(matches!(find("GET", "/v1/nothing"), Matched::None));
        assert!(matches!(find("GET", "/v1/accounts/"), Matched::None));
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(a.id != b.id && (a.method, a.path) != (b.method, b.path));
            }
        }
    }
}
