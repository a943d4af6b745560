//! The HTTP/1.1 server: accepting connections (plain or TLS), turning each request into a
//! route call, and stopping gracefully.
//!
//! Shutdown, on SIGTERM or SIGINT: the listener closes at once (new connections are refused),
//! every open connection is told to finish its in-flight request and close, and once they
//! are all gone (or `shutdown_grace_s` has passed) the engine commits what it holds and the
//! process exits 0. A request that arrived before the signal gets its real answer.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::accounts;
use crate::app::{self, App, Reply};
use crate::auth::Caller;
use crate::body;
use crate::error::{ApiError, ErrorCode};
use crate::log::{self, Level};
use crate::metrics::Gauges;
use crate::routes::{self, Access, Matched, RouteId, ROUTES};
use crate::transfers;
use crate::wire::*;

pub async fn accept_loop(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(app.config.connections_max));
    loop {
        // Wait for a free connection slot first: beyond the limit, connections queue in the
        // kernel's backlog rather than in our memory.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    log::log(Level::Warn, "accept failed", &[("error", &e)]);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, shutdown, tls) = (app.clone(), shutdown.clone(), tls.clone());
        tokio::spawn(async move {
            app.open_connections.fetch_add(1, Ordering::Relaxed);
            match tls {
                None => serve_connection(app.clone(), stream, shutdown).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(app.clone(), stream, shutdown).await,
                    Err(e) => log::log(
                        Level::Debug,
                        "TLS handshake failed",
                        &[("peer", &peer), ("error", &e)],
                    ),
                },
            }
            app.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

async fn serve_connection<S>(app: Arc<App>, stream: S, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(respond(&app, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // The connection is polled before the stop is looked at (`biased`): bytes of a request
    // that arrived before the stop are read first, so the request is in progress, and a
    // graceful shutdown finishes it rather than closing the connection as idle.
    loop {
        tokio::select! {
            biased;
            _ = conn.as_mut() => break,
            changed = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                if changed.is_err() {
                    // The stop's sender is gone: nothing more to wait for but the connection.
                    conn.as_mut().await.ok();
                    break;
                }
            }
            _ = std::future::ready(()), if *shutdown.borrow() => {
                conn.as_mut().graceful_shutdown();
                conn.as_mut().await.ok();
                break;
            }
        }
    }
}

fn response(status: u16, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn respond(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    if crate::console::is_console(&path) {
        return crate::console::respond(app, req).await;
    }
    let mut allow = None;
    let (route, result) = match routes::find(&method, &path) {
        Matched::Route(i, param) => {
            let param = param.map(str::to_string);
            (Some(i), route_request(app, i, param.as_deref(), req).await)
        }
        Matched::WrongMethod(methods) => {
            let e = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{path} does not take {method}; it takes {methods}"),
            );
            // RFC 9110: a 405 names the methods the resource does take.
            allow = HeaderValue::from_str(&methods).ok();
            (None, Err(e))
        }
        Matched::None => (
            None,
            Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no endpoint {path}"),
            )),
        ),
    };
    let response = match result {
        Ok(reply) => {
            let mut r = response(reply.status, reply.content_type, reply.body);
            for (name, value) in reply.headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(name, value);
                }
            }
            r
        }
        Err(e) => {
            if e.status >= 500 && e.status != 503 {
                log::log(
                    Level::Error,
                    "request failed",
                    &[
                        ("method", &method),
                        ("path", &path),
                        ("code", &e.code),
                        ("error", &e.message),
                    ],
                );
            }
            let mut r = response(e.status, "application/json", e.body().into());
            if let Some(s) = e.retry_after_s {
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
            }
            if let Some(methods) = allow {
                r.headers_mut().insert(hyper::header::ALLOW, methods);
            }
            r
        }
    };
    let status = response.status().as_u16();
    let elapsed_us = started.elapsed().as_micros() as u64;
    app.metrics.record(route, status, elapsed_us);
    if log::enabled(Level::Debug) {
        log::log(
            Level::Debug,
            "request",
            &[
                ("method", &method),
                ("path", &path),
                ("status", &status),
                ("us", &elapsed_us),
            ],
        );
    }
    response
}

pub(crate) async fn read_body(
    app: &App,
    req: Request<Incoming>,
) -> Result<(hyper::http::request::Parts, Bytes), ApiError> {
    let max = app.config.body_bytes_max;
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body is larger than {max} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, max)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ApiError::new(
                    ErrorCode::MalformedJson,
                    format!("the body could not be read: {e}"),
                )
            }
        })?
        .to_bytes();
    Ok((parts, bytes))
}

async fn route_request(
    app: &App,
    index: usize,
    param: Option<&str>,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let route = &ROUTES[index];
    let (parts, bytes) = read_body(app, req).await?;
    if let Some(reply) = crate::orders::public(app, route.id, param, &parts, &bytes).await {
        return reply;
    }
    if let RouteId::Consent(page) = route.id {
        if let Some(reply) = crate::consent_page::public(app, page, param, &parts, &bytes).await {
            return reply;
        }
    }
    if route.request.is_some() {
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let json = |ct: &str| {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
        };
        if content_type.is_some_and(|ct| !json(ct)) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be application/json",
            ));
        }
    } else if !bytes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("{} {} takes no body", route.method, route.path),
        ));
    }
    let query = parts.uri.query().unwrap_or("");
    let caller = match route.access {
        Access::Public => None,
        _ => {
            let path_and_query = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or(route.path);
            // Once, after this node took the writer's lease over: requests signed before then
            // are refused (their nonces were spent on the old leader, not here), and every key
            // and token is read afresh (what was revoked meanwhile is refused at once).
            if let Some(promoted_at_s) = app.engine.promoted_at_s() {
                if app.auth.refuse_signed_before(promoted_at_s) {
                    app.access.forget_cached();
                }
            }
            let caller = app.auth.authenticate(
                &app.access,
                &parts.headers,
                route.method,
                path_and_query,
                &bytes,
            )?;
            // Operators read with any role; what they change is checked per action.
            if let Access::Operator(role) = route.access {
                if matches!(caller, Caller::Participant(_)) {
                    caller.require_role(role)?;
                }
                let action = match route.id {
                    RouteId::FreezeAccount => "freeze_account",
                    RouteId::UnfreezeAccount => "unfreeze_account",
                    RouteId::AuditLog => "read_audit_log",
                    RouteId::Books(books_route) => books_route.action(),
                    RouteId::Recon(recon_route) => recon_route.action(),
                    RouteId::ResendNotification => "resend_notification",
                    RouteId::Payouts(crate::payouts::PayoutRoute::Return) => "record_payout_return",
                    RouteId::Payouts(crate::payouts::PayoutRoute::Rules) => "read_routing_rules",
                    RouteId::Payouts(crate::payouts::PayoutRoute::SetRules) => "set_routing_rules",
                    RouteId::Payouts(crate::payouts::PayoutRoute::SetCalendar) => {
                        "set_routing_calendar"
                    }
                    _ => route.path,
                };
                app.authorize(&caller, role, action, param.unwrap_or(""))
                    .await?;
            }
            Some(caller)
        }
    };
    let pairs = app::query_pairs(query)?;
    app::known_query(&pairs, route)?;
    if let (RouteId::Books(books_route), Some(caller)) = (route.id, caller.as_ref()) {
        return crate::books::dispatch(
            app,
            books_route,
            caller,
            param,
            &pairs,
            &bytes,
            &parts.headers,
        )
        .await;
    }
    if let (RouteId::Recon(recon_route), Some(caller)) = (route.id, caller.as_ref()) {
        return crate::recon::dispatch(
            app,
            recon_route,
            caller,
            param,
            &pairs,
            &bytes,
            &parts.headers,
        )
        .await;
    }
    if let (RouteId::Payouts(payout_route), Some(caller)) = (route.id, caller.as_ref()) {
        return crate::payouts::dispatch(app, payout_route, caller, param, &bytes).await;
    }
    if let (RouteId::Consent(consent_route), Some(caller)) = (route.id, caller.as_ref()) {
        return crate::consents::dispatch(
            app,
            consent_route,
            caller,
            param,
            &pairs,
            &parts.headers,
            &bytes,
        )
        .await;
    }
    dispatch(app, route.id, caller.as_ref(), param, &pairs, &bytes).await
}

async fn dispatch(
    app: &App,
    route: RouteId,
    caller: Option<&Caller>,
    param: Option<&str>,
    query: &[(String, String)],
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let public = || ApiError::new(ErrorCode::Internal, "no caller on an authenticated route");
    match route {
        RouteId::Healthz => Reply::json(
            200,
            &Health {
                status: "ok",
                reason: None,
            },
        ),
        RouteId::Readyz => readiness(app),
        RouteId::OpenApi => Ok(Reply {
            status: 200,
            body: app.openapi.clone(),
            content_type: "application/json",
            headers: Vec::new(),
        }),
        RouteId::Metrics => Ok(Reply {
            status: 200,
            body: {
                let mut text = render_metrics(app);
                let gateway = app.gateway.clone();
                let gauges = app
                    .blocking(move || {
                        gateway
                            .gauges()
                            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
                    })
                    .await?;
                text.push_str(&app.gateway.metrics().render(gauges));
                text
            }
            .into(),
            content_type: "text/plain; version=0.0.4",
            headers: Vec::new(),
        }),
        RouteId::CreateAccount => {
            accounts::create(app, caller.ok_or_else(public)?, body::parse(bytes)?).await
        }
        RouteId::GetAccount => {
            accounts::get(app, caller.ok_or_else(public)?, app::path_id(param)?).await
        }
        RouteId::FreezeAccount | RouteId::UnfreezeAccount | RouteId::CloseAccount => {
            let id = app::path_id(param)?;
            let command = match route {
                RouteId::FreezeAccount => suanpan_ledger::Command::FreezeAccount { id },
                RouteId::UnfreezeAccount => suanpan_ledger::Command::UnfreezeAccount { id },
                _ => suanpan_ledger::Command::CloseAccount { id },
            };
            accounts::set_status(app, caller.ok_or_else(public)?, id, command).await
        }
        RouteId::AccountTransfers => {
            accounts::transfers(app, caller.ok_or_else(public)?, app::path_id(param)?, query).await
        }
        RouteId::AccountBalanceAt => {
            accounts::balance_at(app, caller.ok_or_else(public)?, app::path_id(param)?, query).await
        }
        RouteId::CreateTransfer => {
            transfers::create(app, caller.ok_or_else(public)?, body::parse(bytes)?).await
        }
        RouteId::CreateTransferBatch => {
            transfers::batch(app, caller.ok_or_else(public)?, body::parse(bytes)?).await
        }
        RouteId::GetTransfer => {
            transfers::get(app, caller.ok_or_else(public)?, app::path_id(param)?).await
        }
        RouteId::PostPending => {
            let pending = app::path_id(param)?;
            let b: PostPendingBody = body::parse(bytes)?;
            transfers::resolve(
                app,
                caller.ok_or_else(public)?,
                pending,
                b.id.0,
                b.amount.map(|a| a.0),
                true,
            )
            .await
        }
        RouteId::VoidPending => {
            let pending = app::path_id(param)?;
            let b: VoidPendingBody = body::parse(bytes)?;
            transfers::resolve(
                app,
                caller.ok_or_else(public)?,
                pending,
                b.id.0,
                None,
                false,
            )
            .await
        }
        RouteId::AuditLog => audit_log(app, query).await,
        RouteId::Books(_) => Err(public()),
        RouteId::CreateOrder
        | RouteId::FindOrder
        | RouteId::GetOrder
        | RouteId::CreateRefund
        | RouteId::OrderNotifications
        | RouteId::ResendNotification => {
            let caller = caller.ok_or_else(public)?;
            crate::orders::dispatch(app, route, caller, param, query, bytes).await
        }
        RouteId::AlipayNotify
        | RouteId::WechatNotify
        | RouteId::ResultPage
        | RouteId::ResultStatus
        | RouteId::Consent(_)
        | RouteId::Payouts(_)
        | RouteId::Recon(_) => Err(public()),
    }
}

fn readiness(app: &App) -> Result<Reply, ApiError> {
    if app.stopping.load(Ordering::Acquire) {
        return Err(ApiError::new(
            ErrorCode::EngineStopped,
            "the server is shutting down",
        ));
    }
    // A read through the engine would queue behind the load; the failure flag is immediate.
    if let Err(e) = app.engine.check_running() {
        return Err(e.into());
    }
    Reply::json(
        200,
        &Health {
            status: "ready",
            reason: None,
        },
    )
}

fn render_metrics(app: &App) -> String {
    let dir = &app.config.data_dir;
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let journal_bytes = match &app.books.journal {
        suanpan_journal::JournalLocation::Sqlite(_) => Some(
            size(suanpan_journal::DB_FILE) + size(&format!("{}-wal", suanpan_journal::DB_FILE)),
        ),
        suanpan_journal::JournalLocation::Postgres(_) => None,
    };
    app.metrics.render(
        app.engine.metrics(),
        &Gauges {
            journal_bytes,
            history_indexed_seq: app.history_seq.load(Ordering::Relaxed),
            open_connections: app.open_connections.load(Ordering::Relaxed),
            leader: u64::from(app.engine.is_leader()),
        },
    )
}

async fn audit_log(app: &App, query: &[(String, String)]) -> Result<Reply, ApiError> {
    let limit = app::query_limit(query)?;
    let after = app::query_cursor(query)?;
    let access = app.access.clone();
    let rows = app
        .blocking(move || {
            access
                .audit_log(after, limit + 1)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e))
        })
        .await?;
    let more = rows.len() > limit as usize;
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEntry {
            seq: r.seq,
            time: Time(r.time_ns),
            operator: r.operator,
            role: r.role,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
        })
        .collect();
    let next_cursor = more
        .then(|| entries.last().map(|e| e.seq.to_string()))
        .flatten();
    Reply::json(
        200,
        &AuditPage {
            entries,
            next_cursor,
        },
    )
}
