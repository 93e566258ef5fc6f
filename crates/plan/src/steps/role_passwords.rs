//! `role_passwords` of `postgres.copy` and `postgres.sync`: passwords for the login roles the
//! step creates with `roles = true` (the source's passwords are never read). Each value must
//! come from the plan's secrets: a password written in the plan would sit in version control.

use crate::problem::{Problem, Problems};
use crate::read::Fields;
use crate::read::FromToml;
use crate::template::Template;
use std::collections::BTreeMap;
use toml_span::value::ValueInner;

/// Role name → the template of its password (`{{ secrets.NAME }}`).
pub type RolePasswords = BTreeMap<String, Template>;

/// Reads `role_passwords = { app = "{{ secrets.APP_DB_PW }}" }`; `roles` is the step's
/// `roles` flag, which the passwords need.
pub(crate) fn read(f: &mut Fields<'_>, roles: bool, p: &mut Problems) -> RolePasswords {
    let what = format!("`role_passwords` of {}", f.owner());
    let mut out = BTreeMap::new();
    let Some(mut value) = f.take_raw("role_passwords") else {
        return out;
    };
    let span = value.span;
    match value.take() {
        ValueInner::Table(table) => {
            for (key, mut v) in table {
                let item = format!("`{}` in {what}", key.name);
                let Some(t) = Template::read(&mut v, &item, p) else {
                    continue;
                };
                if !t.uses_secrets() {
                    p.push(
                        Problem::new(t.span, format!("{item} is not a secret"), "written in the plan")
                            .help("write \"{{ secrets.NAME }}\" and declare `[secrets.NAME]`: a password in the plan would sit in version control"),
                    );
                    continue;
                }
                out.insert(key.name.into_owned(), t);
            }
        }
        other => crate::read::wrong_type(span, &what, "a table", &other, p),
    }
    if !roles && !out.is_empty() {
        p.push(
            Problem::new(
                span,
                format!("{what} needs `roles = true`"),
                "no role is created",
            )
            .help("set `roles = true`: the passwords are given to the roles the step creates"),
        );
    }
    out
}
