//! The consent page, `/consent/{id}`: where a customer sees who asks to read which accounts,
//! which data, until when, and answers with the one-time code the bank delivered. Served
//! before authentication (the customer has no key); the code is the customer's proof, and
//! the consent id (96 random bits) keeps the page from being found by guessing.
//!
//! Server-rendered HTML, no script. Simplified Chinese unless the browser prefers English.
//! Everything shown is escaped; the page may not be framed (clickjacking) or cached.

use bytes::Bytes;
use hyper::http::request::Parts;
use suanpan_consent::{Action, Consent, ConsentError, ConsentState};

use crate::app::{self, App, Reply};
use crate::consents::{consent_error, now_ns, ConsentRoute};
use crate::error::ApiError;
use crate::html::escape;

const PAGE: &str = include_str!("consent_page.html");

use crate::html::PageLang as Lang;

/// Chinese first; English when the browser's first choice is English.
fn lang(parts: &Parts) -> Lang {
    Lang::of(&parts.headers)
}

fn t(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    lang.t(zh, en)
}

/// Answers the page's two routes; `None` for every other route.
pub async fn public(
    app: &App,
    route: ConsentRoute,
    param: Option<&str>,
    parts: &Parts,
    bytes: &Bytes,
) -> Option<Result<Reply, ApiError>> {
    let lang = lang(parts);
    let id = param.unwrap_or("");
    match route {
        ConsentRoute::Page => Some(Ok(show(app, id, lang, None).await)),
        ConsentRoute::PageAction => Some(Ok(answer(app, id, lang, bytes).await)),
        _ => None,
    }
}

async fn answer(app: &App, id: &str, lang: Lang, bytes: &Bytes) -> Reply {
    let form = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| app::query_pairs(text).ok())
        .unwrap_or_default();
    let code = app::query_value(&form, "code")
        .unwrap_or("")
        .trim()
        .to_string();
    let action = match app::query_value(&form, "action") {
        Some("authorise") => Action::Authorise,
        Some("reject") => Action::Reject,
        Some("revoke") => Action::Revoke,
        _ => {
            let e = ConsentError::Invalid("action", "authorise, reject or revoke".into());
            return show(app, id, lang, Some(Err(e))).await;
        }
    };
    let owners = |account: u128| app.owners.get(account);
    let done = app
        .consents
        .page_act(id, &code, action, owners, now_ns())
        .await
        .map(|_| action);
    show(app, id, lang, Some(done)).await
}

fn outcome_text(lang: Lang, outcome: &Result<Action, ConsentError>) -> (bool, String) {
    match outcome {
        Ok(Action::Authorise) => (true, t(lang, "已授权。", "Authorised.").into()),
        Ok(Action::Reject) => (true, t(lang, "已拒绝。", "Rejected.").into()),
        Ok(_) => (true, t(lang, "已撤销授权。", "Consent revoked.").into()),
        Err(ConsentError::CodeInvalid { attempts_left }) => (
            false,
            match lang {
                Lang::Zh => format!("验证码错误，还可尝试 {attempts_left} 次。"),
                Lang::En => format!("Wrong code; {attempts_left} tries left."),
            },
        ),
        Err(ConsentError::CodeAttemptsExceeded) => (
            false,
            t(
                lang,
                "验证码错误次数过多，请向银行重新获取验证码。",
                "Too many wrong codes; ask your bank for a new one.",
            )
            .into(),
        ),
        Err(ConsentError::CodeExpired) => (
            false,
            t(
                lang,
                "验证码已过期，请向银行重新获取。",
                "The code has expired; ask your bank for a new one.",
            )
            .into(),
        ),
        Err(ConsentError::CodeNotIssued) => (
            false,
            t(
                lang,
                "请先向银行获取验证码。",
                "Ask your bank for a code first.",
            )
            .into(),
        ),
        Err(e) => (false, e.to_string()),
    }
}

fn state_text(lang: Lang, state: ConsentState) -> &'static str {
    match state {
        ConsentState::Requested => t(lang, "待您授权", "awaiting your answer"),
        ConsentState::Authorised => t(lang, "已授权", "authorised"),
        ConsentState::Rejected => t(lang, "已拒绝", "rejected"),
        ConsentState::RevokedByCustomer => t(lang, "已撤销", "revoked"),
        ConsentState::Expired => t(lang, "已过期", "expired"),
        ConsentState::TerminatedByThirdParty => t(lang, "第三方已终止", "ended by the third party"),
        ConsentState::Replaced => t(lang, "已被新的授权取代", "replaced by a newer consent"),
    }
}

async fn participant_name(app: &App, code: &str) -> String {
    let access = app.access.clone();
    let code_owned = code.to_string();
    let found = app
        .blocking(move || Ok(access.participant(&code_owned).ok().flatten()))
        .await
        .ok()
        .flatten();
    found.map(|p| p.name).unwrap_or_else(|| code.to_string())
}

fn html(status: u16, body: String) -> Reply {
    Reply {
        status,
        body: Bytes::from(body),
        content_type: "text/html; charset=utf-8",
        headers: vec![
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'".into(),
            ),
            ("x-frame-options", "DENY".into()),
            ("cache-control", "no-store".into()),
            ("referrer-policy", "no-referrer".into()),
        ],
    }
}

async fn show(
    app: &App,
    id: &str,
    lang: Lang,
    outcome: Option<Result<Action, ConsentError>>,
) -> Reply {
    let Ok(consent) = app.consents.get(id, None, now_ns()) else {
        let body = render(
            lang,
            t(lang, "未找到该授权", "No such consent"),
            &format!(
                "<p class=\"note\">{}</p>",
                t(
                    lang,
                    "链接无效或已失效，请回到发起授权的应用重试。",
                    "The link is wrong or no longer valid; go back to the app that asked and try again."
                )
            ),
        );
        return html(404, body);
    };
    let status = match &outcome {
        Some(Err(e)) => consent_error(e.clone()).status,
        _ => 200,
    };
    let message = outcome.map(|o| outcome_text(lang, &o));
    let body = details(app, &consent, lang, message).await;
    html(status, body)
}

async fn details(app: &App, c: &Consent, lang: Lang, message: Option<(bool, String)>) -> String {
    let r = &c.request;
    let third_party = participant_name(app, &r.third_party.code).await;
    let bank = participant_name(app, &r.bank.code).await;
    let mut body = String::new();
    if let Some((ok, text)) = message {
        let class = if ok { "ok" } else { "error" };
        body.push_str(&format!(
            "<p class=\"{class}\" role=\"status\" id=\"outcome\">{}</p>",
            escape(&text)
        ));
    }
    let data = match (r.access.balances, r.access.transactions) {
        (true, None) => t(lang, "账户余额", "account balances").to_string(),
        (b, Some((from, to))) => {
            let tx = match lang {
                Lang::Zh => format!("{from} 至 {to} 的交易明细"),
                Lang::En => format!("transactions from {from} to {to}"),
            };
            if b {
                format!(
                    "{}{}{tx}",
                    t(lang, "账户余额", "account balances"),
                    t(lang, "、", ", ")
                )
            } else {
                tx
            }
        }
        (false, None) => String::new(),
    };
    let accounts = r
        .accounts
        .iter()
        .map(|a| {
            let text = a.to_string();
            let tail = &text[text.len().saturating_sub(4)..];
            format!("<li>{} {}</li>", t(lang, "尾号", "ending"), escape(tail))
        })
        .collect::<String>();
    let kind = if r.recurring {
        match lang {
            Lang::Zh => format!(
                "可多次读取，每个账户每天最多 {} 次（您不在场时）",
                r.frequency_per_day
            ),
            Lang::En => format!(
                "repeated reads, at most {} a day per account while you are away",
                r.frequency_per_day
            ),
        }
    } else {
        t(
            lang,
            "仅授权当天一次性读取",
            "one-off, on the day you authorise",
        )
        .into()
    };
    body.push_str(&format!(
        "<dl>\
         <dt>{}</dt><dd id=\"third-party\">{}</dd>\
         <dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd><ul id=\"accounts\">{accounts}</ul></dd>\
         <dt>{}</dt><dd id=\"data\">{}</dd>\
         <dt>{}</dt><dd id=\"valid-until\">{}</dd>\
         <dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd id=\"state\" data-state=\"{}\">{}</dd>\
         </dl>",
        t(lang, "申请方", "Asked by"),
        escape(&third_party),
        t(lang, "开户银行", "Your bank"),
        escape(&bank),
        t(lang, "账户", "Accounts"),
        t(lang, "读取内容", "Data"),
        escape(&data),
        t(lang, "有效期至", "Valid until"),
        r.valid_until,
        t(lang, "读取方式", "Reads"),
        escape(&kind),
        t(lang, "状态", "State"),
        c.state.as_str(),
        state_text(lang, c.state),
    ));
    let buttons = match c.state {
        ConsentState::Requested => format!(
            "<button type=\"submit\" name=\"action\" value=\"authorise\" id=\"authorise\">{}</button>\
             <button type=\"submit\" name=\"action\" value=\"reject\" id=\"reject\" class=\"secondary\">{}</button>",
            t(lang, "同意授权", "Authorise"),
            t(lang, "拒绝", "Reject"),
        ),
        ConsentState::Authorised => format!(
            "<button type=\"submit\" name=\"action\" value=\"revoke\" id=\"revoke\" class=\"secondary\">{}</button>",
            t(lang, "撤销授权", "Revoke")
        ),
        _ => String::new(),
    };
    if !buttons.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/consent/{}\">\
             <label for=\"code\">{}</label>\
             <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"6\" required>\
             <div class=\"buttons\">{buttons}</div></form>\
             <p class=\"note\">{}</p>",
            escape(&c.id),
            t(lang, "银行发送给您的 6 位验证码", "The 6-digit code your bank sent you"),
            t(
                lang,
                "您可随时通过银行或本页面撤销授权，撤销后立即生效。",
                "You can revoke this at any time, through your bank or on this page; it takes effect at once."
            ),
        ));
    }
    render(
        lang,
        t(lang, "账户信息授权", "Account access consent"),
        &body,
    )
}

fn render(lang: Lang, title: &str, body: &str) -> String {
    PAGE.replace("{{lang}}", t(lang, "zh-CN", "en"))
        .replace("{{title}}", &escape(title))
        .replace("{{body}}", body)
}
