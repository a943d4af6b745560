//! What the HTTP end-to-end tests share: a blocking HTTP/1.1 client that signs as a
//! participant ([`client`]) and a real `suanpan serve` process with its data directory and
//! credentials ([`server`]).

pub mod client;
pub mod server;
