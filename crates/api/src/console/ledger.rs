//! The console's ledger pages: an account (its balances, its history page by page, its
//! balance at an instant) and a transfer (a pending one posted or voided by operators). The
//! reads and the commands are the JSON API's own handlers.

use std::fmt::Write;

use super::pages::{layout, notice};
use super::{json, text, Page, Visit};
use crate::app;
use crate::error::{ApiError, ErrorCode};
use crate::html::escape;
use suanpan_access::Role;

fn find_form(action: &str, label: &str, value: &str, button: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\" class=\"card\">\
         <label for=\"id\">{}</label> <input id=\"id\" name=\"id\" value=\"{}\"> \
         <button class=\"action\" type=\"submit\">{}</button></form>",
        escape(label),
        escape(value),
        escape(button)
    )
}

pub async fn account(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("账户", "Accounts");
    let id = app::query_value(&v.query, "id").unwrap_or("").to_string();
    let mut body = find_form(
        "/console/accounts",
        lang.t("账户编号", "Account id"),
        &id,
        lang.t("查找", "Find"),
    );
    let owner = app::query_value(&v.query, "owner")
        .unwrap_or("")
        .to_string();
    let subject = app::query_value(&v.query, "subject")
        .unwrap_or("")
        .to_string();
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/console/accounts\" class=\"card\" style=\"margin-top:.5rem\">\
         <label>{} <input name=\"owner\" value=\"{}\" size=\"8\"></label> {} \
         <label>{} <input name=\"subject\" value=\"{}\" size=\"10\"></label> \
         <button class=\"action\" type=\"submit\" id=\"find-accounts\">{}</button></form>",
        lang.t("所有者编号", "Owner number"),
        escape(&owner),
        lang.t("或", "or"),
        lang.t("科目", "Subject"),
        escape(&subject),
        lang.t("查找", "Find"),
    );
    if id.is_empty() && (!owner.is_empty() || !subject.is_empty()) {
        let after: u128 = app::query_value(&v.query, "after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let found = match owner.parse::<u64>() {
            Ok(o) => v.app.account_index.of_owner(o, after),
            Err(_) => v.app.account_index.of_subject(&subject, after),
        };
        body.push_str("<table id=\"accounts\">");
        for a in &found {
            let _ = write!(
                body,
                "<tr><td><a href=\"/console/accounts?id={a}\">{a}</a></td></tr>"
            );
        }
        body.push_str("</table>");
        if found.len() == super::index::FOUND_MAX {
            let last = found.last().copied().unwrap_or(0);
            let _ = write!(
                body,
                "<p><a id=\"next-accounts\" href=\"/console/accounts?owner={}&amp;subject={}&amp;after={last}\">{}</a></p>",
                escape(&owner),
                escape(&subject),
                lang.t("下一页", "Next page")
            );
        }
        return Page::html(200, layout(v, title, &body));
    }
    if id.is_empty() {
        return Page::html(200, layout(v, title, &body));
    }
    let Some(parsed) = crate::wire::parse_id(&id) else {
        body.push_str(&notice(false, lang.t("编号无效。", "Not an id.")));
        return Page::html(400, layout(v, title, &body));
    };
    let caller = v.caller();
    let a = match json(crate::accounts::get(v.app, &caller, parsed).await) {
        Ok(a) => a,
        Err(e) => {
            body.push_str(&notice(false, &format!("{}: {}", e.code, e.message)));
            return Page::html(e.status, layout(v, title, &body));
        }
    };
    body.push_str("<table id=\"account\">");
    for key in [
        "id",
        "currency",
        "subject_code",
        "owner",
        "tier",
        "status",
        "credit_balance",
        "debits_posted",
        "credits_posted",
        "debits_pending",
        "credits_pending",
        "created_at",
    ] {
        let _ = write!(
            body,
            "<tr><th>{key}</th><td id=\"account-{key}\">{}</td></tr>",
            escape(&text(&a[key]))
        );
    }
    // What a Class II or III account has used of its limits today (and this year).
    let usage = v
        .app
        .read(move |l| {
            let today = l.accounting_date();
            l.account_by_id(parsed)
                .map(|acc| (acc.tier_usage.on(today), l.limits()))
        })
        .await
        .ok()
        .flatten();
    if let Some((u, limits)) = usage {
        let tier = text(&a["tier"]);
        let (out_day, in_day) = match tier.as_str() {
            "class_ii" => (
                limits.class_ii_outflow_daily_fen,
                Some(limits.class_ii_inflow_daily_fen),
            ),
            "class_iii" => (limits.class_iii_outflow_daily_fen, None),
            _ => (0, None),
        };
        if out_day > 0 {
            let inflow = in_day
                .map(|cap| {
                    format!(
                        "; {} {} / {cap}",
                        lang.t("今日转入", "inflow today"),
                        u.inflow_day_fen
                    )
                })
                .unwrap_or_default();
            let cap = if tier == "class_iii" {
                format!(
                    "; {} {}",
                    lang.t("余额上限", "balance cap"),
                    limits.class_iii_balance_max_fen
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<p id=\"limits-used\">{}: {} {} / {out_day}{inflow}{cap}</p>",
                lang.t("今日已用限额（分）", "Limits used today (fen)"),
                lang.t("今日转出", "outflow today"),
                u.outflow_day_fen,
            );
        }
    }
    let flags: Vec<String> = a["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let _ = write!(
        body,
        "<tr><th>flags</th><td>{}</td></tr></table>",
        escape(&flags.join(", "))
    );
    // The balance at an instant, from the history index.
    if let Some(at) = app::query_value(&v.query, "at").filter(|s| !s.is_empty()) {
        let q = vec![("at".to_string(), at.to_string())];
        match json(crate::accounts::balance_at(v.app, &caller, parsed, &q).await) {
            Ok(b) => {
                let _ = write!(
                    body,
                    "<p id=\"balance-at\">{} {}: {}</p>",
                    lang.t("余额于", "Balance at"),
                    escape(at),
                    escape(&text(&b["credit_balance"]))
                );
            }
            Err(e) => body.push_str(&notice(false, &format!("{}: {}", e.code, e.message))),
        }
    }
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/console/accounts\" style=\"margin:.75rem 0\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
         <label>{} <input name=\"at\" placeholder=\"2026-12-06T16:00:00Z\"></label> <button class=\"action\" type=\"submit\">{}</button></form>",
        escape(&id),
        lang.t("某时刻余额", "Balance at"),
        lang.t("查询", "Show"),
    );
    // The history, a page at a time.
    let mut q = vec![("limit".to_string(), "50".to_string())];
    if let Some(c) = app::query_value(&v.query, "cursor") {
        q.push(("cursor".to_string(), c.to_string()));
    }
    match json(crate::accounts::transfers(v.app, &caller, parsed, &q).await) {
        Ok(page) => {
            body.push_str("<table id=\"history\">");
            for t in page["transfers"].as_array().into_iter().flatten() {
                let tid = text(&t["id"]);
                let _ = write!(
                    body,
                    "<tr><td><a href=\"/console/transfers?id={0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
                    escape(&tid),
                    escape(&text(&t["timestamp"])),
                    escape(&text(&t["debit_account_id"])),
                    escape(&text(&t["credit_account_id"])),
                    escape(&text(&t["amount"])),
                );
            }
            body.push_str("</table>");
            if let Some(next) = page["next_cursor"].as_str() {
                let _ = write!(body, "<p><a id=\"next-page\" href=\"/console/accounts?id={}&amp;cursor={}\">{}</a></p>", escape(&id), escape(next), lang.t("下一页", "Next page"));
            }
        }
        Err(e) => body.push_str(&notice(false, &format!("{}: {}", e.code, e.message))),
    }
    Page::html(200, layout(v, title, &body))
}

pub async fn transfer(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("转账", "Transfers");
    let id = app::query_value(&v.query, "id").unwrap_or("").to_string();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/transfers\" class=\"card\">\
         <label for=\"id\">{}</label> <input id=\"id\" name=\"id\" value=\"{}\"> \
         <button class=\"action\" type=\"submit\">{}</button></form>",
        lang.t("转账编号", "Transfer id"),
        escape(&id),
        lang.t("查找", "Find"),
    );
    let _ = write!(
        body,
        "<p><a href=\"/console/transfers/pending\" id=\"pending-link\">{}</a></p>",
        lang.t("未决转账", "Open pending transfers")
    );
    if id.is_empty() {
        return Page::html(200, layout(v, title, &body));
    }
    let Some(parsed) = crate::wire::parse_id(&id) else {
        body.push_str(&notice(false, lang.t("编号无效。", "Not an id.")));
        return Page::html(400, layout(v, title, &body));
    };
    match json(crate::transfers::get(v.app, &v.caller(), parsed).await) {
        Ok(t) => {
            body.push_str("<table id=\"transfer\">");
            for key in [
                "id",
                "debit_account_id",
                "credit_account_id",
                "amount",
                "currency",
                "code",
                "kind",
                "reference",
                "timestamp",
                "accounting_date",
            ] {
                let _ = write!(
                    body,
                    "<tr><th>{key}</th><td id=\"transfer-{key}\">{}</td></tr>",
                    escape(&text(&t[key]))
                );
            }
            body.push_str("</table>");
            let pending = text(&t["kind"]) == "pending";
            if pending && v.may(Role::Operator) {
                let _ = write!(
                    body,
                    "<form method=\"post\" action=\"/console/transfers/resolve\" style=\"margin-top:.75rem\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
                     <button class=\"action\" name=\"action\" value=\"post\" id=\"post-pending\">{}</button> \
                     <button class=\"action\" name=\"action\" value=\"void\" id=\"void-pending\">{}</button></form>",
                    escape(&v.csrf),
                    escape(&id),
                    lang.t("入账", "Post"),
                    lang.t("撤销", "Void"),
                );
            }
            Page::html(200, layout(v, title, &body))
        }
        Err(e) => {
            body.push_str(&notice(false, &format!("{}: {}", e.code, e.message)));
            Page::html(e.status, layout(v, title, &body))
        }
    }
}

/// Posts or voids a pending transfer, under a new transfer id of the console's own.
pub async fn resolve(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let title = v.lang.t("转账", "Transfers");
    let id = app::query_value(form, "id").unwrap_or("").to_string();
    let post = app::query_value(form, "action") == Some("post");
    let action = if post { "post_pending" } else { "void_pending" };
    let caller = v.caller();
    if let Err(e) = v.app.authorize(&caller, Role::Operator, action, &id).await {
        return Page::html(
            e.status,
            layout(
                v,
                title,
                &notice(false, &format!("{}: {}", e.code, e.message)),
            ),
        );
    }
    let Some(pending) = crate::wire::parse_id(&id) else {
        let e = ApiError::new(ErrorCode::InvalidId, "not an id");
        return Page::html(400, layout(v, title, &notice(false, &e.message)));
    };
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return Page::html(500, layout(v, title, &notice(false, "no randomness")));
    }
    // A fresh id for the post or void itself (the top bit clear keeps it a valid id).
    let new_id = (u128::from_le_bytes(bytes) >> 1).max(1);
    match crate::transfers::resolve(v.app, &caller, pending, new_id, None, post).await {
        Ok(_) => Page::redirect(&format!("/console/transfers?id={new_id}")),
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

/// The pending transfers still open, a page at a time (the journal's index of open ones).
pub async fn pending(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let title = lang.t("未决转账", "Open pending transfers");
    let after = app::query_value(&v.query, "after")
        .unwrap_or("")
        .to_string();
    let journal = v.app.books.journal.clone();
    let from = after.clone();
    let found = v
        .app
        .blocking(move || {
            suanpan_journal::open_pending(&journal, &from, suanpan_journal::OPEN_PENDING_PAGE_MAX)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
        })
        .await;
    let rows = match found {
        Ok(rows) => rows,
        Err(e) => return Page::html(500, layout(v, title, &notice(false, &e.message))),
    };
    let mut body = format!(
        "<table id=\"pending\"><tr><th>{}</th><th>{}</th></tr>",
        lang.t("转账编号", "Transfer id"),
        lang.t("到期", "Expires"),
    );
    for p in &rows {
        let _ = write!(
            body,
            "<tr><td><a href=\"/console/transfers?id={0}\">{0}</a></td><td>{1}</td></tr>",
            escape(&p.id),
            escape(
                &p.expires_at_ns
                    .map(crate::time::format_ns)
                    .unwrap_or_else(|| "-".into())
            ),
        );
    }
    body.push_str("</table>");
    if rows.len() as u32 == suanpan_journal::OPEN_PENDING_PAGE_MAX {
        if let Some(last) = rows.last() {
            let _ = write!(
                body,
                "<p><a id=\"next-pending\" href=\"/console/transfers/pending?after={}\">{}</a></p>",
                escape(&last.id),
                lang.t("下一页", "Next page")
            );
        }
    }
    Page::html(200, layout(v, title, &body))
}
