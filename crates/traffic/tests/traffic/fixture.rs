//! Shared setup: a lab with DNS hosts, a zone served by BIND, a provider over it.

use cutover_exec::SecretValue;
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::Lab;
use cutover_traffic::dns::rfc2136::{Rfc2136, Rfc2136Config};
use cutover_traffic::dns::tsig;
use std::time::Duration;

pub const ZONE: &str = "example.test";

/// A lab with `old`, `new`, `dns` (BIND primary) and `dns2` (BIND secondary).
pub struct DnsLab {
    pub lab: Lab,
    pub key: TsigKey,
    pub bind: BindPair,
}

pub fn start_bind(ttl: u32) -> DnsLab {
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("dns")
        .host("dns2")
        .start()
        .expect("lab");
    let key = TsigKey::generate("cutover").expect("key");
    let old = lab.host("old").address().to_string();
    let zone = Zone::new(ZONE, 300)
        .record_ttl("www", "A", &old, ttl)
        .record_ttl("api", "A", &old, ttl)
        .record_ttl("static", "CNAME", "www", ttl);
    let bind =
        BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key).expect("bind");
    DnsLab { lab, key, bind }
}

impl DnsLab {
    pub fn tsig(&self) -> tsig::TsigKey {
        tsig::TsigKey {
            name: self.key.name.clone(),
            algorithm: self.key.algorithm.clone(),
            secret: SecretValue::new(self.key.secret.clone()),
        }
    }

    pub fn provider_with(&self, key: Option<tsig::TsigKey>, zones: &[&str]) -> Rfc2136 {
        Rfc2136::new(Rfc2136Config {
            server: self.bind.primary.socket().parse().expect("addr"),
            zones: zones.iter().map(|z| z.to_string()).collect(),
            key,
            timeout: Duration::from_secs(2),
        })
    }

    pub fn provider(&self) -> Rfc2136 {
        self.provider_with(Some(self.tsig()), &[ZONE])
    }

    pub fn addr(&self, host: &str) -> String {
        self.lab.host(host).address().to_string()
    }
}
