//! The payment gateway's endpoints: merchants' orders, status and refunds (signed requests),
//! the channels' callbacks (signed by the channel, answered in the channel's own form), the
//! payer's result page, and an operator's re-send of a notification. The rules live in
//! `suanpan_gateway`; this file only translates.

use bytes::Bytes;
use hyper::http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use suanpan_gateway::{GatewayError, NewOrder, Order, Refund};

use crate::app::{self, App, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::html::PageLang;
use crate::routes::RouteId;
use crate::wire::{Amount, Id, Time};
use suanpan_access::Role;

/// The HTTP status of each gateway error: every variant named, so a new one cannot be added
/// without choosing its status (docs/api-errors.md lists them; a test checks). A callback's
/// refusals reach the channel in its own form, and these statuses only the log.
pub fn gateway_status(e: &GatewayError) -> u16 {
    match e {
        GatewayError::InvalidValue(..) | GatewayError::CallbackMalformed(_) => 400,
        // `alipay` or `wechat`, well formed, but not configured on this node.
        GatewayError::ChannelUnknown(_) | GatewayError::CurrencyNotSupported { .. } => 422,
        GatewayError::CallbackSignatureInvalid => 401,
        GatewayError::MerchantNotRegistered(_) => 403,
        GatewayError::OrderNotFound(_) => 404,
        GatewayError::OrderConflict(_) | GatewayError::RefundConflict(_) => 409,
        GatewayError::RefundExceedsPaid { .. }
        | GatewayError::OrderNotRefundable(_)
        | GatewayError::CallbackAmountMismatch { .. } => 422,
        GatewayError::ChannelUnavailable(_) => 502,
        GatewayError::Overloaded | GatewayError::NotLeader(_) => 503,
        GatewayError::Booking(_) | GatewayError::Store(_) => 500,
    }
}

fn api_error(e: GatewayError) -> ApiError {
    match &e {
        GatewayError::InvalidValue(field, message) => {
            ApiError::new(ErrorCode::InvalidValue, message.clone()).field(*field)
        }
        GatewayError::Overloaded => ApiError::new(ErrorCode::Overloaded, e.to_string()),
        GatewayError::NotLeader(_) => ApiError::new(ErrorCode::NotLeader, e.to_string()),
        GatewayError::Store(_) => ApiError::new(ErrorCode::Internal, e.to_string()),
        _ => ApiError {
            status: gateway_status(&e),
            code: e.code(),
            message: e.to_string(),
            field: None,
            retry_after_s: None,
        },
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderBody {
    /// The merchant's own order number, unique per merchant: 1 to 64 of A-Z a-z 0-9 - _.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub merchant_order_no: String,
    /// 1 to 2^63 - 1 minor units.
    #[schemars(extend("pattern" = "^0*[1-9][0-9]{0,17}$"))]
    pub amount: Amount,
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// 1 to 256 characters.
    #[schemars(length(min = 1, max = 256))]
    pub subject: String,
    /// `alipay` or `wechat`.
    #[schemars(extend("enum" = ["alipay", "wechat"]))]
    pub channel: String,
    /// Seconds the payer has, 1 to 604800 (default: the gateway's `expire_s`).
    #[serde(default)]
    #[schemars(range(min = 1, max = 604800))]
    pub expire_s: Option<u64>,
    /// Where the result page sends the payer back to the merchant: an http:// or https://
    /// URL of at most 512 characters.
    #[serde(default)]
    #[schemars(regex(pattern = r#"^https?://[^\s"<>\u0000-\u001f\u007f-\u009f]{1,504}$"#))]
    pub return_url: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefundBody {
    /// The merchant's refund number, unique per order.
    pub refund_no: String,
    pub amount: Amount,
}

#[derive(Serialize, JsonSchema)]
pub struct OrderView {
    pub id: Id,
    pub merchant_order_no: String,
    pub amount: Amount,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    /// `created`, `paying`, `succeeded`, `failed` or `closed`.
    pub state: String,
    /// Where to send the payer (the channel's page or QR code), once the channel has it.
    pub pay_url: Option<String>,
    /// The page the payer returns to (with the token that lets a browser read the order).
    pub result_url: String,
    pub channel_trade_no: Option<String>,
    pub refunded: Amount,
    /// Paid after it was closed: booked, and to be refunded to the payer.
    pub flagged_for_refund: bool,
    pub created: Time,
    pub expire_at: Time,
    /// Where the result page sends the payer back to the merchant.
    pub return_url: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct RefundView {
    pub id: Id,
    pub order_id: Id,
    pub refund_no: String,
    pub amount: Amount,
    /// `processing`, `succeeded` or `failed`.
    pub state: String,
}

#[derive(Serialize, JsonSchema)]
pub struct NotificationAttemptView {
    pub time: Time,
    /// The merchant's HTTP status; 0 when it did not answer.
    pub status: u16,
    pub outcome: String,
}

#[derive(Serialize, JsonSchema)]
pub struct NotificationView {
    pub id: Id,
    /// `pending`, `delivered` or `given_up`.
    pub state: String,
    pub body: String,
    pub next_attempt: Time,
    pub attempts: Vec<NotificationAttemptView>,
}

#[derive(Serialize, JsonSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationView>,
}

#[derive(Serialize, JsonSchema)]
pub struct ResendResult {
    pub notification_id: Id,
}

/// What the result page's script reads.
#[derive(Serialize, JsonSchema)]
pub struct PayStatus {
    pub state: String,
    /// Whether the state is final (succeeded, failed, closed).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// When it was paid, Beijing time (`yyyy-MM-dd HH:mm:ss`), once it has been.
    pub paid_at: Option<String>,
}

fn ms_time(ms: u64) -> Time {
    Time(ms.saturating_mul(1_000_000))
}

fn order_view(app: &App, o: &Order) -> OrderView {
    OrderView {
        id: Id(u128::from(o.id)),
        merchant_order_no: o.merchant_order_no.clone(),
        amount: Amount(o.amount_minor),
        currency: o.currency.clone(),
        subject: o.subject.clone(),
        channel: o.channel.clone(),
        state: o.state.as_str().into(),
        pay_url: o.pay_url.clone(),
        result_url: format!(
            "{}/pay/result/{}?token={}",
            app.public_url(),
            o.id,
            app.gateway.page_token(o.id)
        ),
        channel_trade_no: o.channel_trade_no.clone(),
        refunded: Amount(o.refunded_minor),
        flagged_for_refund: o.flagged_for_refund,
        created: ms_time(o.created_ms),
        expire_at: ms_time(o.expire_at_ms),
        return_url: o.return_url.clone(),
    }
}

fn refund_view(r: &Refund) -> RefundView {
    RefundView {
        id: Id(u128::from(r.id)),
        order_id: Id(u128::from(r.order_id)),
        refund_no: r.refund_no.clone(),
        amount: Amount(r.amount_minor),
        state: r.state.as_str().into(),
    }
}

fn order_id(param: Option<&str>) -> Result<u64, ApiError> {
    let id = app::path_id(param)?;
    u64::try_from(id).map_err(|_| ApiError::new(ErrorCode::NotFound, "no order has this id"))
}

fn not_found(id: u64) -> ApiError {
    api_error(GatewayError::OrderNotFound(id))
}

/// The order, if the caller may see it: its merchant, or any operator. Anyone else is told
/// it does not exist.
async fn visible_order(app: &App, caller: &Caller, id: u64) -> Result<Order, ApiError> {
    let gateway = app.gateway.clone();
    let order = app
        .blocking(move || gateway.order(id).map_err(api_error))
        .await?
        .ok_or_else(|| not_found(id))?;
    match caller {
        Caller::Participant(p) if p.code != order.merchant => Err(not_found(id)),
        _ => Ok(order),
    }
}

fn merchant_code(caller: &Caller) -> Result<&str, ApiError> {
    match caller {
        Caller::Participant(p) => Ok(&p.code),
        Caller::Operator(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "orders and refunds are made by merchants (signed participants)",
        )),
    }
}

/// The signed merchant routes and the operator's re-send.
pub async fn dispatch(
    app: &App,
    route: RouteId,
    caller: &Caller,
    param: Option<&str>,
    query: &[(String, String)],
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    match route {
        RouteId::CreateOrder => {
            let merchant = merchant_code(caller)?.to_string();
            let b: NewOrderBody = crate::body::parse(bytes)?;
            // A channel Suanpan does not know is a malformed request (400); one it knows but
            // this node has not configured is a refusal (422, `channel_unknown`).
            if !matches!(b.channel.as_str(), "alipay" | "wechat") {
                return Err(ApiError::new(
                    ErrorCode::InvalidValue,
                    format!("channel {:?} is not alipay or wechat", b.channel),
                )
                .field("channel"));
            }
            let new = NewOrder {
                merchant_order_no: b.merchant_order_no,
                amount_minor: b.amount.0,
                currency: b.currency,
                subject: b.subject,
                channel: b.channel,
                expire_s: b.expire_s,
                return_url: b.return_url,
            };
            let (order, created) = app
                .gateway
                .create_order(&merchant, new)
                .await
                .map_err(api_error)?;
            Reply::json(if created { 201 } else { 200 }, &order_view(app, &order))
        }
        RouteId::GetOrder => {
            let order = visible_order(app, caller, order_id(param)?).await?;
            let order = app.gateway.order_status(order).await.map_err(api_error)?;
            Reply::json(200, &order_view(app, &order))
        }
        RouteId::FindOrder => {
            let merchant = merchant_code(caller)?.to_string();
            let no = query
                .iter()
                .find(|(k, _)| k == "merchant_order_no")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::MissingField, "merchant_order_no is required")
                        .field("merchant_order_no")
                })?;
            let gateway = app.gateway.clone();
            let order = app
                .blocking(move || {
                    gateway
                        .order_by_merchant_no(&merchant, &no)
                        .map_err(api_error)
                })
                .await?
                .ok_or_else(|| ApiError {
                    field: Some("merchant_order_no".into()),
                    ..api_error(GatewayError::OrderNotFound(0))
                })?;
            let order = app.gateway.order_status(order).await.map_err(api_error)?;
            Reply::json(200, &order_view(app, &order))
        }
        RouteId::CreateRefund => {
            merchant_code(caller)?;
            let order = visible_order(app, caller, order_id(param)?).await?;
            let b: NewRefundBody = crate::body::parse(bytes)?;
            let refund = app
                .gateway
                .refund(&order, &b.refund_no, b.amount.0)
                .await
                .map_err(api_error)?;
            Reply::json(201, &refund_view(&refund))
        }
        RouteId::OrderNotifications => {
            let order = visible_order(app, caller, order_id(param)?).await?;
            let gateway = app.gateway.clone();
            let list = app
                .blocking(move || gateway.notifications(order.id).map_err(api_error))
                .await?;
            let notifications = list
                .into_iter()
                .map(|(n, attempts)| NotificationView {
                    id: Id(u128::from(n.id)),
                    state: n.state,
                    body: n.body,
                    next_attempt: ms_time(n.next_at_ms),
                    attempts: attempts
                        .into_iter()
                        .map(|a| NotificationAttemptView {
                            time: ms_time(a.at_ms),
                            status: a.status,
                            outcome: a.outcome,
                        })
                        .collect(),
                })
                .collect();
            Reply::json(200, &NotificationList { notifications })
        }
        RouteId::ResendNotification => resend(app, caller, param).await,
        _ => Err(ApiError::new(ErrorCode::Internal, "not a gateway route")),
    }
}

async fn resend(app: &App, caller: &Caller, param: Option<&str>) -> Result<Reply, ApiError> {
    const ACTION: &str = "resend_notification";
    let id = order_id(param)?;
    let op = caller.require_role(Role::Operator)?;
    app.audit(op, ACTION, id.to_string(), "requested".into())
        .await?;
    let result = app.gateway.resend(id).await.map_err(api_error);
    let outcome = match &result {
        Ok(Some(n)) => format!("notification {n} queued"),
        Ok(None) => "order_not_found".into(),
        Err(e) => e.code.to_string(),
    };
    app.audit(op, ACTION, id.to_string(), outcome).await?;
    match result? {
        Some(n) => Reply::json(
            200,
            &ResendResult {
                notification_id: Id(u128::from(n)),
            },
        ),
        None => Err(not_found(id)),
    }
}

/// The public gateway routes, which read headers or a body that is not JSON: the channels'
/// callbacks, the result page and its status. `None`: not one of them.
pub async fn public(
    app: &App,
    route: RouteId,
    param: Option<&str>,
    parts: &Parts,
    bytes: &Bytes,
) -> Option<Result<Reply, ApiError>> {
    let channel = match route {
        RouteId::AlipayNotify => "alipay",
        RouteId::WechatNotify => "wechat",
        RouteId::ResultPage => {
            let lang = PageLang::of(&parts.headers);
            return Some(match page_order(app, param, parts) {
                Ok(id) => match result_page(app, id, lang).await {
                    Err(e) if e.status == 404 => Ok(bad_link_page(lang)),
                    other => other,
                },
                Err(e) if e.status == 404 || e.status == 400 => Ok(bad_link_page(lang)),
                Err(e) => Err(e),
            });
        }
        RouteId::ResultStatus => {
            return Some(match page_order(app, param, parts) {
                Ok(id) => pay_status(app, id).await,
                Err(e) => Err(e),
            })
        }
        _ => return None,
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let (answer, result) = app.gateway.callback(channel, &headers, bytes).await;
    if let Err(GatewayError::ChannelUnknown(_)) = &result {
        // No such channel on this node: the path does not exist here, answered as any
        // missing endpoint is (JSON, stable code), not in a channel's own form.
        return Some(Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the {channel} channel is not configured on this node"),
        )));
    }
    if let Err(e) = result {
        crate::log::log(
            crate::log::Level::Warn,
            "channel callback refused",
            &[("channel", &channel), ("code", &e.code()), ("error", &e)],
        );
    }
    Some(Ok(Reply {
        status: answer.status,
        body: answer.body.into(),
        content_type: answer.content_type,
        headers: Vec::new(),
    }))
}

/// The order a result page or its status is for, if the token is the one Suanpan made for it
/// (otherwise it does not exist, as far as the browser is told).
fn page_order(app: &App, param: Option<&str>, parts: &Parts) -> Result<u64, ApiError> {
    let id = order_id(param)?;
    let pairs = app::query_pairs(parts.uri.query().unwrap_or(""))?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if app.gateway.page_token_matches(id, token) {
        Ok(id)
    } else {
        Err(not_found(id))
    }
}

/// The result page's status: the gateway's own state, answered at once. An open order
/// nudges the background query (never waited for).
async fn pay_status(app: &App, id: u64) -> Result<Reply, ApiError> {
    let gateway = app.gateway.clone();
    let (order, paid_at) = app
        .blocking(move || {
            let order = gateway.order(id).map_err(api_error)?;
            let paid_at = match &order {
                Some(o) if o.state == suanpan_gateway::OrderState::Succeeded => {
                    gateway.paid_at_ms(id).map_err(api_error)?
                }
                _ => None,
            };
            Ok((order, paid_at))
        })
        .await?;
    let order = order.ok_or_else(|| not_found(id))?;
    app.gateway.nudge(&order);
    Reply::json(200, &pay_status_view(&order, paid_at))
}

fn pay_status_view(order: &Order, paid_at_ms: Option<u64>) -> PayStatus {
    PayStatus {
        state: order.state.as_str().into(),
        is_final: order.state.is_final(),
        paid_at: paid_at_ms.map(suanpan_recon::time::format_beijing),
    }
}

/// An amount as a payer reads it: ¥19.90 for yuan, `USD 19.90` otherwise.
fn payer_amount(currency: &str, minor: u64) -> String {
    let figure = format!("{}.{:02}", minor / 100, minor % 100);
    if currency == "CNY" {
        format!("¥{figure}")
    } else {
        format!("{} {figure}", crate::html::escape(currency))
    }
}

/// What the page says in each state: the verdict and what to do next.
fn page_texts(lang: PageLang) -> serde_json::Value {
    let t = |zh: &'static str, en: &'static str| lang.t(zh, en);
    serde_json::json!({
        "checking": [t("正在查询支付结果…", "Checking your payment…"), ""],
        "succeeded": [t("支付成功", "Payment succeeded"), t("商户已收到付款。您可以返回商户查看订单。", "The merchant has your payment. You can go back to the merchant to see your order.")],
        "failed": [t("支付失败", "Payment failed"), t("本次未扣款。如需购买，请返回商户重新支付。", "You were not charged. To buy, go back to the merchant and pay again.")],
        "closed": [t("订单已关闭", "The order was closed"), t("订单未付款已关闭，未扣款。如需购买，请返回商户重新下单。", "It was closed without payment and you were not charged. To buy, go back to the merchant and order again.")],
        "processing": [t("支付结果确认中", "Your payment is still being processed"), t("请勿重复支付。结果确认后商户会收到通知；您也可以稍后再查看。", "Do not pay again. The merchant is told as soon as the result is known; you can check again later.")],
    })
}

/// The page the payer returns to. It shows what Suanpan knows (never the browser's return
/// parameters), and its script asks again at fixed times up to `result_wait_ms`, then
/// offers to check again.
async fn result_page(app: &App, id: u64, lang: PageLang) -> Result<Reply, ApiError> {
    let gateway = app.gateway.clone();
    let access = app.access.clone();
    let (order, paid_at, merchant_name) = app
        .blocking(move || {
            let order = gateway
                .order(id)
                .map_err(api_error)?
                .ok_or_else(|| not_found(id))?;
            let paid_at = if order.state == suanpan_gateway::OrderState::Succeeded {
                gateway.paid_at_ms(id).map_err(api_error)?
            } else {
                None
            };
            // The participant's registered name; its code if it has none.
            let name = access
                .participant(&order.merchant)
                .ok()
                .flatten()
                .map(|p| p.name)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| order.merchant.clone());
            Ok((order, paid_at, name))
        })
        .await?;
    if !order.state.is_final() {
        app.gateway.nudge(&order);
    }
    let config = app.gateway.config();
    let status = pay_status_view(&order, paid_at);
    let json = |v: &serde_json::Value| v.to_string().replace('<', "\\u003c");
    let hidden = |shown: bool| if shown { "" } else { "hidden" };
    let t = |zh: &'static str, en: &'static str| lang.t(zh, en);
    let page = RESULT_PAGE
        .replace("{{LANG}}", lang.code())
        .replace("{{TITLE}}", t("支付结果", "Payment result"))
        .replace("{{MERCHANT}}", &crate::html::escape(&merchant_name))
        .replace(
            "{{AMOUNT}}",
            &payer_amount(&order.currency, order.amount_minor),
        )
        .replace("{{SUBJECT_LABEL}}", t("商品", "Item"))
        .replace("{{SUBJECT}}", &crate::html::escape(&order.subject))
        .replace("{{ORDER_LABEL}}", t("订单号", "Order number"))
        .replace(
            "{{ORDER_NO}}",
            &crate::html::escape(&order.merchant_order_no),
        )
        .replace("{{PAID_LABEL}}", t("付款时间", "Paid at"))
        .replace("{{PAID_AT}}", status.paid_at.as_deref().unwrap_or(""))
        .replace("{{PAID_HIDDEN}}", hidden(status.paid_at.is_some()))
        .replace(
            "{{CHECKING}}",
            t("正在查询支付结果…", "Checking your payment…"),
        )
        .replace("{{CHECK_AGAIN}}", t("再次查询", "Check again"))
        .replace("{{BACK}}", t("返回商户", "Back to the merchant"))
        .replace(
            "{{RETURN_URL}}",
            &crate::html::escape(order.return_url.as_deref().unwrap_or("")),
        )
        .replace("{{RETURN_HIDDEN}}", hidden(order.return_url.is_some()))
        .replace("{{TEXT_JSON}}", &json(&page_texts(lang)))
        .replace(
            "{{STATUS_JSON}}",
            &json(&serde_json::to_value(&status).unwrap_or_default()),
        )
        .replace("{{ORDER}}", &order.id.to_string())
        .replace("{{TOKEN}}", &app.gateway.page_token(order.id))
        .replace("{{STATE}}", order.state.as_str())
        .replace("{{POLL_MS}}", &config.result_poll_ms.to_string())
        .replace("{{WAIT_MS}}", &config.result_wait_ms.to_string());
    Ok(Reply {
        status: 200,
        body: page.into(),
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
    })
}

/// A link that is not one Suanpan made (a wrong or missing token, an order that does not
/// exist) answers a page, not JSON: a payer is reading it.
fn bad_link_page(lang: PageLang) -> Reply {
    let t = |zh: &'static str, en: &'static str| lang.t(zh, en);
    let page = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>body {{ font-family: sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}</style></head>\
         <body><h1 id=\"bad-link\">{}</h1><p>{}</p></body></html>",
        lang.code(),
        t("链接无效", "This link is not valid"),
        t("链接无效", "This link is not valid"),
        t(
            "找不到这笔支付。请从商户的页面重新进入；如已付款，请勿重复支付。",
            "No payment is found at this link. Go back to the merchant's page; if you have paid, do not pay again."
        ),
    );
    Reply {
        status: 404,
        body: page.into(),
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
    }
}

const RESULT_PAGE: &str = include_str!("result_page.html");

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant's place, every one named: a new variant fails to compile here until it
    /// is in the list below too.
    fn variant(e: &GatewayError) -> usize {
        use GatewayError as E;
        match e {
            E::OrderConflict(_) => 0,
            E::OrderNotFound(_) => 1,
            E::MerchantNotRegistered(_) => 2,
            E::ChannelUnknown(_) => 3,
            E::CurrencyNotSupported { .. } => 15,
            E::InvalidValue(..) => 4,
            E::RefundExceedsPaid { .. } => 5,
            E::OrderNotRefundable(_) => 6,
            E::RefundConflict(_) => 7,
            E::ChannelUnavailable(_) => 8,
            E::CallbackSignatureInvalid => 9,
            E::CallbackAmountMismatch { .. } => 10,
            E::CallbackMalformed(_) => 11,
            E::Booking(_) => 12,
            E::Overloaded => 13,
            E::Store(_) => 14,
            E::NotLeader(_) => 16,
        }
    }

    #[test]
    fn every_gateway_error_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/api-errors.md");
        let all = [
            GatewayError::OrderConflict("x".into()),
            GatewayError::OrderNotFound(1),
            GatewayError::MerchantNotRegistered("m".into()),
            GatewayError::ChannelUnknown("c".into()),
            GatewayError::CurrencyNotSupported {
                channel: "c".into(),
                currency: "USD".into(),
            },
            GatewayError::InvalidValue("f", "v".into()),
            GatewayError::RefundExceedsPaid { asked: 2, left: 1 },
            GatewayError::OrderNotRefundable("n".into()),
            GatewayError::RefundConflict("r".into()),
            GatewayError::ChannelUnavailable("u".into()),
            GatewayError::CallbackSignatureInvalid,
            GatewayError::CallbackAmountMismatch {
                expected: 2,
                got: 1,
            },
            GatewayError::CallbackMalformed("m".into()),
            GatewayError::Booking("b".into()),
            GatewayError::Overloaded,
            GatewayError::NotLeader("l".into()),
            GatewayError::Store("s".into()),
        ];
        let mut seen: Vec<usize> = all.iter().map(variant).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..=16).collect::<Vec<_>>(), "a variant missing here");
        for e in all {
            let status = gateway_status(&e);
            let answered = api_error(e);
            assert_eq!(answered.status, status, "{}", answered.code);
            let row = format!("| `{}` | {} |", answered.code, answered.status);
            assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
        }
    }
}
