//! Redis test data: RESP-encoded commands for `redis-cli --pipe`, and a dataset of mixed
//! types generated in chunks (so a million keys never sit in memory at once).
//!
//! Key `i` of [`mixed`] is, by `i % 10`: a string (0-2), an integer string (3), a hash (4),
//! a list (5), a set (6), a sorted set with fractional scores (7), a stream with a consumer
//! group on every other one (8), a string of binary bytes under a key with a space (9).
//! Three keys in ten get a TTL of one to two hours; one key in twenty lives in database 1.

/// One command in RESP.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n", a.len()).as_bytes());
        out.extend(*a);
        out.extend(b"\r\n");
    }
    out
}

/// The name of key `i` of the mixed dataset.
pub fn mixed_key(i: u64) -> String {
    let kind = match i % 10 {
        0..=2 => "str",
        3 => "int",
        4 => "hash",
        5 => "list",
        6 => "set",
        7 => "zset",
        8 => "stream",
        _ => "bin key",
    };
    format!("{kind}:{i}")
}

/// The database key `i` lives in.
pub fn mixed_db(i: u64) -> u32 {
    u32::from(i % 20 == 19)
}

/// True when key `i` has a TTL.
pub fn mixed_has_ttl(i: u64) -> bool {
    // 30% of every type: the tens digit shifts which of ten consecutive keys expire.
    (i.wrapping_mul(37).wrapping_add(i / 10) % 10) < 3
}

/// The commands creating keys `range` of the mixed dataset (each key's database selected
/// first), for `redis-cli --pipe`.
pub fn mixed(range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut db = u32::MAX;
    for i in range {
        if mixed_db(i) != db {
            db = mixed_db(i);
            out.extend(resp(&[b"SELECT", db.to_string().as_bytes()]));
        }
        let key = mixed_key(i);
        let k = key.as_bytes();
        let n = i.to_string();
        match i % 10 {
            0..=2 => out.extend(resp(&[
                b"SET",
                k,
                format!("value-{i}-{}", "x".repeat((i % 40) as usize)).as_bytes(),
            ])),
            3 => out.extend(resp(&[b"SET", k, n.as_bytes()])),
            4 => {
                let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), k.to_vec()];
                for f in 0..6 {
                    args.push(format!("field{f}").into_bytes());
                    args.push(format!("{i}-{f}").into_bytes());
                }
                out.extend(resp(&args.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            }
            5 => {
                let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), k.to_vec()];
                args.extend((0..6).map(|e| format!("item{}", (i + e) % 4).into_bytes()));
                out.extend(resp(&args.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            }
            6 => {
                let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), k.to_vec()];
                args.extend((0..6).map(|e| format!("m{}", i * 3 + e).into_bytes()));
                out.extend(resp(&args.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            }
            7 => {
                let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), k.to_vec()];
                for e in 0..6u64 {
                    args.push(format!("{}.1", (i + e) % 5).into_bytes());
                    args.push(format!("z{e}").into_bytes());
                }
                out.extend(resp(&args.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            }
            8 => {
                for e in 1..=3u64 {
                    let id = format!("{}-{e}", 1000 + i);
                    out.extend(resp(&[
                        b"XADD",
                        k,
                        id.as_bytes(),
                        b"n",
                        format!("{i}.{e}").as_bytes(),
                    ]));
                }
                if i % 20 == 8 {
                    out.extend(resp(&[b"XGROUP", b"CREATE", k, b"workers", b"0"]));
                }
            }
            _ => out.extend(resp(&[b"SET", k, &[0u8, 255, 10, 13, (i % 251) as u8]])),
        }
        if mixed_has_ttl(i) {
            let ms = 3_600_000 + (i % 3_600_000);
            out.extend(resp(&[b"PEXPIRE", k, ms.to_string().as_bytes()]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_resp_and_mixes_types() {
        assert_eq!(resp(&[b"GET", b"a b"]), b"*2\r\n$3\r\nGET\r\n$3\r\na b\r\n");
        let text = String::from_utf8_lossy(&mixed(0..20)).into_owned();
        for cmd in ["HSET", "RPUSH", "SADD", "ZADD", "XADD", "XGROUP", "PEXPIRE"] {
            assert!(text.contains(cmd), "{cmd} missing");
        }
        for kind in 0..10 {
            let with_ttl = (0..1000)
                .filter(|&i| i % 10 == kind && mixed_has_ttl(i))
                .count();
            assert_eq!(with_ttl, 30, "type {kind}");
        }
    }
}
