//! The console's books: the accounting dates and their day-ends (started and followed from
//! the page), suspense items and their write-off, the clearing statements to download, and a
//! transfer by id. Each action goes through the same handler as the JSON API, so the rules,
//! the roles and the audit are the API's own; the page only renders what it answers.

use std::fmt::Write;

use super::pages::{layout, layout_refreshing, notice};
use super::{json, text, Page, Visit};
use crate::app;
use crate::error::ApiError;
use crate::html::escape;
use suanpan_access::Role;

/// A refusal or failure of the handler, shown on the page with its status.
fn failed(v: &Visit, title: &str, e: ApiError) -> Page {
    Page::html(
        e.status,
        layout(
            v,
            title,
            &notice(false, &format!("{}: {}", e.code, e.message)),
        ),
    )
}

/// Checks the role an action needs (a refusal is audited), then runs it.
async fn allowed(
    v: &Visit<'_>,
    role: Role,
    action: &'static str,
    target: &str,
) -> Result<(), ApiError> {
    let caller = v.caller();
    v.app
        .authorize(&caller, role, action, target)
        .await
        .map(|_| ())
}

pub async fn accounting(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("会计", "Accounting");
    let dates = match json(crate::accounting::dates(v.app).await) {
        Ok(d) => d,
        Err(e) => return failed(v, title, e),
    };
    let chosen = app::query_value(&v.query, "date").map(str::to_string);
    let mut body = String::new();
    let mut running = false;
    let _ = write!(
        body,
        "<table id=\"dates\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        lang.t("会计日期", "Date"),
        lang.t("日终", "Day-end"),
        lang.t("转账", "Transfers"),
        lang.t("凭证", "Vouchers"),
    );
    for d in dates["dates"].as_array().into_iter().flatten() {
        let date = text(&d["accounting_date"]);
        let state = text(&d["state"]);
        running |= state == "running";
        let button = if d["closed"].as_bool() == Some(true)
            && state != "complete"
            && state != "running"
            && v.may(Role::Operator)
        {
            format!(
                "<form method=\"post\" action=\"/console/accounting/day-end\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"date\" value=\"{}\">\
                 <button class=\"action\" type=\"submit\" id=\"day-end-{}\">{}</button></form>",
                escape(&v.csrf),
                escape(&date),
                escape(&date),
                lang.t("开始 / 继续日终", "Start / continue day-end"),
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"/console/accounting?date={0}\">{0}</a></td><td data-state=\"{1}\" id=\"state-{0}\">{1}</td><td>{2}</td><td>{3}</td><td>{button}</td></tr>",
            escape(&date),
            escape(&state),
            escape(&text(&d["transfers"])),
            escape(&text(&d["vouchers"])),
        );
    }
    body.push_str("</table>");
    if let Some(date) = chosen {
        let status = json(crate::accounting::day_end_status(v.app, Some(&date)).await);
        match status {
            Ok(s) => {
                let _ = write!(
                    body,
                    "<h2>{} {}</h2><table id=\"steps\">",
                    lang.t("日终步骤", "Day-end steps"),
                    escape(&date)
                );
                for step in s["steps"].as_array().into_iter().flatten() {
                    let name = text(&step["step"]);
                    let done = step["done"].as_bool() == Some(true);
                    let _ = write!(
                        body,
                        "<tr id=\"step-{0}\" data-done=\"{1}\"><td>{0}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
                        escape(&name),
                        done,
                        if done { "✓" } else { "" },
                        escape(&step["elapsed_ms"].as_u64().map(|ms| format!("{ms} ms")).unwrap_or_default()),
                        escape(&text(&step["summary"])),
                    );
                }
                body.push_str("</table>");
                running |= text(&s["state"]) == "running";
            }
            Err(e) => body.push_str(&notice(false, &format!("{}: {}", e.code, e.message))),
        }
    }
    let _ = write!(
        body,
        "<p><a href=\"/console/accounting/reports\" id=\"reports-link\">{}</a></p>",
        lang.t(
            "试算平衡表、科目余额表、科目与规则",
            "Trial balance, subject balances, chart and rules"
        )
    );
    body.push_str(&suspense(v).await);
    // While a day-end runs, the page follows it every second.
    let refresh = running.then_some(1);
    Page::html(200, layout_refreshing(v, title, &body, refresh))
}

async fn suspense(v: &Visit<'_>) -> String {
    let lang = v.lang;
    let all = [("all".to_string(), "true".to_string())];
    let items = match json(crate::accounting::suspense(v.app, &all).await) {
        Ok(i) => i,
        Err(e) => return notice(false, &format!("{}: {}", e.code, e.message)),
    };
    let mut out = format!(
        "<h2>{}</h2><table id=\"suspense\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        lang.t("挂账", "Suspense"),
        lang.t("日期", "Date"),
        lang.t("科目", "Subject"),
        lang.t("金额", "Amount"),
        lang.t("来源", "Origin"),
        lang.t("状态", "Status"),
    );
    for i in items["items"].as_array().into_iter().flatten() {
        let id = text(&i["id"]);
        let status = text(&i["status"]);
        let form = if status == "open" && v.may(Role::Operator) {
            format!(
                "<form method=\"post\" action=\"/console/accounting/write-off\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"item\" value=\"{}\">\
                 <input name=\"note\" id=\"note-{1}\" placeholder=\"{}\" required> \
                 <input name=\"against\" id=\"against-{1}\" placeholder=\"{}\" size=\"6\"> \
                 <button class=\"action\" type=\"submit\" id=\"write-off-{1}\">{}</button></form>",
                escape(&v.csrf),
                escape(&id),
                lang.t("说明", "note"),
                lang.t("对方科目", "against"),
                lang.t("核销", "Write off"),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td id=\"suspense-{0}\">{}</td><td>{form}</td></tr>",
            escape(&id),
            escape(&text(&i["accounting_date"])),
            escape(&text(&i["subject_code"])),
            escape(&text(&i["currency"])),
            escape(&text(&i["amount"])),
            escape(&text(&i["origin"])),
            escape(&status),
        );
    }
    out.push_str("</table>");
    out
}

pub async fn start_day_end(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let title = v.lang.t("会计", "Accounting");
    let date = app::query_value(form, "date").unwrap_or("").to_string();
    if let Err(e) = allowed(v, Role::Operator, "day_end", &date).await {
        return failed(v, title, e);
    }
    match crate::accounting::day_end_run(v.app, &v.caller(), Some(&date)).await {
        Ok(_) => Page::redirect(&format!("/console/accounting?date={date}")),
        Err(e) => failed(v, title, e),
    }
}

pub async fn write_off(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let title = v.lang.t("会计", "Accounting");
    let item = app::query_value(form, "item").unwrap_or("");
    if let Err(e) = allowed(v, Role::Operator, "write_off", item).await {
        return failed(v, title, e);
    }
    let Ok(id) = item.parse::<i64>() else {
        return failed(
            v,
            title,
            ApiError::new(crate::error::ErrorCode::InvalidValue, "no such item").field("item"),
        );
    };
    let against = app::query_value(form, "against").filter(|a| !a.is_empty());
    let body = serde_json::json!({
        "items": [id],
        "against": against,
        "note": app::query_value(form, "note").unwrap_or(""),
    });
    match crate::accounting::write_off(v.app, &v.caller(), body.to_string().as_bytes()).await {
        Ok(_) => Page::redirect("/console/accounting"),
        Err(e) => failed(v, title, e),
    }
}

pub async fn clearing(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("清算", "Clearing");
    let list = match json(crate::clearing::statements(v.app, &v.caller(), &[]).await) {
        Ok(l) => l,
        Err(e) => return failed(v, title, e),
    };
    let mut body = format!(
        "<p><a href=\"/console/clearing/participants\" id=\"participants-link\">{}</a> · <a href=\"/console/clearing/batches\" id=\"batches-link\">{}</a></p><h2>{}</h2><table id=\"statements\"><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        lang.t("参与者与限额", "Participants and their caps"),
        lang.t("批次", "Batches"),
        lang.t("对账单", "Statements"),
        lang.t("批次", "Batch"),
        lang.t("参与者", "Participant"),
        lang.t("字节", "Bytes"),
    );
    for s in list["statements"].as_array().into_iter().flatten() {
        let (batch, participant) = (text(&s["batch"]), text(&s["participant"]));
        let _ = write!(
            body,
            "<tr><td>{0}</td><td>{1}</td><td>{2}</td><td><a id=\"statement-{0}-{1}\" href=\"/console/clearing/statement?batch={0}&amp;participant={1}\">CSV</a> \
             <a href=\"/console/clearing/statement?batch={0}&amp;participant={1}&amp;format=camt053\">camt.053</a></td></tr>",
            escape(&batch),
            escape(&participant),
            escape(&text(&s["bytes"])),
        );
    }
    body.push_str("</table>");
    Page::html(200, layout(v, title, &body))
}

/// A statement file as the API hands it out, as a download.
pub async fn statement(v: &Visit<'_>) -> Page {
    let title = v.lang.t("清算", "Clearing");
    let batch = app::query_value(&v.query, "batch")
        .unwrap_or("")
        .to_string();
    let mut query = vec![(
        "participant".to_string(),
        app::query_value(&v.query, "participant")
            .unwrap_or("")
            .to_string(),
    )];
    if let Some(f) = app::query_value(&v.query, "format") {
        query.push(("format".to_string(), f.to_string()));
    }
    match crate::clearing::statement(v.app, &v.caller(), Some(&batch), &query).await {
        Ok(reply) => Page::download(reply, &format!("statement-{batch}")),
        Err(e) => failed(v, title, e),
    }
}

pub async fn participants(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("清算参与者", "Clearing participants");
    let list = match json(crate::clearing::participants(v.app).await) {
        Ok(l) => l,
        Err(e) => return failed(v, title, e),
    };
    let mut body = format!(
        "<table id=\"participants\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        lang.t("代码", "Code"),
        lang.t("状态", "Status"),
        lang.t("净借记限额", "Net debit cap"),
        lang.t("已用", "Used"),
    );
    for p in list["participants"].as_array().into_iter().flatten() {
        let number = p["number"].as_u64().unwrap_or(0);
        let cap: i128 = text(&p["net_debit_cap"]).parse().unwrap_or(0);
        // The position holds the cap plus what was received less what was paid, unsettled.
        let position = suanpan_clearing::position_account_id(number as u16);
        let headroom: i128 = json(crate::accounts::get(v.app, &v.caller(), position).await)
            .ok()
            .and_then(|a| text(&a["credit_balance"]).parse().ok())
            .unwrap_or(cap);
        let used = (cap - headroom).max(0);
        let percent = if cap > 0 {
            (used * 100 / cap).min(100)
        } else {
            0
        };
        let status = text(&p["status"]);
        let actions = if v.may(Role::Operator) {
            let (action, label) = if status == "active" {
                ("suspend", lang.t("暂停", "Suspend"))
            } else {
                ("activate", lang.t("恢复", "Activate"))
            };
            format!(
                "<form method=\"post\" action=\"/console/clearing/participants\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{0}\"><input type=\"hidden\" name=\"number\" value=\"{number}\">\
                 <button class=\"action\" name=\"action\" value=\"{action}\" id=\"{action}-{number}\">{label}</button> \
                 <input name=\"cap\" size=\"12\" placeholder=\"{1}\"> <button class=\"action\" name=\"action\" value=\"cap\" id=\"cap-{number}\">{2}</button></form>",
                escape(&v.csrf),
                lang.t("新限额（分）", "new cap (fen)"),
                lang.t("改限额", "Change cap"),
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td>{number}</td><td>{}</td><td id=\"participant-status-{number}\">{}</td><td>{cap}</td>\
             <td><svg width=\"160\" height=\"12\" role=\"img\" id=\"used-{number}\" data-used=\"{used}\"><rect width=\"160\" height=\"12\" fill=\"#eceef1\"/>\
             <rect width=\"{}\" height=\"12\" fill=\"{}\"/></svg> {percent}%</td><td>{actions}</td></tr>",
            escape(&text(&p["code"])),
            escape(&status),
            percent * 160 / 100,
            if percent >= 90 { "#b42318" } else { "#1456f0" },
        );
    }
    body.push_str("</table>");
    Page::html(200, layout(v, title, &body))
}

pub async fn change_participant(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let title = v.lang.t("清算参与者", "Clearing participants");
    let number = app::query_value(form, "number").unwrap_or("").to_string();
    let action = app::query_value(form, "action").unwrap_or("");
    let name = match action {
        "suspend" => "suspend_participant",
        "activate" => "activate_participant",
        _ => "set_net_debit_cap",
    };
    if let Err(e) = allowed(v, Role::Operator, name, &number).await {
        return failed(v, title, e);
    }
    let caller = v.caller();
    let done = match action {
        "suspend" => crate::clearing::set_status(v.app, &caller, Some(&number), true).await,
        "activate" => crate::clearing::set_status(v.app, &caller, Some(&number), false).await,
        "cap" => {
            let cap = app::query_value(form, "cap").unwrap_or("");
            let body = serde_json::json!({ "net_debit_cap": cap }).to_string();
            crate::clearing::set_cap(v.app, &caller, Some(&number), body.as_bytes()).await
        }
        _ => Err(
            ApiError::new(crate::error::ErrorCode::InvalidValue, "no such action").field("action"),
        ),
    };
    match done {
        Ok(_) => Page::redirect("/console/clearing/participants"),
        Err(e) => failed(v, title, e),
    }
}
