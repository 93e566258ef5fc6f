//! cutover-traffic against real servers on the lab: BIND and Knot with TSIG, Caddy, HAProxy
//! and nginx in front of the project's test app, and a Cloudflare API fake.

mod traffic {
    pub mod cloudflare;
    pub mod dns_bind;
    pub mod dns_propagation;
    pub mod dns_records;
    pub mod fixture;
    pub mod proxy;
    pub mod proxy_dns;
    pub mod proxy_kept;
}
