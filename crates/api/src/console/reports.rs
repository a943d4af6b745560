//! The console's reports: a date's trial balance and subject balance table (科目余额表), the
//! chart of accounts and the posting rules; a closed clearing batch's gross, net and
//! bilateral figures, and closing the open batch (operators). Read through the JSON API's own
//! handlers, rendered as tables.

use std::fmt::Write;

use serde_json::Value;

use super::pages::{layout, notice};
use super::{Page, Visit};
use crate::app;
use crate::html::escape;
use suanpan_access::Role;

fn json(
    reply: Result<crate::app::Reply, crate::error::ApiError>,
) -> Result<Value, crate::error::ApiError> {
    Ok(serde_json::from_slice(&reply?.body).unwrap_or(Value::Null))
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// A table of JSON objects, one column per key of the first (every value escaped).
fn table(id: &str, rows: &[Value]) -> String {
    let Some(first) = rows.first().and_then(Value::as_object) else {
        return format!("<table id=\"{id}\"></table>");
    };
    let keys: Vec<&String> = first.keys().collect();
    let mut out = format!("<table id=\"{id}\"><tr>");
    for k in &keys {
        let _ = write!(out, "<th>{}</th>", escape(k));
    }
    out.push_str("</tr>");
    for r in rows {
        out.push_str("<tr>");
        for k in &keys {
            let _ = write!(out, "<td>{}</td>", escape(&cell(&r[k.as_str()])));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

pub async fn accounting_reports(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("会计报表", "Accounting reports");
    let date = app::query_value(&v.query, "date").unwrap_or("").to_string();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/accounting/reports\" class=\"card\">\
         <label>{} <input name=\"date\" value=\"{}\" placeholder=\"2026-12-06\"></label> \
         <button class=\"action\" type=\"submit\">{}</button></form>",
        lang.t("会计日期", "Date"),
        escape(&date),
        lang.t("查看", "Show"),
    );
    if !date.is_empty() {
        let headers = hyper::HeaderMap::new();
        for (trial, heading, id) in [
            (true, lang.t("试算平衡表", "Trial balance"), "trial-balance"),
            (
                false,
                lang.t("科目余额表", "Subject balances"),
                "subject-balances",
            ),
        ] {
            let _ = write!(body, "<h2>{heading}</h2>");
            match json(crate::accounting::report(v.app, Some(&date), &[], &headers, trial).await) {
                Ok(r) => {
                    let rows = r["subjects"].as_array().cloned().unwrap_or_default();
                    body.push_str(&table(id, &rows));
                }
                Err(e) => body.push_str(&notice(false, &format!("{}: {}", e.code, e.message))),
            }
        }
    }
    let _ = write!(body, "<h2>{}</h2>", lang.t("会计科目", "Chart of accounts"));
    match json(crate::accounting::subjects(v.app).await) {
        Ok(s) => body.push_str(&table(
            "chart",
            s["subjects"].as_array().map_or(&[][..], |a| a.as_slice()),
        )),
        Err(e) => body.push_str(&notice(false, &format!("{}: {}", e.code, e.message))),
    }
    let _ = write!(body, "<h2>{}</h2>", lang.t("记账规则", "Posting rules"));
    match json(crate::accounting::rules(v.app).await) {
        Ok(r) => body.push_str(&table(
            "rules",
            r["rules"].as_array().map_or(&[][..], |a| a.as_slice()),
        )),
        Err(e) => body.push_str(&notice(false, &format!("{}: {}", e.code, e.message))),
    }
    Page::html(200, layout(v, title, &body))
}

pub async fn batch(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("清算批次", "Clearing batches");
    let number = app::query_value(&v.query, "batch")
        .unwrap_or("")
        .to_string();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/clearing/batches\" class=\"card\">\
         <label>{} <input name=\"batch\" value=\"{}\" size=\"8\"></label> \
         <button class=\"action\" type=\"submit\">{}</button></form>",
        lang.t("批次", "Batch"),
        escape(&number),
        lang.t("查看", "Show"),
    );
    if v.may(Role::Operator) {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/console/clearing/batches/close\" style=\"margin:.75rem 0\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button class=\"action\" type=\"submit\" id=\"close-batch\">{}</button></form>",
            escape(&v.csrf),
            lang.t("关闭当前批次", "Close the open batch"),
        );
    }
    if number.is_empty() {
        return Page::html(200, layout(v, title, &body));
    }
    let q = [("bilateral".to_string(), "true".to_string())];
    match json(crate::clearing::report(v.app, Some(&number), &q).await) {
        Ok(r) => {
            let _ = write!(
                body,
                "<p id=\"batch-totals\">{} {} · {} {} · {} {}</p>",
                lang.t("笔数", "Transactions"),
                escape(&cell(&r["transactions"])),
                lang.t("金额", "Amount"),
                escape(&cell(&r["amount"])),
                lang.t("手续费", "Fees"),
                escape(&cell(&r["fee"])),
            );
            if v.may(Role::Operator) {
                let _ = write!(
                    body,
                    "<form method=\"post\" action=\"/console/clearing/batches/settle\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"batch\" value=\"{}\">\
                     <button class=\"action\" type=\"submit\" id=\"settle-batch\">{}</button></form>",
                    escape(&v.csrf),
                    escape(&number),
                    lang.t("确认结算", "Post the confirmed settlement"),
                );
            }
            if let Some(settled) = app::query_value(&v.query, "settled") {
                body.push_str(&notice(
                    true,
                    &format!(
                        "{} {settled}",
                        lang.t("已入账的结算分录：", "Settlement postings:")
                    ),
                ));
            }
            let _ = write!(body, "<h2>{}</h2>", lang.t("各参与者轧差", "Positions"));
            body.push_str(&table(
                "positions",
                r["positions"].as_array().map_or(&[][..], |a| a.as_slice()),
            ));
            let _ = write!(
                body,
                "<h2>{}</h2>",
                lang.t("结算指令", "Settlement instructions")
            );
            body.push_str(&table(
                "settlement",
                r["settlement_instructions"]
                    .as_array()
                    .map_or(&[][..], |a| a.as_slice()),
            ));
            let _ = write!(body, "<h2>{}</h2>", lang.t("双边轧差", "Bilateral nets"));
            body.push_str(&table(
                "bilateral",
                r["bilateral"].as_array().map_or(&[][..], |a| a.as_slice()),
            ));
            Page::html(200, layout(v, title, &body))
        }
        Err(e) => {
            body.push_str(&notice(false, &format!("{}: {}", e.code, e.message)));
            Page::html(e.status, layout(v, title, &body))
        }
    }
}

pub async fn close_batch(v: &Visit<'_>) -> Page {
    let title = v.lang.t("清算批次", "Clearing batches");
    let caller = v.caller();
    if let Err(e) = v
        .app
        .authorize(&caller, Role::Operator, "close_clearing_batch", "")
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
    match json(crate::clearing::close(v.app, &caller).await) {
        Ok(r) => Page::redirect(&format!(
            "/console/clearing/batches?batch={}",
            cell(&r["batch"])
        )),
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

pub async fn settle_batch(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let title = v.lang.t("清算批次", "Clearing batches");
    let batch = app::query_value(form, "batch").unwrap_or("").to_string();
    let caller = v.caller();
    if let Err(e) = v
        .app
        .authorize(&caller, Role::Operator, "settle_clearing_batch", &batch)
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
    match json(crate::clearing::settle(v.app, &caller, Some(&batch)).await) {
        Ok(r) => Page::redirect(&format!(
            "/console/clearing/batches?batch={batch}&settled={}",
            cell(&r["postings"])
        )),
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
