//! Files the Compose steps write into a project's directory on its host: the plan's compose
//! files (uploaded), the `.env` built from the plan's vars and secrets (mode 0600, its
//! content on the command's standard input, never on a command line), and the copy of what
//! was there before, which an undo puts back.

use cutover_exec::quote::quote;
use cutover_exec::{Command, Stdin};

/// Writes `bytes` to `path` on `host` with `mode`: through a temporary name in the same
/// directory and a rename, so compose never reads half a file; the directory is created.
pub fn write_file(host: &str, path: &str, bytes: Vec<u8>, mode: u32) -> Command {
    let part = format!("{path}.cutover-part");
    let dir = parent(path);
    Command::shell(
        host,
        format!(
            "umask 077 && mkdir -p {dir} && cat > {part} && chmod {mode:o} {part} && mv -f {part} {path}",
            dir = quote(&dir),
            part = quote(&part),
            path = quote(path),
        ),
    )
    .stdin(Stdin::Bytes(bytes))
}

/// The `.env` text for `vars` (name, value): one `NAME='value'` a line, which compose reads
/// literally (no interpolation). A value with a `'` is written in double quotes when that
/// is safe too; a value compose could not read back exactly is refused, naming the variable.
pub fn env_text(vars: &[(String, String)]) -> Result<String, String> {
    let mut out = String::from("# Written by cutover from the plan's `env` (vars and secrets).\n");
    for (name, value) in vars {
        if !valid_name(name) {
            return Err(format!(
                "`{name}` is not a valid environment variable name (letters, digits, `_`; not starting with a digit)"
            ));
        }
        if value.contains(['\n', '\r', '\0']) {
            return Err(format!(
                "the value of `{name}` has a line break, which a .env file cannot hold"
            ));
        }
        if !value.contains('\'') {
            out.push_str(&format!("{name}='{value}'\n"));
        } else if !value.contains(['"', '\\', '$']) {
            out.push_str(&format!("{name}=\"{value}\"\n"));
        } else {
            return Err(format!(
                "the value of `{name}` holds both `'` and one of `\"`, `\\`, `$`, which compose would not read back exactly from a .env file"
            ));
        }
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Copies `names` (relative to `dir`, created when missing; files or uploaded directories)
/// that exist into `backup` (relative to `dir`), once:
/// when `backup` exists already (a retried step), the first copy, which holds what was
/// there before the first try, is kept.
pub fn backup(host: &str, dir: &str, backup: &str, names: &[String]) -> Command {
    let mut script = format!(
        "umask 077; mkdir -p {dir} && cd {dir} || exit; b={b}; [ -d \"$b\" ] && exit 0; rm -rf \"$b.part\" && mkdir -p \"$b.part\" || exit",
        dir = quote(dir),
        b = quote(backup)
    );
    for n in names {
        script.push_str(&format!(
            "; if [ -e {n} ]; then cp -pR --parents -- {n} \"$b.part/\" || exit; fi",
            n = quote(n)
        ));
    }
    script.push_str("; mv \"$b.part\" \"$b\"");
    Command::shell(host, script)
}

/// Puts `names` back as `backup` holds them: copied back when it has them (a directory
/// replaced as a whole, so that no uploaded file stays in it), removed when they did not
/// exist before.
pub fn restore(host: &str, dir: &str, backup: &str, names: &[String]) -> Command {
    let mut script = format!(
        "cd {dir} || exit; b={b}; [ -d \"$b\" ] || {{ echo \"no backup $b in {shown}\" >&2; exit 1; }}",
        dir = quote(dir),
        b = quote(backup),
        shown = dir.replace(['"', '\\', '$', '`'], "_"),
    );
    for n in names {
        script.push_str(&format!(
            "; if [ -e \"$b\"/{n} ]; then rm -rf -- {n} && cp -pR -- \"$b\"/{n} {n} || exit; else rm -rf -- {n}; fi",
            n = quote(n)
        ));
    }
    Command::shell(host, script)
}

/// Removes `path` (a file or directory cutover made) on `host`.
pub fn remove(host: &str, path: &str) -> Command {
    Command::new(
        host,
        vec!["rm".into(), "-rf".into(), "--".into(), path.into()],
    )
}

/// Reads `path` on `host` (empty output when it does not exist).
pub fn read(host: &str, path: &str) -> Command {
    Command::shell(host, format!("[ ! -e {p} ] || cat -- {p}", p = quote(path)))
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.into(),
        None => ".".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_directories_are_backed_up_and_restored_whole() {
        let names = ["compose.yaml".to_string(), "web".to_string()];
        let b = backup("new", "/srv/shop", ".cutover/r1-stack", &names).to_string();
        assert!(
            b.contains("if [ -e web ]; then cp -pR --parents -- web \"$b.part/\" || exit; fi"),
            "{b}"
        );
        let r = restore("new", "/srv/shop", ".cutover/r1-stack", &names).to_string();
        assert!(
            r.contains("if [ -e \"$b\"/web ]; then rm -rf -- web && cp -pR -- \"$b\"/web web || exit; else rm -rf -- web; fi"),
            "{r}"
        );
    }

    #[test]
    fn env_values_are_literal_and_never_on_the_command_line() {
        let text = env_text(&[
            ("APP_VERSION".into(), "1.4".into()),
            ("DB_PASSWORD".into(), "pa$$ word#1".into()),
            ("QUOTE".into(), "it's".into()),
        ])
        .unwrap();
        assert_eq!(
            text,
            "# Written by cutover from the plan's `env` (vars and secrets).\nAPP_VERSION='1.4'\nDB_PASSWORD='pa$$ word#1'\nQUOTE=\"it's\"\n"
        );
        let c = write_file("new", "/srv/shop/.env", text.into_bytes(), 0o600);
        assert_eq!(
            c.display_command(),
            "umask 077 && mkdir -p /srv/shop && cat > /srv/shop/.env.cutover-part && chmod 600 /srv/shop/.env.cutover-part && mv -f /srv/shop/.env.cutover-part /srv/shop/.env"
        );
        assert!(!c.to_string().contains("pa$$"));
        assert_eq!(
            env_text(&[("X".into(), "a'b\"c".into())]).unwrap_err(),
            "the value of `X` holds both `'` and one of `\"`, `\\`, `$`, which compose would not read back exactly from a .env file"
        );
        assert!(env_text(&[("1X".into(), "a".into())]).is_err());
    }
}
