//! The operations console: server-rendered HTML at `/` and `/console/...` on the API's port,
//! no script at all (the overview refreshes itself with a meta refresh), everything shown
//! escaped, no page framable or cached.
//!
//! An operator logs in with its token (`session.rs`); every page checks the session, and
//! every form carries the session's CSRF token. Roles hold twice: a page shows no button the
//! operator may not use, and the server refuses (and audits) an action beyond the role
//! whatever the page showed. Simplified Chinese or English, by `Accept-Language` or the
//! switch in the header.

mod books;
pub mod index;
mod ledger;
mod orders;
mod pages;
mod recon;
mod reports;
pub mod sampler;
pub mod session;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};

use crate::app::{self, App};
use crate::auth::Caller;
use crate::html::escape;
use suanpan_access::{OperatorRecord, Role};

pub const SESSION_COOKIE: &str = "suanpan_session";
const LANG_COOKIE: &str = "suanpan_lang";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// Whether a path is the console's (the API's paths all start with `/v1`, the payer's and
/// customer's pages with `/pay` and `/consent`).
pub fn is_console(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with("/console/")
}

/// A page, or a redirect, as the console answers.
pub struct Page {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    /// A file handed out as the API hands it (its type and headers), as an attachment.
    pub download: Option<(crate::app::Reply, String)>,
}

impl Page {
    pub fn html(status: u16, body: String) -> Page {
        Page {
            status,
            body,
            location: None,
            cookies: Vec::new(),
            download: None,
        }
    }

    pub fn download(reply: crate::app::Reply, name: &str) -> Page {
        Page {
            status: reply.status,
            body: String::new(),
            location: None,
            cookies: Vec::new(),
            download: Some((reply, name.to_string())),
        }
    }

    pub fn redirect(to: &str) -> Page {
        Page {
            status: 303,
            body: String::new(),
            location: Some(to.to_string()),
            cookies: Vec::new(),
            download: None,
        }
    }
}

/// What a console request knows about its caller.
pub struct Visit<'a> {
    pub app: &'a App,
    pub lang: Lang,
    pub operator: OperatorRecord,
    pub csrf: String,
    pub query: Vec<(String, String)>,
}

impl Visit<'_> {
    pub fn caller(&self) -> Caller {
        Caller::Operator(self.operator.clone())
    }

    pub fn may(&self, role: Role) -> bool {
        self.operator.role >= role
    }
}

fn cookie<'a>(req: &'a hyper::http::request::Parts, name: &str) -> Option<&'a str> {
    req.headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn lang_of(parts: &hyper::http::request::Parts, query: &[(String, String)]) -> Lang {
    let chosen = app::query_value(query, "lang").or_else(|| cookie(parts, LANG_COOKIE));
    match chosen {
        Some("en") => return Lang::En,
        Some("zh") => return Lang::Zh,
        _ => {}
    }
    let first = parts
        .headers
        .get(hyper::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|l| l.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if first.starts_with("zh") {
        Lang::Zh
    } else {
        Lang::En
    }
}

fn response(app: &App, page: Page) -> Response<Full<Bytes>> {
    if let Some((reply, name)) = page.download {
        let mut r = Response::new(Full::new(reply.body));
        *r.status_mut() =
            hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::OK);
        let h = r.headers_mut();
        h.insert("content-type", HeaderValue::from_static(reply.content_type));
        for (name, value) in reply.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        let extension = if reply.content_type.contains("xml") {
            "xml"
        } else {
            "csv"
        };
        if let Ok(v) =
            HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\""))
        {
            h.insert("content-disposition", v);
        }
        h.insert("cache-control", HeaderValue::from_static("no-store"));
        return r;
    }
    let mut r = Response::new(Full::new(Bytes::from(page.body)));
    *r.status_mut() = hyper::StatusCode::from_u16(page.status).unwrap_or(hyper::StatusCode::OK);
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.append(name, v);
        }
    };
    set("content-type", "text/html; charset=utf-8");
    set(
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    );
    set("x-frame-options", "DENY");
    set("cache-control", "no-store");
    set("referrer-policy", "no-referrer");
    if let Some(to) = &page.location {
        set("location", to);
    }
    let secure = if app.config.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    for c in &page.cookies {
        set(
            "set-cookie",
            &format!("{c}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        );
    }
    r
}

/// Answers a console request.
pub async fn respond(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let (parts, body) = match crate::server::read_body(app, req).await {
        Ok(read) => read,
        Err(e) => return response(app, Page::html(e.status, escape(&e.message))),
    };
    let query = app::query_pairs(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let lang = lang_of(&parts, &query);
    let form = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| app::query_pairs(text).ok())
        .unwrap_or_default();
    let mut page = route(app, &method, &path, &parts, query.clone(), &form, lang).await;
    if let Some(l) = app::query_value(&query, "lang").filter(|l| *l == "en" || *l == "zh") {
        page.cookies
            .push(format!("{LANG_COOKIE}={l}; Max-Age=31536000"));
    }
    response(app, page)
}

async fn route(
    app: &App,
    method: &str,
    path: &str,
    parts: &hyper::http::request::Parts,
    query: Vec<(String, String)>,
    form: &[(String, String)],
    lang: Lang,
) -> Page {
    if path == "/console/login" {
        return match method {
            "POST" => pages::login(app, form, lang).await,
            _ => Page::html(200, pages::login_form(lang, None)),
        };
    }
    // Everything else needs a live session of an operator whose token still holds.
    let session_id = cookie(parts, SESSION_COOKIE).unwrap_or("").to_string();
    let Some((token, csrf)) = app.sessions.touch(&session_id) else {
        return Page::redirect("/console/login");
    };
    let operator = match app.access.operator(&token) {
        Ok(Some(op)) => op,
        _ => {
            app.sessions.close(&session_id);
            return Page::redirect("/console/login");
        }
    };
    let visit = Visit {
        app,
        lang,
        operator,
        csrf,
        query,
    };
    if method == "POST" {
        // Every change comes from one of our forms: the session's CSRF token or nothing.
        let sent = app::query_value(form, "csrf").unwrap_or("");
        if !session::same(sent, &visit.csrf) {
            let _ = app
                .audit(
                    &visit.operator,
                    "console_form",
                    path.to_string(),
                    "csrf_refused".into(),
                )
                .await;
            return Page::html(
                403,
                pages::layout(&visit, lang.t("拒绝", "Refused"), &pages::notice(false, lang.t(
                    "表单已过期或来源不明，请从控制台重新操作。",
                    "This form is stale or did not come from the console; do it again from the console.",
                ))),
            );
        }
    }
    match (method, path) {
        ("GET", "/" | "/console" | "/console/") => pages::overview(&visit).await,
        ("GET", "/console/audit") => pages::audit(&visit).await,
        ("GET", "/console/payouts") => pages::payout(&visit).await,
        ("POST", "/console/payouts/return") => pages::payout_return(&visit, form).await,
        ("GET", "/console/consents") => pages::consents(&visit).await,
        ("GET", "/console/accounting") => books::accounting(&visit).await,
        ("POST", "/console/accounting/day-end") => books::start_day_end(&visit, form).await,
        ("POST", "/console/accounting/write-off") => books::write_off(&visit, form).await,
        ("GET", "/console/clearing") => books::clearing(&visit).await,
        ("GET", "/console/recon") => recon::page(&visit).await,
        ("POST", "/console/recon/run") => recon::run(&visit, form).await,
        ("POST", "/console/recon/resolve") => recon::resolve(&visit, form).await,
        ("GET", "/console/clearing/statement") => books::statement(&visit).await,
        ("GET", "/console/transfers") => ledger::transfer(&visit).await,
        ("POST", "/console/transfers/resolve") => ledger::resolve(&visit, form).await,
        ("GET", "/console/transfers/pending") => ledger::pending(&visit).await,
        ("GET", "/console/accounts") => ledger::account(&visit).await,
        ("GET", "/console/orders") => orders::orders(&visit).await,
        ("GET", "/console/accounting/reports") => reports::accounting_reports(&visit).await,
        ("GET", "/console/clearing/batches") => reports::batch(&visit).await,
        ("POST", "/console/clearing/batches/close") => reports::close_batch(&visit).await,
        ("POST", "/console/clearing/batches/settle") => reports::settle_batch(&visit, form).await,
        ("GET", "/console/orders/view") => orders::order(&visit).await,
        ("POST", "/console/orders/resend") => orders::resend(&visit, form).await,
        ("GET", "/console/clearing/participants") => books::participants(&visit).await,
        ("POST", "/console/clearing/participants") => books::change_participant(&visit, form).await,
        ("POST", "/console/logout") => {
            app.sessions.close(&session_id);
            let mut page = Page::redirect("/console/login");
            page.cookies.push(format!("{SESSION_COOKIE}=; Max-Age=0"));
            page
        }
        _ => Page::html(
            404,
            pages::layout(
                &visit,
                "404",
                &pages::notice(false, lang.t("没有这个页面。", "No such page.")),
            ),
        ),
    }
}

/// A JSON handler's answer as a value, for a page to render (a refusal stays an error).
pub(super) fn json(
    reply: Result<crate::app::Reply, crate::error::ApiError>,
) -> Result<serde_json::Value, crate::error::ApiError> {
    let reply = reply?;
    Ok(serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null))
}

/// A JSON value as page text: a string as it is, nothing for null.
pub(super) fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
