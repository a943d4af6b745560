//! What the HTTP end-to-end tests share: a blocking HTTP/1.1 client that signs as a
//! participant ([`client`]), a real `suanpan serve` process with its data directory and
//! credentials ([`server`]), a participant's fixture over both ([`books`]), and TLS
//! certificates and a client ([`tls`]), headless Chromium for the pages ([`browser`]).

pub mod books;
pub mod browser;
pub mod client;
pub mod consent;
pub mod server;
pub mod tls;
