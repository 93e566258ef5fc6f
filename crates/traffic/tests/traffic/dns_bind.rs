//! The RFC 2136 provider against BIND 9 (primary + secondary with NOTIFY) and Knot.

use super::fixture::{start_bind, ZONE};
use cutover_exec::SecretValue;
use cutover_testbed::dns::{start_knot, TsigKey, Zone};
use cutover_traffic::dns::rfc2136::{serial, Rfc2136, Rfc2136Config};
use cutover_traffic::dns::{corrections, Desired, DnsError, DnsProvider, RecordKey, RecordType};
use std::time::Duration;

fn www() -> RecordKey {
    RecordKey::new("www.example.test", RecordType::A)
}

fn switch_to(value: &str) -> Desired {
    Desired {
        key: www(),
        values: Some(vec![value.to_string()]),
        ttl: Some(60),
        proxied: None,
    }
}

#[tokio::test]
async fn an_update_changes_the_records_in_one_serial_and_a_second_run_changes_nothing() {
    let l = start_bind(300);
    let p = l.provider();
    let (old, new) = (l.addr("old"), l.addr("new"));
    let keys = [
        www(),
        RecordKey::new("static.example.test", RecordType::Cname),
    ];
    let before = p.read(ZONE, &keys).await.unwrap();
    let www_before = before[0].clone().expect("www exists");
    assert_eq!(www_before.values, vec![old.clone()]);
    assert_eq!(www_before.ttl, 300);
    assert_eq!(
        before[1].as_ref().map(|s| s.values.clone()),
        Some(vec!["www.example.test".to_string()])
    );

    let primary = l.bind.primary.socket().parse().unwrap();
    let serial_before = serial(primary, ZONE, Duration::from_secs(2)).await.unwrap();
    let want = [
        switch_to(&new),
        Desired {
            key: keys[1].clone(),
            values: Some(vec!["api.example.test.".into()]),
            ttl: None,
            proxied: None,
        },
    ];
    let fixes = corrections(&p, &before, &want).unwrap();
    assert_eq!(fixes.len(), 2, "{fixes:?}");
    assert!(
        fixes[0].msg.contains(&format!("{old} -> {new}")) && fixes[0].msg.contains("ttl 300 -> 60"),
        "{}",
        fixes[0].msg
    );
    p.apply(ZONE, &fixes).await.unwrap();

    let after = p.read(ZONE, &keys).await.unwrap();
    assert_eq!(after[0].as_ref().unwrap().values, vec![new.clone()]);
    assert_eq!(after[0].as_ref().unwrap().ttl, 60);
    assert_eq!(
        after[1].as_ref().unwrap().values,
        vec!["api.example.test".to_string()]
    );
    // Both record sets changed in one update message: one serial.
    assert_eq!(
        serial(primary, ZONE, Duration::from_secs(2)).await.unwrap(),
        serial_before + 1
    );
    // Idempotent: nothing left to do.
    assert!(corrections(&p, &after, &want).unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_key_a_missing_key_an_unserved_zone_and_an_absent_record_are_clear_errors() {
    let l = start_bind(300);
    let new = l.addr("new");
    let mut wrong = l.tsig();
    wrong.secret = SecretValue::new(TsigKey::generate("cutover").unwrap().secret);
    let p = l.provider_with(Some(wrong), &[ZONE]);
    let current = p.read(ZONE, &[www()]).await.unwrap();
    let fixes = corrections(&p, &current, &[switch_to(&new)]).unwrap();
    let e = p.apply(ZONE, &fixes).await.unwrap_err().to_string();
    assert!(
        e.contains("TSIG key `cutover`")
            && e.contains("was rejected")
            && e.contains("secret differs"),
        "{e}"
    );
    assert!(!e.contains("truncated"), "{e}");

    let mut unknown = l.tsig();
    unknown.name = "nobody".into();
    let e = l
        .provider_with(Some(unknown), &[ZONE])
        .apply(ZONE, &fixes)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not know this key"), "{e}");

    let e = l
        .provider_with(None, &[ZONE])
        .apply(ZONE, &fixes)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unsigned update") || e.contains("REFUSED"),
        "{e}"
    );

    let other = l.provider_with(Some(l.tsig()), &["other.test"]);
    let key = RecordKey::new("www.other.test", RecordType::A);
    let e = other
        .read("other.test", &[key])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not serve zone other.test"), "{e}");

    let p = l.provider();
    let absent = RecordKey::new("nothere.example.test", RecordType::A);
    let current = p.read(ZONE, std::slice::from_ref(&absent)).await.unwrap();
    assert_eq!(current, vec![None]);
    let want = Desired {
        key: absent,
        values: Some(vec![new]),
        ttl: None,
        proxied: None,
    };
    let e = corrections(&p, &current, &[want]).unwrap_err();
    assert!(matches!(e, DnsError::Absent { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("nothere.example.test A does not exist in zone example.test"),
        "{e}"
    );
    // Nothing above changed the zone.
    assert_eq!(
        p.read(ZONE, &[www()]).await.unwrap()[0]
            .as_ref()
            .unwrap()
            .values,
        vec![l.addr("old")]
    );
}

#[tokio::test]
async fn a_server_that_stops_answering_mid_update_is_reported_as_unknown_outcome() {
    let l = start_bind(300);
    let p = l.provider();
    let current = p.read(ZONE, &[www()]).await.unwrap();
    let fixes = corrections(&p, &current, &[switch_to(&l.addr("new"))]).unwrap();
    let pid = l.bind.primary.pid.to_string();
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    assert!(stop.success());
    let result = p.apply(ZONE, &fixes).await;
    std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap();
    let e = result.unwrap_err();
    assert!(matches!(e, DnsError::Unknown { .. }), "{e}");
    assert!(
        e.to_string().contains("may or may not have been applied"),
        "{e}"
    );
}

#[tokio::test]
async fn knot_takes_the_same_signed_update() {
    let lab = cutover_testbed::Lab::builder()
        .host("old")
        .host("dns")
        .start()
        .unwrap();
    let key = TsigKey::generate("cutover").unwrap();
    let zone = Zone::new(ZONE, 300).record("www", "A", "192.0.2.1");
    let knot = start_knot(lab.host("dns"), &[zone], &key).unwrap();
    let p = Rfc2136::new(Rfc2136Config {
        server: knot.socket().parse().unwrap(),
        zones: vec![ZONE.into()],
        key: Some(cutover_traffic::dns::tsig::TsigKey {
            name: key.name.clone(),
            algorithm: key.algorithm.clone(),
            secret: SecretValue::new(key.secret.clone()),
        }),
        timeout: Duration::from_secs(2),
    });
    let current = p.read(ZONE, &[www()]).await.unwrap();
    let fixes = corrections(&p, &current, &[switch_to("192.0.2.2")]).unwrap();
    p.apply(ZONE, &fixes).await.unwrap();
    let after = p.read(ZONE, &[www()]).await.unwrap();
    assert_eq!(
        after[0].as_ref().unwrap().values,
        vec!["192.0.2.2".to_string()]
    );
    assert_eq!(after[0].as_ref().unwrap().ttl, 60);
}
