//! The payouts, routing and QR endpoints: a participant's payout to another bank (routed,
//! held, sent in the background, followed to the end), the routing room's explanation of a
//! choice, an operator recording a return the channel reported, and QR payments under their
//! daily caps. Every rule is the rooms'; this file translates HTTP to them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use suanpan_ledger::Currency;
use suanpan_payouts::{NewPayout, Payout, PayoutError, QrPayment};
use suanpan_routing::{route, Channel, ChannelSet, Health, LocalDateTime, Origin};

use crate::app::{App, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::wire::*;
use suanpan_access::Role;

/// The routes of the three rooms (one variant of `RouteId`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PayoutRoute {
    Create,
    Get,
    Return,
    Explain,
    QrPay,
    Rules,
    SetRules,
    SetCalendar,
}

/// The HTTP status of each refusal: every variant named (docs/api-errors.md lists them).
pub fn payout_status(e: &PayoutError) -> u16 {
    match e {
        PayoutError::Invalid(..) => 400,
        PayoutError::NotFound | PayoutError::AccountNotFound => 404,
        PayoutError::Conflict | PayoutError::NotSettled => 409,
        PayoutError::Refused(_)
        | PayoutError::RoutingRefused(..)
        | PayoutError::NoRoute(_)
        | PayoutError::QrDailyCapExceeded { .. } => 422,
        PayoutError::Overloaded => 503,
        PayoutError::System(_) => 500,
    }
}

pub fn payout_error(e: PayoutError) -> ApiError {
    match &e {
        PayoutError::Invalid(field, why) => {
            ApiError::new(ErrorCode::InvalidValue, why.clone()).field(*field)
        }
        PayoutError::RoutingRefused(field, why) => ApiError {
            status: payout_status(&e),
            code: e.code(),
            message: why.clone(),
            field: Some((*field).to_string()),
            retry_after_s: None,
        },
        PayoutError::AccountNotFound => {
            ApiError::new(ErrorCode::AccountNotFound, e.to_string()).field("debit_account_id")
        }
        PayoutError::Overloaded => ApiError::new(ErrorCode::Overloaded, e.to_string()),
        PayoutError::System(_) => ApiError::new(ErrorCode::Internal, e.to_string()),
        _ => ApiError {
            status: payout_status(&e),
            code: e.code(),
            message: e.to_string(),
            field: None,
            retry_after_s: None,
        },
    }
}

fn payouts(app: &App) -> Result<&std::sync::Arc<suanpan_payouts::Payouts>, ApiError> {
    app.payouts
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the payouts room did not start"))
}

// ---- wire types ----------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BeneficiaryBody {
    /// The beneficiary's bank (its code), 1 to 32 characters.
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub bank: String,
    /// 1 to 64 characters.
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub account: String,
    /// 1 to 128 characters.
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub name: String,
    /// The systems the bank takes part in: `hvps`, `beps`, `ibps`, `unionpay_payout`
    /// (default: all four).
    #[serde(default)]
    #[schemars(
        length(min = 1, max = 4),
        extend("items" = {"enum": ["hvps", "beps", "ibps", "unionpay_payout"]})
    )]
    pub systems: Option<Vec<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayoutBody {
    /// Your id of this payout (1 to 2^88 - 1): the same id and fields again answer the same
    /// payout.
    #[schemars(extend("pattern" = "^0*[1-9][0-9]{0,25}$"))]
    pub id: Id,
    /// The customer's account, one of yours.
    pub debit_account_id: Id,
    #[schemars(extend("pattern" = "^0*[1-9][0-9]{0,19}$"))]
    pub amount: Amount,
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    pub beneficiary: BeneficiaryBody,
    /// The payout must arrive at once.
    #[serde(default)]
    pub real_time: bool,
    /// `mobile_banking` (default), `counter`, `atm_pos` or `qr`.
    #[serde(default)]
    #[schemars(extend("enum" = ["mobile_banking", "counter", "atm_pos", "qr", null]))]
    pub origin: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ChannelReason {
    /// `hvps`, `beps`, `ibps` or `unionpay_payout`.
    pub channel: String,
    /// `chosen`, `higher_cost`, `lower_preference`, or why not: `over_limit`,
    /// `closed_outside_hours`, `closed_non_working_day`, `not_real_time`, `channel_down`,
    /// `bank_not_member`, `currency_unsupported`, `origin_not_served`, ...
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct AttemptView {
    pub number: u32,
    pub channel: String,
    pub instruction_id: String,
    /// `sending`, `unknown`, `accepted`, `settled`, `rejected`, `not_received`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    pub sent_at: Time,
}

#[derive(Serialize, JsonSchema)]
pub struct PayoutEventView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    pub cause: String,
    pub at: Time,
}

#[derive(Serialize, JsonSchema)]
pub struct PayoutView {
    pub id: Id,
    pub debit_account_id: Id,
    pub amount: Amount,
    pub currency: String,
    /// `accepted`, `routed`, `sent`, `accepted_by_channel`, `settled`, `rejected`, `returned`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The version of the routing rules that routed it.
    pub rule_version: u32,
    pub route_summary: String,
    pub route: Vec<ChannelReason>,
    pub attempts: Vec<AttemptView>,
    pub events: Vec<PayoutEventView>,
    pub created_at: Time,
    pub updated_at: Time,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    pub amount: Amount,
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: Option<String>,
    #[serde(default)]
    pub real_time: bool,
    /// `mobile_banking`, `counter`, `atm_pos` or `qr`.
    #[serde(default)]
    #[schemars(extend("enum" = ["mobile_banking", "counter", "atm_pos", "qr", null]))]
    pub origin: Option<String>,
    /// RFC 3339 (default: now); routed in Beijing time.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    pub at: Option<String>,
    #[serde(default)]
    #[schemars(extend("items" = {"enum": ["hvps", "beps", "ibps", "unionpay_payout"]}))]
    pub beneficiary_systems: Option<Vec<String>>,
}

#[derive(Serialize, JsonSchema)]
pub struct RouteExplanation {
    /// The chosen channel; absent when none can take it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_date: Option<String>,
    pub alternatives: Vec<String>,
    pub channels: Vec<ChannelReason>,
    pub summary: String,
    pub rule_version: u32,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QrPaymentBody {
    #[schemars(extend("pattern" = "^0*[1-9][0-9]{0,25}$"))]
    pub id: Id,
    /// `c2b_static`, `c2b_dynamic` or `c2c`.
    #[schemars(extend("enum" = ["c2b_static", "c2b_dynamic", "c2c"]))]
    pub kind: String,
    /// The payer's risk level: `A`, `B` (default) or `C`.
    #[serde(default)]
    #[schemars(extend("enum" = ["A", "B", "C", null]))]
    pub risk_level: Option<String>,
    /// A level-A customer's agreed daily cap.
    #[serde(default)]
    pub self_agreed_cap: Option<Amount>,
    /// The payer's account, one of yours.
    pub payer_account_id: Id,
    pub payee_account_id: Id,
    #[schemars(extend("pattern" = "^0*[1-9][0-9]{0,19}$"))]
    pub amount: Amount,
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
}

#[derive(Serialize, JsonSchema)]
pub struct QrPaymentView {
    pub id: Id,
    /// What the payer may still pay by QR code today (Asia/Shanghai).
    pub left_today: Amount,
}

/// One channel's rules as an operator changes them: each value replaces the default.
#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ChannelRulesBody {
    /// `always` (7x24) or `working_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["always", "working_days", null]))]
    pub hours: Option<String>,
    /// HH:MM: when the working-day session opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub opens: Option<String>,
    /// The session opens the evening before the working day (HVPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_previous_day: Option<bool>,
    /// HH:MM: the business cut-off on the working day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub cut_off: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_fen: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_working_day_limit_fen: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_fen: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_bp: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    /// By channel (`hvps`, `beps`, `ibps`, `unionpay_payout`): the operators' changes to its
    /// rules, replacing the previous operators' changes as a whole.
    #[schemars(extend("propertyNames" = {"enum": ["hvps", "beps", "ibps", "unionpay_payout"]}))]
    pub channels: std::collections::BTreeMap<String, ChannelRulesBody>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarBody {
    /// The calendar file's text: `year YYYY` lines for the years it covers,
    /// `YYYY-MM-DD holiday|workday NAME` lines, `#` comments.
    pub calendar: String,
}

#[derive(Serialize, JsonSchema)]
pub struct ChannelRulesView {
    pub channel: String,
    /// `always` or `working_days HH:MM (the evening before) to HH:MM`.
    pub hours: String,
    pub real_time: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_day_limit: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_working_day_limit: Option<Amount>,
    pub fee_flat: Amount,
    pub fee_bp: u32,
}

#[derive(Serialize, JsonSchema)]
pub struct RoutingRulesView {
    /// Recorded with every payout these rules route.
    pub version: u32,
    pub changed_by: String,
    pub changed_at: Time,
    pub channels: Vec<ChannelRulesView>,
    /// The operators' changes in force (over the configuration file's).
    pub operator_changes: std::collections::BTreeMap<String, ChannelRulesBody>,
    pub calendar: String,
}

fn rules_view(routing: &suanpan_payouts::Routing) -> RoutingRulesView {
    RoutingRulesView {
        version: routing.rules.version,
        changed_by: routing.changed_by.clone(),
        changed_at: Time(routing.changed_at_ns),
        channels: Channel::ALL
            .iter()
            .map(|c| {
                let r = routing.rules.channel(*c);
                ChannelRulesView {
                    channel: c.code().into(),
                    hours: match r.hours {
                        suanpan_routing::Hours::Always => "always".into(),
                        suanpan_routing::Hours::WorkingDays {
                            opens,
                            opens_previous_day,
                            cut_off,
                        } => format!(
                            "working_days {opens}{} to {cut_off}",
                            if opens_previous_day {
                                " (the evening before)"
                            } else {
                                ""
                            }
                        ),
                    },
                    real_time: r.real_time,
                    working_day_limit: r.limit.working_day_fen.map(Amount),
                    non_working_day_limit: r.limit.non_working_day_fen.map(Amount),
                    fee_flat: Amount(r.fee.flat_fen),
                    fee_bp: r.fee.basis_points,
                }
            })
            .collect(),
        operator_changes: routing
            .overrides
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    ChannelRulesBody {
                        hours: v.hours.clone(),
                        opens: v.opens.clone(),
                        opens_previous_day: v.opens_previous_day,
                        cut_off: v.cut_off.clone(),
                        limit_fen: v.limit_fen,
                        non_working_day_limit_fen: v.non_working_day_limit_fen,
                        fee_fen: v.fee_fen,
                        fee_bp: v.fee_bp,
                    },
                )
            })
            .collect(),
        calendar: routing.calendar.to_text(),
    }
}

/// An admin's change of the routing rules or calendar: audited before and after.
async fn change_routing(
    app: &App,
    caller: &Caller,
    action: &'static str,
    rules: Option<RulesBody>,
    calendar: Option<String>,
) -> Result<Reply, ApiError> {
    let op = app
        .authorize(caller, Role::Admin, action, "routing")
        .await?;
    let Some(op) = op else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "routing rules are changed by admins",
        ));
    };
    app.audit(op, action, "routing".into(), "requested".into())
        .await?;
    let overrides = rules.map(|b| {
        b.channels
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    suanpan_payouts::ChannelRulesConfig {
                        hours: v.hours,
                        opens: v.opens,
                        opens_previous_day: v.opens_previous_day,
                        cut_off: v.cut_off,
                        limit_fen: v.limit_fen,
                        non_working_day_limit_fen: v.non_working_day_limit_fen,
                        fee_fen: v.fee_fen,
                        fee_bp: v.fee_bp,
                    },
                )
            })
            .collect()
    });
    let result = payouts(app)?
        .change_routing(
            overrides,
            calendar,
            &format!("operator:{}", op.name),
            suanpan_payouts::now_ns(),
        )
        .await;
    let outcome = match &result {
        Ok(r) => format!("version {}", r.rules.version),
        Err(e) => e.code().to_string(),
    };
    app.audit(op, action, "routing".into(), outcome).await?;
    let routing = result.map_err(payout_error)?;
    Reply::json(200, &rules_view(&routing))
}

// ---- handlers ------------------------------------------------------------------------------

fn systems(list: Option<&Vec<String>>, field: &'static str) -> Result<ChannelSet, ApiError> {
    let Some(list) = list else {
        return Ok(ChannelSet::ALL);
    };
    let mut set = ChannelSet::EMPTY;
    for code in list {
        let c = Channel::from_code(code).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("{code:?} is not hvps, beps, ibps or unionpay_payout"),
            )
            .field(field)
        })?;
        set = set.with(c);
    }
    Ok(set)
}

fn origin(text: Option<&str>) -> Result<Origin, ApiError> {
    match text {
        None => Ok(Origin::MobileBanking),
        Some(t) => Origin::from_code(t).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("{t:?} is not mobile_banking, counter, atm_pos or qr"),
            )
            .field("origin")
        }),
    }
}

fn currency(text: &str) -> Result<Currency, ApiError> {
    Currency::parse(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCurrency,
            format!("{text:?} is not a currency code"),
        )
        .field("currency")
    })
}

fn participant(caller: &Caller) -> Result<&suanpan_access::Participant, ApiError> {
    match caller {
        Caller::Participant(p) => Ok(p),
        Caller::Operator(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "payouts and QR payments are made by participants, from their customers' accounts",
        )),
    }
}

pub fn payout_view(p: &Payout, events: Vec<suanpan_payouts::PayoutEvent>) -> PayoutView {
    PayoutView {
        id: Id(p.new.id),
        debit_account_id: Id(p.new.debit_account),
        amount: Amount(p.new.amount_fen),
        currency: p.new.currency.to_string(),
        state: p.state.as_str().into(),
        channel: p.channel.map(|c| c.code().into()),
        rule_version: p.rule_version,
        route_summary: p.route_summary.clone(),
        route: p
            .route_reasons
            .iter()
            .map(|(c, r)| ChannelReason {
                channel: c.code().into(),
                reason: r.clone(),
                explanation: None,
            })
            .collect(),
        attempts: p
            .attempts
            .iter()
            .map(|a| AttemptView {
                number: a.number,
                channel: a.channel.code().into(),
                instruction_id: a.instruction_id.clone(),
                state: a.state.as_str().into(),
                status_code: a.status_code.clone(),
                sent_at: Time(a.sent_ns),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| PayoutEventView {
                from: e.from,
                to: e.to,
                cause: e.cause,
                at: Time(e.at_ns),
            })
            .collect(),
        created_at: Time(p.created_ns),
        updated_at: Time(p.updated_ns),
    }
}

pub async fn dispatch(
    app: &App,
    route: PayoutRoute,
    caller: &Caller,
    param: Option<&str>,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    match route {
        PayoutRoute::Create => create(app, caller, crate::body::parse(bytes)?).await,
        PayoutRoute::Get => {
            let id = crate::app::path_id(param)?;
            let room = payouts(app)?.clone();
            let (p, events) = app
                .blocking(move || {
                    let p = room.get(id).map_err(payout_error)?;
                    let events = room.events(id).map_err(payout_error)?;
                    Ok((p, events))
                })
                .await?;
            match p {
                Some(p) if caller.owner().is_none_or(|o| o == p.new.owner) => {
                    Reply::json(200, &payout_view(&p, events))
                }
                _ => Err(payout_error(PayoutError::NotFound)),
            }
        }
        PayoutRoute::Return => {
            let id = crate::app::path_id(param)?;
            let op = app
                .authorize(
                    caller,
                    Role::Operator,
                    "record_payout_return",
                    &id.to_string(),
                )
                .await?;
            if let Some(op) = op {
                app.audit(
                    op,
                    "record_payout_return",
                    id.to_string(),
                    "requested".into(),
                )
                .await?;
            }
            let result = payouts(app)?
                .record_return(id, "reported by the channel")
                .await;
            if let Some(op) = op {
                let outcome = match &result {
                    Ok(_) => "ok".to_string(),
                    Err(e) => e.code().to_string(),
                };
                app.audit(op, "record_payout_return", id.to_string(), outcome)
                    .await?;
            }
            let p = result.map_err(payout_error)?;
            let events = payouts(app)?.events(id).map_err(payout_error)?;
            Reply::json(200, &payout_view(&p, events))
        }
        PayoutRoute::Explain => explain(app, crate::body::parse(bytes)?),
        PayoutRoute::QrPay => qr_pay(app, caller, crate::body::parse(bytes)?).await,
        PayoutRoute::Rules => Reply::json(200, &rules_view(&payouts(app)?.routing())),
        PayoutRoute::SetRules => {
            let body: RulesBody = crate::body::parse(bytes)?;
            change_routing(app, caller, "set_routing_rules", Some(body), None).await
        }
        PayoutRoute::SetCalendar => {
            let body: CalendarBody = crate::body::parse(bytes)?;
            change_routing(
                app,
                caller,
                "set_routing_calendar",
                None,
                Some(body.calendar),
            )
            .await
        }
    }
}

async fn create(app: &App, caller: &Caller, body: NewPayoutBody) -> Result<Reply, ApiError> {
    let p = participant(caller)?;
    app.check_owner(caller, body.debit_account_id.0, "debit_account_id")?;
    let new = NewPayout {
        id: body.id.0,
        owner: p.owner,
        debit_account: body.debit_account_id.0,
        amount_fen: body.amount.0,
        currency: currency(&body.currency)?,
        beneficiary_bank: body.beneficiary.bank,
        beneficiary_account: body.beneficiary.account,
        beneficiary_name: body.beneficiary.name,
        beneficiary_systems: systems(body.beneficiary.systems.as_ref(), "beneficiary.systems")?,
        real_time: body.real_time,
        origin: origin(body.origin.as_deref())?,
    };
    let room = payouts(app)?.clone();
    let (payout, created) = room.create(new).await.map_err(payout_error)?;
    let events = if created {
        // What `create` has just recorded; no read of the store on the way back.
        suanpan_payouts::created_events(&payout)
    } else {
        let id = payout.new.id;
        app.blocking(move || room.events(id).map_err(payout_error))
            .await?
    };
    Reply::json(
        if created { 201 } else { 200 },
        &payout_view(&payout, events),
    )
}

fn explain(app: &App, body: ExplainBody) -> Result<Reply, ApiError> {
    let room = payouts(app)?;
    let at_ns = match &body.at {
        None => suanpan_payouts::now_ns(),
        // Any instant: one outside the calendar's years is refused as such (422) below.
        Some(text) => crate::time::parse_rfc3339_bound(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidTime,
                format!("{text:?} is not an RFC 3339 instant"),
            )
            .field("at")
        })?,
    };
    let at = LocalDateTime::beijing(at_ns).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidTime,
            "the instant is outside the calendar",
        )
        .field("at")
    })?;
    let code = body.currency.as_deref().unwrap_or("CNY");
    let currency = suanpan_routing::Currency::parse(code).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCurrency,
            format!("{code:?} is not a currency code"),
        )
        .field("currency")
    })?;
    let payout = suanpan_routing::Payout {
        amount_fen: body.amount.0,
        currency,
        real_time: body.real_time,
        at,
        origin: origin(body.origin.as_deref())?,
        beneficiary_systems: systems(body.beneficiary_systems.as_ref(), "beneficiary_systems")?,
    };
    let health: Health = room.health(ChannelSet::EMPTY, at_ns);
    let routing = room.routing();
    let decision = route(&payout, health, &routing.rules, &routing.calendar);
    let explanation = decision.explain(&routing.calendar);
    let chosen = decision.chosen();
    Reply::json(
        200,
        &RouteExplanation {
            channel: chosen.map(|v| v.channel.code().into()),
            fee: chosen.map(|v| Amount(v.fee_fen)),
            booking_date: chosen.and_then(|v| v.booking_date).map(|d| d.to_string()),
            alternatives: decision
                .alternatives()
                .iter()
                .map(|c| c.code().into())
                .collect(),
            channels: decision
                .ranked()
                .iter()
                .map(|c| ChannelReason {
                    channel: c.code().into(),
                    reason: decision.verdict(*c).reason.code().into(),
                    explanation: Some(explanation.channel(*c).to_string()),
                })
                .collect(),
            summary: explanation.summary,
            rule_version: decision.rule_version,
        },
    )
}

async fn qr_pay(app: &App, caller: &Caller, body: QrPaymentBody) -> Result<Reply, ApiError> {
    participant(caller)?;
    app.check_owner(caller, body.payer_account_id.0, "payer_account_id")?;
    if app.owners.get(body.payee_account_id.0).is_none() {
        return Err(ApiError::new(
            ErrorCode::AccountNotFound,
            format!("no account {}", body.payee_account_id.0),
        )
        .field("payee_account_id"));
    }
    let kind = suanpan_payouts::parse_kind(&body.kind).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{:?} is not c2b_static, c2b_dynamic or c2c", body.kind),
        )
        .field("kind")
    })?;
    let level = match body.risk_level.as_deref() {
        None => suanpan_routing::RiskLevel::B,
        Some(t) => suanpan_payouts::parse_risk_level(t).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidValue, format!("{t:?} is not A, B or C"))
                .field("risk_level")
        })?,
    };
    let payment = QrPayment {
        id: body.id.0,
        kind,
        risk_level: level,
        self_agreed_cap_fen: body.self_agreed_cap.map(|a| a.0),
        payer_account: body.payer_account_id.0,
        payee_account: body.payee_account_id.0,
        amount_fen: body.amount.0,
        currency: currency(&body.currency)?,
    };
    let left = payouts(app)?
        .qr_pay(payment, suanpan_payouts::now_ns())
        .await
        .map_err(payout_error)?;
    Reply::json(
        201,
        &QrPaymentView {
            id: body.id,
            left_today: Amount(left),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payout_refusal_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/api-errors.md");
        let all = [
            PayoutError::Invalid("f", String::new()),
            PayoutError::NotFound,
            PayoutError::Conflict,
            PayoutError::AccountNotFound,
            PayoutError::NoRoute(String::new()),
            PayoutError::NotSettled,
            PayoutError::QrDailyCapExceeded {
                cap_fen: 1,
                spent_fen: 0,
            },
            PayoutError::Overloaded,
            PayoutError::System(String::new()),
        ];
        for e in all {
            let answered = payout_error(e);
            let row = format!("| `{}` | {} |", answered.code, answered.status);
            assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
        }
    }
}
