//! The console's pages. Each reads through the rooms' handles, as the API does, and shows
//! only what the operator's role allows; every value is escaped.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::sampler::Point;
use super::{Lang, Page, Visit, SESSION_COOKIE};
use crate::app::{self, App};
use crate::html::escape;
use crate::time::format_ns as format_rfc3339;
use suanpan_access::Role;

const STYLE: &str = "
  body { font-family: -apple-system, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif;
         margin: 0; background: #f4f5f7; color: #1f2329; }
  header { background: #1f2329; color: #fff; display: flex; align-items: center; gap: 1.25rem;
           padding: .6rem 1.25rem; flex-wrap: wrap; }
  header a { color: #dfe3ea; text-decoration: none; }
  header .who { margin-left: auto; font-size: .85rem; color: #aab; }
  header form { margin: 0; }
  header button { background: none; border: 1px solid #667; color: #dfe3ea; border-radius: 6px; padding: .2rem .6rem; }
  main { padding: 1.25rem; max-width: 72rem; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .75rem; }
  .card { background: #fff; border-radius: 10px; padding: .8rem 1rem; }
  .card .label { color: #646a73; font-size: .8rem; }
  .card .value { font-size: 1.35rem; margin-top: .2rem; }
  table { border-collapse: collapse; background: #fff; width: 100%; font-size: .9rem; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #eceef1; }
  th { color: #646a73; font-weight: normal; }
  .chart { background: #fff; border-radius: 10px; padding: .8rem 1rem; margin-top: .75rem; }
  .ok { background: #e8f7ee; color: #1a7f37; padding: .6rem .9rem; border-radius: 8px; }
  .error { background: #fdecec; color: #b42318; padding: .6rem .9rem; border-radius: 8px; }
  form.inline { display: inline; }
  input { padding: .35rem .5rem; border: 1px solid #c9cdd4; border-radius: 6px; }
  button.action { background: #1456f0; color: #fff; border: 0; border-radius: 6px; padding: .4rem .8rem; }
";

fn document(lang: Lang, title: &str, header: &str, body: &str, refresh_s: Option<u32>) -> String {
    let refresh = refresh_s
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{} · Suanpan</title><style>{STYLE}</style></head><body>{header}<main>{body}</main></body></html>",
        lang.t("zh-CN", "en"),
        escape(title)
    )
}

pub fn notice(ok: bool, text: &str) -> String {
    format!(
        "<p class=\"{}\" role=\"status\" id=\"notice\">{}</p>",
        if ok { "ok" } else { "error" },
        escape(text)
    )
}

/// A page inside the console's frame: the navigation (by role), who is logged in, logout.
pub fn layout(v: &Visit, title: &str, body: &str) -> String {
    layout_refreshing(v, title, body, None)
}

pub(super) fn layout_refreshing(
    v: &Visit,
    title: &str,
    body: &str,
    refresh_s: Option<u32>,
) -> String {
    let lang = v.lang;
    let mut nav = format!(
        "<a href=\"/\">{}</a><a href=\"/console/accounts\">{}</a><a href=\"/console/transfers\">{}</a><a href=\"/console/accounting\">{}</a>\
         <a href=\"/console/clearing\">{}</a><a href=\"/console/orders\">{}</a><a href=\"/console/recon\">{}</a><a href=\"/console/payouts\">{}</a>",
        lang.t("概览", "Overview"),
        lang.t("账户", "Accounts"),
        lang.t("转账", "Transfers"),
        lang.t("会计", "Accounting"),
        lang.t("清算", "Clearing"),
        lang.t("支付订单", "Orders"),
        lang.t("对账", "Reconciliation"),
        lang.t("代付", "Payouts"),
    );
    if v.may(Role::Admin) {
        let _ = write!(
            nav,
            "<a href=\"/console/consents\">{}</a><a href=\"/console/audit\">{}</a>",
            lang.t("授权", "Consents"),
            lang.t("审计日志", "Audit log")
        );
    }
    let header = format!(
        "<header><strong>算盘 Suanpan</strong>{nav}\
         <span class=\"who\" id=\"who\">{} ({})</span>\
         <a href=\"?lang=zh\">中文</a><a href=\"?lang=en\">English</a>\
         <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" id=\"logout\">{}</button></form></header>",
        escape(&v.operator.name),
        v.operator.role.as_str(),
        escape(&v.csrf),
        lang.t("退出", "Log out"),
    );
    document(
        lang,
        title,
        &header,
        &format!("<h1>{}</h1>{body}", escape(title)),
        refresh_s,
    )
}

pub fn login_form(lang: Lang, message: Option<&str>) -> String {
    let body = format!(
        "<h1>{}</h1>{}<form method=\"post\" action=\"/console/login\" class=\"card\">\
         <label for=\"token\">{}</label><br>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" size=\"60\" required> \
         <button class=\"action\" type=\"submit\" id=\"login\">{}</button></form>",
        lang.t("运营控制台登录", "Operations console"),
        message.map(|m| notice(false, m)).unwrap_or_default(),
        lang.t("操作员令牌", "Operator token"),
        lang.t("登录", "Log in"),
    );
    document(lang, lang.t("登录", "Log in"), "", &body, None)
}

pub async fn login(app: &App, form: &[(String, String)], lang: Lang) -> Page {
    let token = app::query_value(form, "token")
        .unwrap_or("")
        .trim()
        .to_string();
    let operator = match app.access.operator(&token) {
        Ok(Some(op)) => op,
        _ => {
            return Page::html(
                401,
                login_form(lang, Some(lang.t("令牌无效。", "That token is not valid."))),
            )
        }
    };
    let Some((id, _csrf)) = app.sessions.open(&token) else {
        return Page::html(
            503,
            login_form(
                lang,
                Some(lang.t(
                    "会话已满，请稍后再试。",
                    "Too many sessions; try again shortly.",
                )),
            ),
        );
    };
    let _ = app
        .audit(
            &operator,
            "console_login",
            operator.name.clone(),
            "ok".into(),
        )
        .await;
    let mut page = Page::redirect("/");
    page.cookies.push(format!("{SESSION_COOKIE}={id}"));
    page
}

fn card(label: &str, id: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\" id=\"{id}\">{}</div></div>",
        escape(label),
        escape(value)
    )
}

/// An SVG line of `values` over the last 15 minutes, scaled to its own maximum.
fn chart(
    title: &str,
    id: &str,
    points: &[Point],
    value: impl Fn(&Point) -> f64,
    unit: &str,
) -> String {
    let (w, h) = (720.0, 120.0);
    let max = points.iter().map(&value).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { (h - 10.0) / max } else { 0.0 };
    let mut line = String::new();
    for p in points {
        let x = w - (p.seconds_ago as f64 / 900.0 * w);
        let y = h - 5.0 - value(p) * scale;
        let _ = write!(line, "{x:.1},{y:.1} ");
    }
    let last = points.last().map(&value).unwrap_or(0.0);
    format!(
        "<div class=\"chart\"><div class=\"label\">{} — {:.0} {unit} ({:.0} max, 15 min)</div>\
         <svg id=\"{id}\" viewBox=\"0 0 {w} {h}\" width=\"100%\" height=\"{h}\" role=\"img\">\
         <polyline fill=\"none\" stroke=\"#1456f0\" stroke-width=\"2\" points=\"{}\"/></svg></div>",
        escape(title),
        last,
        max,
        line.trim_end()
    )
}

pub async fn overview(v: &Visit<'_>) -> Page {
    let (lang, app) = (v.lang, v.app);
    let points = app.samples.points();
    let engine = app.engine.metrics();
    let (seq, queue, journal) =
        app.samples
            .latest()
            .unwrap_or((engine.committed_seq.load(Ordering::Relaxed), 0, None));
    let last = points.last();
    let role = if app.engine.is_leader() {
        lang.t("主节点", "leader")
    } else {
        lang.t("备节点", "standby")
    };
    let mut cards = String::new();
    cards.push_str(&card(
        lang.t("转账/秒", "Transfers/s"),
        "transfers-per-s",
        &format!("{:.0}", last.map_or(0.0, |p| p.commands_per_s)),
    ));
    cards.push_str(&card(
        lang.t("请求延迟 p50 / p99", "Request latency p50 / p99"),
        "latency",
        &last.map_or("-".into(), |p| {
            format!(
                "{:.1} / {:.1} ms",
                p.p50_us as f64 / 1000.0,
                p.p99_us as f64 / 1000.0
            )
        }),
    ));
    cards.push_str(&card(
        lang.t("队列深度", "Queue depth"),
        "queue-depth",
        &queue.to_string(),
    ));
    cards.push_str(&card(
        lang.t("日志大小", "Journal size"),
        "journal-size",
        &journal.map_or(lang.t("在 PostgreSQL", "in PostgreSQL").to_string(), |b| {
            format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
        }),
    ));
    cards.push_str(&card(lang.t("节点角色", "Node"), "node-role", role));
    let date = app
        .read(|l| l.accounting_date().to_string())
        .await
        .unwrap_or_default();
    cards.push_str(&card(
        lang.t("会计日期", "Accounting date"),
        "accounting-date",
        &date,
    ));
    cards.push_str(&card(
        lang.t("最后提交的批次", "Last committed batch"),
        "last-batch",
        &seq.to_string(),
    ));
    let body = format!(
        "<div class=\"cards\">{cards}</div>{}{}{}",
        chart(
            lang.t("转账/秒", "Transfers/s"),
            "chart-transfers",
            &points,
            |p| p.commands_per_s,
            "/s"
        ),
        chart(
            lang.t("请求/秒", "Requests/s"),
            "chart-requests",
            &points,
            |p| p.requests_per_s,
            "/s"
        ),
        chart(
            lang.t("请求延迟 p99", "Request latency p99"),
            "chart-p99",
            &points,
            |p| p.p99_us as f64 / 1000.0,
            "ms"
        ),
    );
    Page::html(
        200,
        layout_refreshing(v, lang.t("概览", "Overview"), &body, Some(5)),
    )
}

/// A page the role does not allow: refused, and the attempt audited.
async fn refuse(v: &Visit<'_>, action: &'static str, role: Role) -> Option<Page> {
    let caller = v.caller();
    match v.app.authorize(&caller, role, action, "console").await {
        Ok(_) => None,
        Err(_) => Some(Page::html(
            403,
            layout(
                v,
                v.lang.t("无权访问", "Not allowed"),
                &notice(
                    false,
                    v.lang.t(
                        "您的角色不能查看或执行此操作。",
                        "Your role may not see or do this.",
                    ),
                ),
            ),
        )),
    }
}

pub async fn audit(v: &Visit<'_>) -> Page {
    if let Some(refused) = refuse(v, "read_audit_log", Role::Admin).await {
        return refused;
    }
    let lang = v.lang;
    let access = v.app.access.clone();
    let rows = v
        .app
        .blocking(move || {
            access
                .audit_log_newest(500)
                .map_err(|e| crate::error::ApiError::new(crate::error::ErrorCode::Internal, e))
        })
        .await
        .unwrap_or_default();
    let mut table = format!(
        "<table id=\"audit\"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.t("时间", "Time"),
        lang.t("操作员", "Operator"),
        lang.t("操作", "Action"),
        lang.t("对象", "Target"),
        lang.t("结果", "Outcome"),
    );
    // Newest first.
    for r in &rows {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.seq,
            escape(&format_rfc3339(r.time_ns)),
            escape(&r.operator),
            escape(&r.role),
            escape(&r.action),
            escape(&r.target),
            escape(&r.outcome)
        );
    }
    table.push_str("</table>");
    Page::html(200, layout(v, lang.t("审计日志", "Audit log"), &table))
}

pub async fn payout(v: &Visit<'_>) -> Page {
    let lang = v.lang;
    let form = format!(
        "<form method=\"get\" action=\"/console/payouts\" class=\"card\">\
         <label for=\"id\">{}</label> <input id=\"id\" name=\"id\" value=\"{}\"> \
         <button class=\"action\" type=\"submit\">{}</button></form>",
        lang.t("代付编号", "Payout id"),
        escape(app::query_value(&v.query, "id").unwrap_or("")),
        lang.t("查找", "Find"),
    );
    let Some(id) = app::query_value(&v.query, "id").filter(|s| !s.is_empty()) else {
        return Page::html(200, layout(v, lang.t("代付", "Payouts"), &form));
    };
    let found = crate::wire::parse_id(id).and_then(|id| {
        let room = v.app.payouts.as_ref()?;
        Some((
            room.get(id).ok().flatten()?,
            room.events(id).unwrap_or_default(),
        ))
    });
    let Some((p, events)) = found else {
        let body = format!(
            "{form}{}",
            notice(false, lang.t("没有这笔代付。", "No such payout."))
        );
        return Page::html(404, layout(v, lang.t("代付", "Payouts"), &body));
    };
    let mut body = form;
    let _ = write!(
        body,
        "<div class=\"cards\" style=\"margin-top:.75rem\">{}{}{}{}</div>",
        card(lang.t("状态", "State"), "payout-state", p.state.as_str()),
        card(
            lang.t("渠道", "Channel"),
            "payout-channel",
            p.channel.map_or("-", |c| c.code())
        ),
        card(
            lang.t("金额（分）", "Amount (fen)"),
            "payout-amount",
            &p.new.amount_fen.to_string()
        ),
        card(
            lang.t("规则版本", "Rules version"),
            "payout-rules",
            &p.rule_version.to_string()
        ),
    );
    let _ = write!(
        body,
        "<p id=\"route-summary\">{}</p>",
        escape(&p.route_summary)
    );
    body.push_str("<table id=\"attempts\">");
    for a in &p.attempts {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            a.number,
            a.channel.code(),
            escape(&a.instruction_id),
            a.state.as_str(),
            escape(a.status_code.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</table><table id=\"events\" style=\"margin-top:.75rem\">");
    for e in &events {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            escape(&format_rfc3339(e.at_ns)),
            escape(e.from.as_deref().unwrap_or("")),
            escape(&e.to),
            escape(&e.cause)
        );
    }
    body.push_str("</table>");
    if v.may(Role::Operator) && p.state == suanpan_payouts::PayoutState::Settled {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/console/payouts/return\" style=\"margin-top:.75rem\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
             <button class=\"action\" type=\"submit\" id=\"record-return\">{}</button></form>",
            escape(&v.csrf),
            p.new.id,
            lang.t("登记退汇", "Record a return")
        );
    }
    Page::html(200, layout(v, lang.t("代付", "Payouts"), &body))
}

pub async fn payout_return(v: &Visit<'_>, form: &[(String, String)]) -> Page {
    let id_text = app::query_value(form, "id").unwrap_or("").to_string();
    if let Some(refused) = refuse(v, "record_payout_return", Role::Operator).await {
        return refused;
    }
    let (Some(id), Some(room)) = (crate::wire::parse_id(&id_text), v.app.payouts.as_ref()) else {
        return Page::html(400, layout(v, "400", &notice(false, "no such payout")));
    };
    let op = v.operator.clone();
    // No action without its audit entry first.
    if let Err(e) = v
        .app
        .audit(
            &op,
            "record_payout_return",
            id.to_string(),
            "requested".into(),
        )
        .await
    {
        return Page::html(500, layout(v, "500", &notice(false, &e.message)));
    }
    let result = room.record_return(id, "recorded in the console").await;
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code().to_string(),
    };
    let _ = v
        .app
        .audit(&op, "record_payout_return", id.to_string(), outcome)
        .await;
    Page::redirect(&format!("/console/payouts?id={id}"))
}

pub async fn consents(v: &Visit<'_>) -> Page {
    if let Some(refused) = refuse(v, "read_consent_record", Role::Admin).await {
        return refused;
    }
    let lang = v.lang;
    let bank = app::query_value(&v.query, "bank").unwrap_or("").to_string();
    let customer = app::query_value(&v.query, "customer")
        .unwrap_or("")
        .to_string();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/consents\" class=\"card\">\
         <label>{} <input name=\"bank\" value=\"{}\"></label> \
         <label>{} <input name=\"customer\" value=\"{}\"></label> \
         <button class=\"action\" type=\"submit\">{}</button></form>",
        lang.t("银行代码", "Bank code"),
        escape(&bank),
        lang.t("客户", "Customer"),
        escape(&customer),
        lang.t("查找", "Find"),
    );
    if bank.is_empty() || customer.is_empty() {
        return Page::html(200, layout(v, lang.t("授权", "Consents"), &body));
    }
    let access = v.app.access.clone();
    let code = bank.clone();
    let owner = v
        .app
        .blocking(move || {
            access
                .participant(&code)
                .map_err(|e| crate::error::ApiError::new(crate::error::ErrorCode::Internal, e))
        })
        .await
        .ok()
        .flatten()
        .map(|p| p.owner);
    let Some(owner) = owner else {
        body.push_str(&notice(false, lang.t("没有这家银行。", "No such bank.")));
        return Page::html(404, layout(v, lang.t("授权", "Consents"), &body));
    };
    let now = crate::consents::now_ns();
    body.push_str("<table id=\"consents\">");
    for c in v.app.consents.for_customer(owner, &customer, now) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.id),
            escape(&c.request.third_party.code),
            escape(&c.request.access.describe()),
            c.request.valid_until,
            c.state.as_str()
        );
    }
    body.push_str("</table>");
    Page::html(200, layout(v, lang.t("授权", "Consents"), &body))
}
