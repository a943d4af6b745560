//! Suanpan's HTTP API (room `api`): the server behind `suanpan serve`.
//!
//! A request goes: [`server`] (HTTP, body limit) → [`routes`] (which endpoint) → [`auth`]
//! (signature or operator token) → [`body`] (JSON into a [`wire`] type, every failure named)
//! → a handler (`accounts`, `transfers`; `accounting` and `clearing` through `books`;
//! `orders`; [`consents`] and `consent_page`; [`payouts`]: ownership, then one engine round
//! trip or a call into the room) → the answer, only once what it reports is durable. Reads of
//! history come from the history index (`suanpan_journal::HistoryReader`), kept by an indexer
//! thread the process runs.
//!
//! The room is transport only: the binary's `serve` opens the rooms and the engine, binds the
//! listener and owns the runtime; [`Service`] is what it hands them to.

mod accounting;
mod accounts;
mod app;
pub mod auth;
mod body;
mod books;
pub mod books_wire;
mod clearing;
pub mod config;
mod consent_page;
pub mod consents;
mod console;
pub mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod html;
pub mod log;
mod metrics;
pub mod openapi;
mod orders;
pub mod payouts;
pub mod recon;
mod routes;
mod server;
mod service;
pub mod time;
mod transfers;
pub mod wire;

pub use app::Wake;
pub use books::Books;
pub use clearing::start_close_schedule;
pub use config::ServeConfig;
pub use service::{tls_acceptor, Rooms, Service};
