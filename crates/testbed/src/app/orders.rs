//! The write API of the app's database mode: `POST /api/orders` `{"note": "..."}` answers
//! 201 `{"id": N}` once the row is committed, or 500 `{"error": "...", "code": "..."}` with
//! the database's own error; `GET /api/orders/ID` answers the row.

use super::db::{Database, DbFailure};
use super::http::Response;
use serde_json::json;

const NO_DATABASE: &str =
    "no database configured: start the app with DATABASE_URL (or PGHOST...) in its environment";

/// `POST /api/orders`.
pub(super) fn create(db: Option<&Database>, body: &[u8]) -> Response {
    let Some(db) = db else {
        return Response::json(503, json!({ "error": NO_DATABASE }));
    };
    let note = match note_of(body) {
        Ok(note) => note,
        Err(message) => return Response::json(400, json!({ "error": message })),
    };
    match db.insert_order(note.as_deref()) {
        Ok(id) => Response::json(201, json!({ "id": id })),
        Err(failure) => failed(failure),
    }
}

/// `GET /api/orders/ID`.
pub(super) fn read(db: Option<&Database>, id: &str) -> Response {
    let Some(db) = db else {
        return Response::json(503, json!({ "error": NO_DATABASE }));
    };
    let Ok(id) = id.parse::<i64>() else {
        return Response::json(
            400,
            json!({ "error": format!("order id must be a whole number, found {id:?}") }),
        );
    };
    match db.order(id) {
        Ok(Some(row)) => Response::json(200, row),
        Ok(None) => Response::json(404, json!({ "error": format!("no order {id}") })),
        Err(failure) => failed(failure),
    }
}

fn failed(failure: DbFailure) -> Response {
    Response::json(
        500,
        json!({ "error": failure.message, "code": failure.code }),
    )
}

/// The optional `note` of a request body; an empty body is an order without a note.
fn note_of(body: &[u8]) -> Result<Option<String>, String> {
    const SHAPE: &str = r#"the body must be a JSON object like {"note": "text"}"#;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("{SHAPE}: {e}"))?;
    match value.get("note") {
        _ if !value.is_object() => Err(SHAPE.to_string()),
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{SHAPE}: \"note\" must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_or_refused_with_the_expected_shape() {
        assert_eq!(note_of(b""), Ok(None));
        assert_eq!(note_of(br#"{"note":"a"}"#), Ok(Some("a".into())));
        assert_eq!(note_of(br#"{"other":1}"#), Ok(None));
        assert_eq!(
            note_of(br#"{"note":3}"#).unwrap_err(),
            r#"the body must be a JSON object like {"note": "text"}: "note" must be a string"#
        );
        assert_eq!(
            note_of(b"[1]").unwrap_err(),
            r#"the body must be a JSON object like {"note": "text"}"#
        );
        assert!(note_of(b"{").unwrap_err().starts_with(
            r#"the body must be a JSON object like {"note": "text"}: EOF while parsing"#
        ));
    }

    #[test]
    fn without_a_database_the_api_says_how_to_configure_one() {
        let resp = create(None, b"{}");
        assert_eq!(resp.status, 503);
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(body["error"], NO_DATABASE);
        assert_eq!(read(None, "1").status, 503);
    }
}
