//! Record sets created and deleted (`dns.record`), every type runbooks touch, through RFC 2136
//! against BIND and through the Cloudflare API FAKE (the real API cannot be reached here; the
//! fake follows the documented contract, MX `priority` apart from `content` included).

use super::fixture::{start_bind, ZONE};
use cutover_exec::SecretValue;
use cutover_testbed::cloudflare_fake::CloudflareFake;
use cutover_traffic::dns::cloudflare::{Cloudflare, CloudflareConfig};
use cutover_traffic::dns::{
    check_capabilities, record_corrections, Desired, DnsError, DnsProvider, RecordKey, RecordType,
};
use std::time::Duration;

fn wish(name: &str, rtype: RecordType, values: &[&str], ttl: Option<u32>) -> Desired {
    Desired {
        key: RecordKey::new(name, rtype),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
        ttl,
        proxied: None,
    }
}

/// Makes `want` so in `zone`; returns the corrections' messages.
async fn converge(
    p: &dyn DnsProvider,
    zone: &str,
    want: &[Desired],
) -> Result<Vec<String>, DnsError> {
    let keys: Vec<RecordKey> = want.iter().map(|d| d.key.clone()).collect();
    let current = p.read(zone, &keys).await?;
    let fixes = record_corrections(p, &current, want, 300)?;
    p.apply(zone, &fixes).await?;
    Ok(fixes.into_iter().map(|f| f.msg).collect())
}

/// A TXT value longer than one DNS character-string (255 bytes), with spaces and non-ASCII.
fn long_txt() -> String {
    format!(
        "v=spf1 include:mail.example.test ~all {} é",
        "x".repeat(300)
    )
}

#[tokio::test]
async fn rfc2136_creates_and_deletes_every_type_and_a_rerun_changes_nothing() {
    let l = start_bind(300);
    let p = l.provider();
    let new = l.addr("new");
    let txt = long_txt();
    let want = [
        wish("test-app.example.test", RecordType::A, &[&new], Some(60)),
        wish(
            "test-app.example.test",
            RecordType::Txt,
            &[&txt, "verify=abc"],
            None,
        ),
        wish(
            "example.test",
            RecordType::Mx,
            &["10 MX1.example.test.", "20 mx2.example.test"],
            None,
        ),
        wish(
            "sub.example.test",
            RecordType::Ns,
            &["ns1.example.test"],
            Some(120),
        ),
        wish(
            "test-api.example.test",
            RecordType::Cname,
            &["test-app.example.test"],
            None,
        ),
        // BIND refuses an MX whose host has no address in the zone: its hosts come in the
        // same update.
        wish("mx1.example.test", RecordType::A, &[&new], None),
        wish("mx2.example.test", RecordType::A, &[&new], None),
    ];
    let made = converge(&p, ZONE, &want).await.unwrap();
    assert_eq!(made.len(), 7, "{made:?}");
    assert!(made.iter().all(|m| m.contains("created")), "{made:?}");
    let keys: Vec<RecordKey> = want.iter().map(|d| d.key.clone()).collect();
    let now = p.read(ZONE, &keys).await.unwrap();
    let values = |i: usize| now[i].as_ref().map(|s| (s.values.clone(), s.ttl));
    assert_eq!(values(0), Some((vec![new.clone()], 60)));
    let mut txts = vec![txt.clone(), "verify=abc".to_string()];
    txts.sort();
    assert_eq!(values(1), Some((txts, 300)), "TXT read back whole");
    assert_eq!(
        values(2),
        Some((
            vec!["10 mx1.example.test".into(), "20 mx2.example.test".into()],
            300
        ))
    );
    assert_eq!(values(3), Some((vec!["ns1.example.test".into()], 120)));
    assert_eq!(values(4), Some((vec!["test-app.example.test".into()], 300)));
    assert!(
        converge(&p, ZONE, &want).await.unwrap().is_empty(),
        "a second run corrects nothing"
    );

    // A CNAME where other records sit is refused by the server, with what to do.
    let clash = [wish(
        "test-app.example.test",
        RecordType::Cname,
        &["www.example.test"],
        None,
    )];
    let err = converge(&p, ZONE, &clash).await.unwrap_err().to_string();
    assert!(
        err.contains("YXDOMAIN") && err.contains("other records"),
        "{err}"
    );

    // Deleted: every set gone, and deleting again changes nothing.
    let gone: Vec<Desired> = keys
        .iter()
        .map(|k| Desired {
            key: k.clone(),
            values: Some(Vec::new()),
            ttl: None,
            proxied: None,
        })
        .collect();
    let deleted = converge(&p, ZONE, &gone).await.unwrap();
    assert!(deleted.iter().all(|m| m.contains("deleted")), "{deleted:?}");
    assert!(p
        .read(ZONE, &keys)
        .await
        .unwrap()
        .iter()
        .all(Option::is_none));
    assert!(converge(&p, ZONE, &gone).await.unwrap().is_empty());
}

#[test]
fn a_cname_at_the_apex_is_refused_the_same_way_by_rfc2136_and_allowed_by_cloudflare() {
    let zones = vec!["example.test".to_string()];
    let apex = [wish(
        "example.test",
        RecordType::Cname,
        &["lb.example.net"],
        None,
    )];
    let rfc = check_capabilities("rfc2136", &zones, &apex);
    assert_eq!(rfc.len(), 1, "{rfc:?}");
    assert!(
        rfc[0].starts_with("example.test CNAME at the zone apex: provider `rfc2136` cannot:"),
        "{rfc:?}"
    );
    assert!(check_capabilities("cloudflare", &zones, &apex).is_empty());
}

#[tokio::test]
async fn cloudflare_creates_an_mx_with_its_priority_a_txt_and_deletes_them() {
    const TOKEN: &str = "cf-test-token-0123456789";
    let f = CloudflareFake::start(TOKEN).expect("fake");
    f.zone("example.com", false);
    let p = Cloudflare::new(CloudflareConfig {
        api: f.api.clone(),
        token: SecretValue::new(TOKEN.to_string()),
        zones: vec!["example.com".into()],
        timeout: Duration::from_secs(5),
    });
    let want = [
        wish(
            "example.com",
            RecordType::Mx,
            &["10 mx1.example.com", "20 mx2.example.com"],
            Some(300),
        ),
        wish(
            "_verify.example.com",
            RecordType::Txt,
            &["token=abc def"],
            Some(120),
        ),
    ];
    let made = converge(&p, "example.com", &want).await.unwrap();
    assert_eq!(made.len(), 2, "{made:?}");
    let mx = f.records("example.com", "MX", "example.com");
    let stored: Vec<(Option<u16>, String)> =
        mx.iter().map(|r| (r.priority, r.content.clone())).collect();
    assert_eq!(
        stored,
        vec![
            (Some(10), "mx1.example.com".to_string()),
            (Some(20), "mx2.example.com".to_string())
        ],
        "the preference travels as `priority`, the host as `content`"
    );
    assert!(converge(&p, "example.com", &want).await.unwrap().is_empty());
    let gone: Vec<Desired> = want
        .iter()
        .map(|d| Desired {
            values: Some(Vec::new()),
            ..d.clone()
        })
        .collect();
    converge(&p, "example.com", &gone).await.unwrap();
    assert!(f.records("example.com", "MX", "example.com").is_empty());
    assert!(f
        .records("example.com", "TXT", "_verify.example.com")
        .is_empty());
}
