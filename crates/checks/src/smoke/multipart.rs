//! `multipart/form-data` bodies for `[MultipartFormData]` sections (RFC 7578): text fields
//! and file uploads, a file's path relative to the Hurl file that names it.

use super::parse::{FormPart, FormValue};
use std::path::Path;

/// The `Content-Type` header and body for `parts`; `render` expands a text field's
/// variables; file paths are resolved against `dir`. Errs with a message naming the field.
pub(crate) fn encode(
    parts: &[FormPart],
    dir: &Path,
    render: impl Fn(&str) -> Result<String, String>,
) -> Result<(String, Vec<u8>), String> {
    let mut rendered = Vec::new();
    for part in parts {
        let name = quoted(&part.name);
        let (head, bytes) = match &part.value {
            FormValue::Text(t) => (
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
                render(t)?.into_bytes(),
            ),
            FormValue::File { path, content_type } => {
                let file = dir.join(path);
                let bytes = std::fs::read(&file).map_err(|e| {
                    format!("field `{}`: cannot read {}: {e}", part.name, file.display())
                })?;
                let filename = Path::new(path)
                    .file_name()
                    .map_or_else(|| path.clone(), |f| f.to_string_lossy().into_owned());
                let kind = content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream");
                (
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\nContent-Type: {kind}\r\n\r\n",
                        quoted(&filename)
                    ),
                    bytes,
                )
            }
        };
        rendered.push((head, bytes));
    }
    let boundary = boundary(&rendered);
    let mut body = Vec::new();
    for (head, bytes) in rendered {
        body.extend_from_slice(format!("--{boundary}\r\n{head}").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// A name inside a quoted header parameter: quotes and line breaks escaped (RFC 7578 4.2).
fn quoted(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A boundary that occurs in none of the parts.
fn boundary(parts: &[(String, Vec<u8>)]) -> String {
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    (0u64..)
        .map(|n| format!("cutover-boundary-{n:016x}"))
        .find(|b| {
            parts.iter().all(|(head, bytes)| {
                !contains(head.as_bytes(), b.as_bytes()) && !contains(bytes, b.as_bytes())
            })
        })
        .unwrap_or_else(|| "cutover-boundary".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_file_fields_make_one_body() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "file bytes").unwrap();
        let parts = vec![
            FormPart {
                name: "title".into(),
                line: 1,
                value: FormValue::Text("{{x}}".into()),
            },
            FormPart {
                name: "upload".into(),
                line: 2,
                value: FormValue::File {
                    path: "a.txt".into(),
                    content_type: Some("text/plain".into()),
                },
            },
        ];
        let (kind, body) = encode(&parts, dir.path(), |_| Ok("hello".into())).unwrap();
        let b = "cutover-boundary-0000000000000000";
        assert_eq!(kind, format!("multipart/form-data; boundary={b}"));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!("--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n--{b}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile bytes\r\n--{b}--\r\n")
        );
    }
}
