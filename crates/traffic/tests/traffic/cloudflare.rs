//! The Cloudflare provider against a local FAKE of Cloudflare's v4 API
//! (`cutover_testbed::cloudflare_fake`, which follows the documented contract; the real API
//! cannot be reached here): switch, idempotent rerun, rollback, proxied flag, TTL rules,
//! pagination, several values per record set, a refused token, and the capabilities it
//! declares.

use cutover_exec::SecretValue;
use cutover_testbed::cloudflare_fake::CloudflareFake;
use cutover_traffic::dns::cloudflare::{Cloudflare, CloudflareConfig};
use cutover_traffic::dns::{
    capabilities, check_capabilities, corrections, Capability, Desired, DnsError, DnsProvider,
    RecordKey, RecordType, Support,
};
use std::time::Duration;

const TOKEN: &str = "cf-test-token-0123456789";
const ZONE: &str = "example.com";
const OLD: &str = "198.51.100.10";
const NEW: &str = "198.51.100.20";

fn fake(enterprise: bool) -> CloudflareFake {
    let f = CloudflareFake::start(TOKEN).expect("fake");
    f.zone(ZONE, enterprise);
    f.zone("other.org", false);
    f.record(ZONE, "A", "www.example.com", OLD, 300, false);
    f.record(ZONE, "A", "api.example.com", OLD, 120, false);
    f.record(
        ZONE,
        "CNAME",
        "static.example.com",
        "www.example.com",
        300,
        false,
    );
    f
}

fn provider(f: &CloudflareFake, token: &str) -> Cloudflare {
    Cloudflare::new(CloudflareConfig {
        api: f.api.clone(),
        token: SecretValue::new(token.to_string()),
        zones: vec![ZONE.into()],
        timeout: Duration::from_secs(5),
    })
}

fn key(name: &str, t: RecordType) -> RecordKey {
    RecordKey::new(name, t)
}

fn want(name: &str, values: &[&str], ttl: Option<u32>, proxied: Option<bool>) -> Desired {
    Desired {
        key: key(name, RecordType::A),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
        ttl,
        proxied,
    }
}

/// Reads `wish`'s keys, corrects them, applies; returns how many corrections were made.
async fn converge(p: &Cloudflare, wish: &[Desired]) -> Result<usize, DnsError> {
    let keys: Vec<RecordKey> = wish.iter().map(|d| d.key.clone()).collect();
    let current = p.read(ZONE, &keys).await?;
    let fixes = corrections(p, &current, wish)?;
    p.apply(ZONE, &fixes).await?;
    Ok(fixes.len())
}

#[tokio::test]
async fn a_switch_is_one_batch_a_rerun_makes_no_correction_and_rollback_restores_values_and_ttls() {
    let f = fake(false);
    let p = provider(&f, TOKEN);
    let keys = [
        key("www.example.com", RecordType::A),
        key("static.example.com", RecordType::Cname),
    ];
    let before = p.read(ZONE, &keys).await.unwrap();
    let www = before[0].clone().expect("www exists");
    assert_eq!(
        (www.values.clone(), www.ttl, www.proxied),
        (vec![OLD.to_string()], 300, Some(false))
    );
    let wish = [
        want("www.example.com", &[NEW], Some(60), None),
        Desired {
            key: keys[1].clone(),
            values: Some(vec!["api.example.com.".into()]),
            ttl: None,
            proxied: None,
        },
    ];
    let commits = f.commits(ZONE);
    let fixes = corrections(&p, &before, &wish).unwrap();
    assert_eq!(fixes.len(), 2);
    assert!(
        fixes[0].msg.contains(&format!("{OLD} -> {NEW}")) && fixes[0].msg.contains("ttl 300 -> 60"),
        "{}",
        fixes[0].msg
    );
    p.apply(ZONE, &fixes).await.unwrap();
    // Both record sets changed in one batch: one commit, through the batch endpoint.
    assert_eq!(f.commits(ZONE), commits + 1);
    assert_eq!(
        f.requests()
            .iter()
            .filter(|r| r.contains("/dns_records/batch"))
            .count(),
        1
    );
    let stored = f.records(ZONE, "A", "www.example.com");
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].content.as_str(), stored[0].ttl), (NEW, 60));
    assert_eq!(
        f.records(ZONE, "CNAME", "static.example.com")[0].content,
        "api.example.com"
    );

    // Idempotent: a second run finds nothing to change and sends no batch.
    assert_eq!(converge(&p, &wish).await.unwrap(), 0);
    assert_eq!(f.commits(ZONE), commits + 1);

    // Rollback: the values read before, TTLs included.
    let restore: Vec<Desired> = before
        .iter()
        .flatten()
        .map(|r| Desired {
            key: r.key.clone(),
            values: Some(r.values.clone()),
            ttl: Some(r.ttl),
            proxied: r.proxied,
        })
        .collect();
    assert_eq!(converge(&p, &restore).await.unwrap(), 2);
    let after = p.read(ZONE, &keys).await.unwrap();
    assert_eq!(after, before);
    // The record kept its identity: patched, not deleted and created again.
    assert_eq!(f.records(ZONE, "A", "www.example.com")[0].id, stored[0].id);
}

#[tokio::test]
async fn the_proxied_flag_is_set_and_cleared_and_proxied_records_keep_the_automatic_ttl() {
    let f = fake(false);
    let p = provider(&f, TOKEN);
    // Asked for TTL 120 with the proxy on: Cloudflare keeps proxied records at TTL 1
    // (automatic), and the provider knows it, so a rerun does not fight the API.
    let on = [want("www.example.com", &[NEW], Some(120), Some(true))];
    assert_eq!(converge(&p, &on).await.unwrap(), 1);
    let r = &f.records(ZONE, "A", "www.example.com")[0];
    assert!(r.proxied);
    assert_eq!(r.ttl, 1);
    assert_eq!(
        converge(&p, &on).await.unwrap(),
        0,
        "a rerun must find nothing to do"
    );

    let off = [want("www.example.com", &[NEW], Some(300), Some(false))];
    assert_eq!(converge(&p, &off).await.unwrap(), 1);
    let r = &f.records(ZONE, "A", "www.example.com")[0];
    assert!(!r.proxied);
    assert_eq!(r.ttl, 300);
    // TTL 1 is "automatic": 300 s for whoever waits out a TTL.
    assert_eq!(p.effective_ttl(1), 300);
    assert_eq!(p.effective_ttl(60), 60);
}

#[tokio::test]
async fn ttls_below_60_are_refused_before_any_call_and_by_the_api_except_on_enterprise_zones() {
    let wish = [want("www.example.com", &[NEW], Some(30), None)];
    // Before any network call: the declared capability.
    let problems = check_capabilities("cloudflare", &[ZONE.into()], &wish);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("ttl 30") && problems[0].contains("60"),
        "{}",
        problems[0]
    );

    // Pushed through anyway, the API refuses it and nothing changes.
    let f = fake(false);
    let p = provider(&f, TOKEN);
    let err = converge(&p, &wish).await.unwrap_err().to_string();
    assert!(err.contains("TTL") && err.contains("HTTP 400"), "{err}");
    assert_eq!(f.records(ZONE, "A", "www.example.com")[0].content, OLD);
    // An Enterprise zone takes 30 s.
    let f = fake(true);
    let p = provider(&f, TOKEN);
    assert_eq!(converge(&p, &wish).await.unwrap(), 1);
    assert_eq!(f.records(ZONE, "A", "www.example.com")[0].ttl, 30);
}

#[tokio::test]
async fn several_values_per_record_set_across_pages_change_with_the_fewest_operations() {
    let f = fake(false);
    f.set_max_per_page(1); // every list spans several pages
    let p = provider(&f, TOKEN);
    let (a, b, c) = ("203.0.113.1", "203.0.113.2", "203.0.113.3");
    assert_eq!(
        converge(&p, &[want("api.example.com", &[a, b], None, None)])
            .await
            .unwrap(),
        1
    );
    let two = f.records(ZONE, "A", "api.example.com");
    assert_eq!(
        two.iter().map(|r| r.content.as_str()).collect::<Vec<_>>(),
        [a, b]
    );
    let read = p
        .read(ZONE, &[key("api.example.com", RecordType::A)])
        .await
        .unwrap();
    assert_eq!(
        read[0].as_ref().unwrap().values,
        vec![a.to_string(), b.to_string()]
    );
    assert!(
        f.requests().iter().any(|r| r.contains("page=2")),
        "the provider did not page"
    );

    // [a, b] -> [b, c]: the record holding b stays untouched; a's record is re-pointed.
    assert_eq!(
        converge(&p, &[want("api.example.com", &[c, b], None, None)])
            .await
            .unwrap(),
        1
    );
    let now = f.records(ZONE, "A", "api.example.com");
    assert_eq!(
        now.iter().map(|r| r.content.as_str()).collect::<Vec<_>>(),
        [b, c]
    );
    let id_of = |list: &[cutover_testbed::cloudflare_fake::FakeRecord], v: &str| {
        list.iter().find(|r| r.content == v).map(|r| r.id.clone())
    };
    assert_eq!(id_of(&now, b), id_of(&two, b));
    assert_eq!(id_of(&now, c), id_of(&two, a));
    // Back to one value: the spare record is deleted.
    assert_eq!(
        converge(&p, &[want("api.example.com", &[OLD], None, None)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(f.records(ZONE, "A", "api.example.com").len(), 1);
}

#[tokio::test]
async fn a_refused_token_an_unknown_zone_an_absent_record_and_a_concurrent_edit_are_clear_errors() {
    let f = fake(false);
    let bad = provider(&f, "not-the-token");
    let err = bad
        .read(ZONE, &[key("www.example.com", RecordType::A)])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 403") && err.contains("api_token"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-token"),
        "the token leaked into the error: {err}"
    );

    let p = provider(&f, TOKEN);
    let err = p
        .read("missing.net", &[key("www.missing.net", RecordType::A)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no zone missing.net"), "{err}");

    let current = p
        .read(ZONE, &[key("nope.example.com", RecordType::A)])
        .await
        .unwrap();
    let err = corrections(
        &p,
        &current,
        &[want("nope.example.com", &[NEW], None, None)],
    )
    .unwrap_err();
    assert!(matches!(err, DnsError::Absent { .. }), "{err}");

    // Someone edits the record between our read and our change: nothing is overwritten.
    let keys = [key("www.example.com", RecordType::A)];
    let current = p.read(ZONE, &keys).await.unwrap();
    let fixes = corrections(&p, &current, &[want("www.example.com", &[NEW], None, None)]).unwrap();
    let id = f.records(ZONE, "A", "www.example.com")[0].id.clone();
    let other = provider(&f, TOKEN);
    let theirs = other.read(ZONE, &keys).await.unwrap();
    other
        .apply(
            ZONE,
            &corrections(
                &other,
                &theirs,
                &[want("www.example.com", &["192.0.2.99"], None, None)],
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let err = p.apply(ZONE, &fixes).await.unwrap_err().to_string();
    assert!(err.contains("changed since it was read"), "{err}");
    let stored = &f.records(ZONE, "A", "www.example.com")[0];
    assert_eq!(
        (stored.id.as_str(), stored.content.as_str()),
        (id.as_str(), "192.0.2.99")
    );
}

#[test]
fn capabilities_are_declared_per_provider_and_checked_without_a_network() {
    let cannot = |kind: &str, c: Capability| {
        capabilities(kind)
            .iter()
            .any(|(k, s)| *k == c && matches!(s, Support::Cannot(_)))
    };
    assert!(cannot("cloudflare", Capability::TtlBelow60));
    assert!(
        !cannot("cloudflare", Capability::CnameAtApex),
        "Cloudflare flattens apex CNAMEs"
    );
    assert!(!cannot("cloudflare", Capability::Proxied));
    assert!(cannot("rfc2136", Capability::CnameAtApex));
    assert!(!cannot("rfc2136", Capability::TtlBelow60));
    assert!(cannot("manual", Capability::Proxied));

    let apex = [Desired {
        key: key("example.com", RecordType::Cname),
        values: Some(vec!["lb.example.net".into()]),
        ttl: None,
        proxied: None,
    }];
    assert!(check_capabilities("cloudflare", &[ZONE.into()], &apex).is_empty());
    let p = check_capabilities("rfc2136", &[ZONE.into()], &apex);
    assert!(p.len() == 1 && p[0].contains("apex"), "{p:?}");
    let proxied = [want("www.example.com", &[NEW], None, Some(true))];
    assert_eq!(
        check_capabilities("manual", &[ZONE.into()], &proxied).len(),
        1
    );
    assert!(check_capabilities("cloudflare", &[ZONE.into()], &proxied).is_empty());
}
