//! The console's gateway page: orders found by the merchant's order number, or by state and
//! creation time (an index, never a scan); an order with its event timeline (callbacks,
//! queries, expiry), its notifications and every delivery attempt; re-sending the latest
//! notification (operators) through the JSON API's own handler.

use std::fmt::Write;

use super::pages::{layout, notice};
use super::{Page, Visit};
use crate::app;
use crate::html::escape;
use crate::time::format_ns;
use suanpan_access::Role;

const STATES: [&str; 5] = ["created", "paying", "succeeded", "failed", "closed"];

fn ms_text(ms: u64) -> String {
    format_ns(ms.saturating_mul(1_000_000))
}

pub async fn orders(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("支付订单", "Payment orders");
    let q = |k: &str| app::query_value(&v.query, k).unwrap_or("").to_string();
    let (merchant, no, state, from, to) = (q("merchant"), q("no"), q("state"), q("from"), q("to"));
    let options: String = STATES
        .iter()
        .map(|s| {
            let selected = if *s == state { " selected" } else { "" };
            format!("<option{selected}>{s}</option>")
        })
        .collect();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/orders\" class=\"card\">\
         <label>{} <input name=\"merchant\" value=\"{}\" size=\"10\"></label> \
         <label>{} <input name=\"no\" value=\"{}\"></label> {} \
         <label>{} <select name=\"state\"><option></option>{options}</select></label> \
         <label>{} <input name=\"from\" value=\"{}\" placeholder=\"2026-12-06T00:00:00Z\"></label> \
         <label>{} <input name=\"to\" value=\"{}\"></label> \
         <button class=\"action\" type=\"submit\" id=\"find-orders\">{}</button></form>",
        lang.t("商户", "Merchant"),
        escape(&merchant),
        lang.t("商户订单号", "Merchant order no."),
        escape(&no),
        lang.t("或", "or"),
        lang.t("状态", "State"),
        lang.t("自", "From"),
        escape(&from),
        lang.t("至", "To"),
        escape(&to),
        lang.t("查找", "Find"),
    );
    let gateway = v.app.gateway.clone();
    let found = if !no.is_empty() {
        let (m, n) = (merchant.clone(), no.clone());
        v.app
            .blocking(move || {
                gateway
                    .order_by_merchant_no(&m, &n)
                    .map(|o| o.into_iter().collect::<Vec<_>>())
                    .map_err(|e| {
                        crate::error::ApiError::new(
                            crate::error::ErrorCode::Internal,
                            e.to_string(),
                        )
                    })
            })
            .await
    } else if STATES.contains(&state.as_str()) {
        let time = |t: &str, default: u64| {
            if t.is_empty() {
                Some(default)
            } else {
                crate::time::parse_rfc3339(t).map(|ns| ns / 1_000_000)
            }
        };
        let (Some(from_ms), Some(to_ms)) = (time(&from, 0), time(&to, u64::MAX)) else {
            body.push_str(&notice(
                false,
                lang.t("时间须为 RFC 3339。", "Times are RFC 3339."),
            ));
            return Page::html(400, layout(v, title, &body));
        };
        let state = state.clone();
        v.app
            .blocking(move || {
                gateway
                    .orders_by_state(&state, from_ms, to_ms, 100)
                    .map_err(|e| {
                        crate::error::ApiError::new(
                            crate::error::ErrorCode::Internal,
                            e.to_string(),
                        )
                    })
            })
            .await
    } else {
        return Page::html(200, layout(v, title, &body));
    };
    match found {
        Ok(orders) => {
            let _ = write!(
                body,
                "<table id=\"orders\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                lang.t("商户", "Merchant"),
                lang.t("商户订单号", "Merchant order no."),
                lang.t("金额", "Amount"),
                lang.t("状态", "State"),
                lang.t("创建", "Created"),
            );
            for o in orders {
                let _ = write!(
                    body,
                    "<tr><td><a href=\"/console/orders/view?id={0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3} {4}</td><td>{5}</td><td>{6}</td></tr>",
                    o.id,
                    escape(&o.merchant),
                    escape(&o.merchant_order_no),
                    escape(&o.currency),
                    o.amount_minor,
                    o.state.as_str(),
                    escape(&ms_text(o.created_ms)),
                );
            }
            body.push_str("</table>");
            Page::html(200, layout(v, title, &body))
        }
        Err(e) => {
            body.push_str(&notice(false, &e.message));
            Page::html(500, layout(v, title, &body))
        }
    }
}

pub async fn order(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("支付订单", "Payment orders");
    let Some(id) = app::query_value(&v.query, "id").and_then(|t| t.parse::<u64>().ok()) else {
        return Page::html(
            400,
            layout(
                v,
                title,
                &notice(false, lang.t("编号无效。", "Not an order id.")),
            ),
        );
    };
    let gateway = v.app.gateway.clone();
    // The order, its events and its notifications, read off the async workers.
    let read = v
        .app
        .blocking(move || {
            let order = gateway.order(id).map_err(|e| {
                crate::error::ApiError::new(crate::error::ErrorCode::Internal, e.to_string())
            })?;
            Ok((
                order,
                gateway.events(id).unwrap_or_default(),
                gateway.notifications(id).unwrap_or_default(),
            ))
        })
        .await;
    let Ok((Some(o), events, notifications)) = read else {
        return Page::html(
            404,
            layout(
                v,
                title,
                &notice(false, lang.t("没有这个订单。", "No such order.")),
            ),
        );
    };
    let mut body = format!(
        "<table id=\"order\"><tr><th>#</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>\
         <tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{} {}</td></tr>\
         <tr><th>{}</th><td id=\"order-state\">{}</td></tr><tr><th>{}</th><td>{}</td></tr>\
         <tr><th>{}</th><td>{}</td></tr></table>",
        o.id,
        lang.t("商户", "Merchant"),
        escape(&o.merchant),
        lang.t("商户订单号", "Merchant order no."),
        escape(&o.merchant_order_no),
        lang.t("金额", "Amount"),
        escape(&o.currency),
        o.amount_minor,
        lang.t("状态", "State"),
        o.state.as_str(),
        lang.t("渠道", "Channel"),
        escape(&o.channel),
        lang.t("查询次数", "Queries"),
        o.queries,
    );
    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"events\">",
        lang.t("事件", "Events")
    );
    for e in events {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            escape(&ms_text(e.at_ms)),
            escape(e.from_state.as_deref().unwrap_or("")),
            escape(&e.to_state),
            escape(&e.cause),
        );
    }
    let _ = write!(
        body,
        "</table><h2>{}</h2><table id=\"notifications\">",
        lang.t("商户通知", "Merchant notifications")
    );
    for (n, attempts) in notifications {
        let _ = write!(
            body,
            "<tr><th>{}</th><th>{}</th><th>{}</th></tr>",
            n.id,
            escape(&n.state),
            n.round
        );
        for a in attempts {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&ms_text(a.at_ms)),
                a.status,
                escape(&a.outcome),
            );
        }
    }
    body.push_str("</table>");
    if v.may(Role::Operator) {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/console/orders/resend\" style=\"margin-top:.75rem\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
             <button class=\"action\" type=\"submit\" id=\"resend\">{}</button></form>",
            escape(&v.csrf),
            lang.t("重发通知", "Send the notification again"),
        );
    }
    Page::html(200, layout(v, title, &body))
}

pub async fn resend(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let title = v.lang.t("支付订单", "Payment orders");
    let id = app::query_value(form, "id").unwrap_or("").to_string();
    let caller = v.caller();
    if let Err(e) = v
        .app
        .authorize(&caller, Role::Operator, "resend_notification", &id)
        .await
    {
        return Page::html(
            e.status,
            layout(
                v,
                title,
                &notice(false, &format!("{}: {}", e.code, e.message)),
            ),
        );
    }
    match crate::orders::dispatch(
        v.app,
        crate::routes::RouteId::ResendNotification,
        &caller,
        Some(&id),
        &[],
        &[],
    )
    .await
    {
        Ok(_) => Page::redirect(&format!("/console/orders/view?id={id}")),
        Err(e) => Page::html(
            e.status,
            layout(
                v,
                title,
                &notice(false, &format!("{}: {}", e.code, e.message)),
            ),
        ),
    }
}
