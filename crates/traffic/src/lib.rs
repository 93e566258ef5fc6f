//! Moving users from the old host to the new one, and back: DNS providers with declared
//! capabilities (RFC 2136 with TSIG, Cloudflare, manual) and reverse-proxy switchers (Caddy's
//! admin API, HAProxy's runtime API, nginx's upstream include + reload), each gated on the
//! new upstream's health. Usable on its own; the engine's `dns.*` and `proxy.switch` steps
//! call it and journal what it did.
#![deny(missing_docs)]

pub mod dns;
pub mod health;
pub mod proxy;
