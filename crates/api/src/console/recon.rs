//! The console's reconciliation page: a date's report per channel (classes, sums, the bill's
//! own summary) and every difference with its state, evidence and history link; forms to run
//! a channel's bill and to resolve a difference. Each action goes through the JSON API's own
//! handler (`crate::recon`), so the rules, the roles and the audit are the API's.

use std::fmt::Write;

use serde_json::json;
use suanpan_access::Role;

use super::pages::{layout, notice};
use super::{json, text, Page, Visit};
use crate::app;
use crate::error::ApiError;
use crate::html::escape;
use crate::recon::ReconRoute;

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        suanpan_recon::bill::format_yuan(fen.unsigned_abs())
    )
}

/// Today in Beijing: the channels' day, the default date of the page.
fn today() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    suanpan_recon::time::format_beijing(ms)[..10].to_string()
}

fn failed(v: &Visit, e: ApiError) -> Page {
    let title = v.lang.t("对账", "Reconciliation");
    Page::html(
        e.status,
        layout(
            v,
            title,
            &notice(false, &format!("{}: {}", e.code, e.message)),
        ),
    )
}

/// The actions a difference in `state` of `class` can take, as the room allows them.
fn actions(class: &str, state: &str, amount: i64, has_order: bool) -> Vec<&'static str> {
    match state {
        "open" => {
            let mut out = Vec::new();
            match class {
                "long" if has_order => out.push("book_late_success"),
                "in_gateway_not_booked" => out.push("rebook"),
                "short" => out.extend(["query_channel", "reverse"]),
                "amount_mismatch" | "fee_mismatch" => {
                    out.extend(["channel_right", "platform_right"])
                }
                _ => {}
            }
            if amount == 0 {
                out.push("accept");
            } else {
                out.push("suspense");
            }
            out
        }
        "suspense" => vec!["write_off"],
        _ => Vec::new(),
    }
}

pub async fn page(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("对账", "Reconciliation");
    let date = app::query_value(&v.query, "date")
        .map(str::to_string)
        .unwrap_or_else(today);
    let report = match json(
        crate::recon::dispatch(
            v.app,
            ReconRoute::Report,
            &v.caller(),
            Some(&date),
            &[],
            b"",
            &hyper::HeaderMap::new(),
        )
        .await,
    ) {
        Ok(r) => r,
        Err(e) => return failed(v, e),
    };
    let mut body = format!(
        "<form method=\"get\" action=\"/console/recon\"><label>{} <input name=\"date\" id=\"date\" value=\"{}\" size=\"10\"></label> \
         <button type=\"submit\" id=\"show\">{}</button></form>",
        lang.t("日期", "Date"),
        escape(&date),
        lang.t("查看", "Show"),
    );
    if v.may(Role::Operator) {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/console/recon/run\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"date\" value=\"{}\">\
             <select name=\"channel\" id=\"run-channel\"><option>alipay</option><option>wechat</option></select> \
             <button class=\"action\" type=\"submit\" id=\"run\">{}</button></form>",
            escape(&v.csrf),
            escape(&date),
            lang.t("下载并核对账单", "Fetch and reconcile the bill"),
        );
    }
    let channels = report["channels"].as_array().cloned().unwrap_or_default();
    if channels.is_empty() {
        body.push_str(&notice(
            true,
            lang.t(
                "该日尚无对账。",
                "No channel has been reconciled for this date yet.",
            ),
        ));
    }
    for c in &channels {
        let channel = text(&c["channel"]);
        let s = &c["bill_summary"];
        let _ = write!(
            body,
            "<h2 id=\"channel-{0}\">{0}</h2><p>{1} {2} · {3} {4} · {5} {6} · {7} {8} · <span id=\"accounted-{0}\">{9}</span></p>",
            escape(&channel),
            lang.t("账单行数", "Bill lines"),
            escape(&text(&s["lines"])),
            lang.t("支付", "paid"),
            yuan(s["paid_fen"].as_i64().unwrap_or(0)),
            lang.t("退款", "refunded"),
            yuan(s["refunded_fen"].as_i64().unwrap_or(0)),
            lang.t("手续费", "fees"),
            yuan(s["fees_fen"].as_i64().unwrap_or(0)),
            if c["bill_accounted"] == true {
                lang.t("各类合计等于账单汇总", "classes add up to the bill's summary")
            } else {
                lang.t("各类合计不等于账单汇总", "classes DO NOT add up to the bill's summary")
            },
        );
        let _ = write!(
            body,
            "<table id=\"classes-{}\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            escape(&channel),
            lang.t("类别", "Class"),
            lang.t("笔数", "Count"),
            lang.t("账单金额", "Bill"),
            lang.t("平台金额", "Platform"),
        );
        for k in c["classes"].as_array().into_iter().flatten() {
            if k["count"] == 0 {
                continue;
            }
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&text(&k["class"])),
                escape(&text(&k["count"])),
                yuan(k["bill_fen"].as_i64().unwrap_or(0)),
                yuan(k["platform_fen"].as_i64().unwrap_or(0)),
            );
        }
        body.push_str("</table>");
        let _ = write!(
            body,
            "<h3>{}</h3><table id=\"differences-{}\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
            lang.t("差异", "Differences"),
            escape(&channel),
            lang.t("对象", "Key"),
            lang.t("差异", "Class"),
            lang.t("金额", "Amount"),
            lang.t("证据", "Evidence"),
            lang.t("状态", "State"),
        );
        for d in c["differences"].as_array().into_iter().flatten() {
            let id = text(&d["id"]);
            let class = text(&d["class"]);
            let state = text(&d["state"]);
            let amount = d["amount_fen"].as_i64().unwrap_or(0);
            let e = &d["evidence"];
            let evidence = format!(
                "{}{}{}",
                e["bill"]["line"]
                    .as_u64()
                    .map(|l| format!("{} {l} ", lang.t("账单行", "bill line")))
                    .unwrap_or_default(),
                e["platform"]["order_id"]
                    .as_u64()
                    .map(|o| format!("{} {o} ", lang.t("订单", "order")))
                    .unwrap_or_default(),
                e["booked_fen"]
                    .as_i64()
                    .map(|b| format!("{} {}", lang.t("已记账", "booked"), yuan(b)))
                    .unwrap_or_default(),
            );
            let choices = if v.may(Role::Operator) {
                actions(&class, &state, amount, e["platform"].is_object())
            } else {
                Vec::new()
            };
            let form = if choices.is_empty() {
                String::new()
            } else {
                let options: String = choices
                    .iter()
                    .map(|a| format!("<option>{a}</option>"))
                    .collect();
                format!(
                    "<form method=\"post\" action=\"/console/recon/resolve\" class=\"inline\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{1}\">\
                     <input type=\"hidden\" name=\"date\" value=\"{2}\">\
                     <select name=\"action\" id=\"action-{1}\">{options}</select> \
                     <input name=\"note\" id=\"note-{1}\" placeholder=\"{3}\"> \
                     <input name=\"against\" id=\"against-{1}\" placeholder=\"{4}\" size=\"6\"> \
                     <button class=\"action\" type=\"submit\" id=\"resolve-{1}\">{5}</button></form>",
                    escape(&v.csrf),
                    escape(&id),
                    escape(&date),
                    lang.t("说明", "note"),
                    lang.t("对方科目", "against"),
                    lang.t("处理", "Resolve"),
                )
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td id=\"state-{0}\">{}</td><td>{form}</td></tr>",
                escape(&id),
                escape(&text(&d["key"])),
                escape(&class),
                yuan(amount),
                escape(&evidence),
                escape(&state),
            );
        }
        body.push_str("</table>");
    }
    Page::html(200, layout(v, title, &body))
}

/// Checks the role an action needs (a refusal is audited, as the API's is).
async fn allowed(v: &Visit<'_>, action: &'static str, target: &str) -> Result<(), ApiError> {
    v.app
        .authorize(&v.caller(), Role::Operator, action, target)
        .await
        .map(|_| ())
}

pub async fn run(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let date = app::query_value(form, "date").unwrap_or("").to_string();
    let channel = app::query_value(form, "channel").unwrap_or("");
    if let Err(e) = allowed(v, "recon_run", channel).await {
        return failed(v, e);
    }
    let body = json!({"channel": channel, "date": date});
    act(v, ReconRoute::Run, None, &body, &date).await
}

pub async fn resolve(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let id = app::query_value(form, "id").unwrap_or("").to_string();
    let date = app::query_value(form, "date").unwrap_or("").to_string();
    if let Err(e) = allowed(v, "recon_resolve", &id).await {
        return failed(v, e);
    }
    let field = |k: &str| app::query_value(form, k).filter(|s| !s.is_empty());
    let body = json!({
        "action": field("action").unwrap_or(""),
        "note": field("note"),
        "against": field("against"),
    });
    act(v, ReconRoute::Resolve, Some(&id), &body, &date).await
}

/// An action through the JSON API's own handler; back to the date's page, or the refusal.
async fn act(
    v: &Visit<'_>,
    route: ReconRoute,
    param: Option<&str>,
    body: &serde_json::Value,
    date: &str,
) -> Page {
    let caller = v.caller();
    let body = body.to_string();
    match crate::recon::dispatch(
        v.app,
        route,
        &caller,
        param,
        &[],
        body.as_bytes(),
        &hyper::HeaderMap::new(),
    )
    .await
    {
        Ok(_) => Page::redirect(&format!("/console/recon?date={date}")),
        Err(e) => failed(v, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_is_offered_only_what_the_room_allows() {
        assert_eq!(
            actions("long", "open", 100, true),
            ["book_late_success", "suspense"]
        );
        assert_eq!(actions("long", "open", 100, false), ["suspense"]);
        assert_eq!(
            actions("fee_mismatch", "open", -3, true),
            ["channel_right", "platform_right", "suspense"]
        );
        assert_eq!(
            actions("booked_not_in_gateway", "open", 0, true),
            ["accept"]
        );
        assert_eq!(
            actions("short", "open", -5, true),
            ["query_channel", "reverse", "suspense"]
        );
        assert_eq!(actions("short", "suspense", -5, true), ["write_off"]);
        assert!(actions("long", "resolved_auto", 5, true).is_empty());
    }
}
