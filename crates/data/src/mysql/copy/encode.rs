//! Rows as `LOAD DATA` reads them with its defaults (fields ended by a tab, lines by a
//! newline, `\` escaping, `\N` for NULL), from values read in the binary protocol, so that
//! every value is loaded exactly: integers and decimals as the server printed them, `FLOAT`
//! and `DOUBLE` through their exact bit patterns (the text protocol rounds `FLOAT` to 6
//! digits, which `mysqldump` copies lose), temporal values in full, strings and binary data
//! as the stored bytes (the source session's character set is `binary`).

use mysql::Value;
use std::io::Write;

/// Appends one row (a line) to `out`.
pub fn row(out: &mut Vec<u8>, values: &[Value]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        value(out, v);
    }
    out.push(b'\n');
}

/// Appends one field.
pub fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::NULL => out.extend_from_slice(b"\\N"),
        Value::Bytes(b) => escape(out, b),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        // A FLOAT is exactly representable as a double: its shortest double text parses
        // back to the same double, which converts to the same float without rounding.
        Value::Float(f) => {
            let _ = write!(out, "{:e}", f64::from(*f));
        }
        Value::Double(d) => {
            let _ = write!(out, "{d:e}");
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            let _ = write!(out, "{y:04}-{mo:02}-{d:02}");
            if (*h, *mi, *s, *us) != (0, 0, 0, 0) {
                let _ = write!(out, " {h:02}:{mi:02}:{s:02}.{us:06}");
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            let _ = write!(out, "{sign}{hours:02}:{mi:02}:{s:02}.{us:06}");
        }
    }
}

/// Escapes the bytes `LOAD DATA` would otherwise read as structure.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0 => out.extend_from_slice(b"\\0"),
            b => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(values: &[Value]) -> String {
        let mut out = Vec::new();
        row(&mut out, values);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn every_value_is_written_exactly() {
        assert_eq!(
            line(&[
                Value::Int(-5),
                Value::NULL,
                Value::Bytes(b"".to_vec()),
                Value::Bytes(b"a\tb\nc\\d\0".to_vec()),
                Value::Bytes(b"\\N".to_vec()),
            ]),
            "-5\t\\N\t\ta\\tb\\nc\\\\d\\0\t\\\\N\n"
        );
        assert_eq!(line(&[Value::Float(1.234_567_8)]), "1.2345677614212036e0\n");
        let back: f64 = "1.2345677614212036e0".parse().unwrap();
        assert_eq!(back as f32, 1.234_567_8_f32);
        assert_eq!(line(&[Value::Double(0.1)]), "1e-1\n");
        assert_eq!(
            line(&[
                Value::Date(2024, 2, 29, 0, 0, 0, 0),
                Value::Date(2024, 2, 29, 13, 5, 9, 120),
                Value::Date(0, 0, 0, 0, 0, 0, 0),
            ]),
            "2024-02-29\t2024-02-29 13:05:09.000120\t0000-00-00\n"
        );
        assert_eq!(
            line(&[
                Value::Time(true, 1, 2, 3, 4, 5),
                Value::Time(false, 0, 0, 0, 0, 0)
            ]),
            "-26:03:04.000005\t00:00:00.000000\n"
        );
    }
}
