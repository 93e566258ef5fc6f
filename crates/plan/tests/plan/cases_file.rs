//! Malformed plans, part 1: TOML syntax, the top level, `[hosts]`, `[secrets]`, `[ssh]`.

use crate::malformed::Case;

pub const CASES: &[Case] = &[
    // --- TOML syntax: the parser stops at the first, which is located and explained ---
    Case {
        name: "unterminated string",
        plan: "name = \"migration\n[hosts.old]\nssh = \"old\"\n",
        expect: &[(
            "cutover.toml:1:18: unterminated string",
            Some("close the string with a matching quote on the same line, or use \"\"\"...\"\"\" for text spanning lines"),
        )],
    },
    Case {
        name: "unterminated string at the end of the file",
        plan: "name = \"m\"\ndescription = \"café",
        expect: &[("cutover.toml:2:15: unterminated string", None)],
    },
    Case {
        name: "duplicate key",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
ssh = "old2"
"#,
        expect: &[(
            "cutover.toml:4:1: duplicate key `ssh`",
            Some("it is first defined at line 3, column 1; remove one of the two definitions"),
        )],
    },
    Case {
        name: "duplicate table",
        plan: r#"name = "m"
[hosts.old]
ssh = "a"

[hosts.old]
ssh = "b"
"#,
        expect: &[(
            "cutover.toml:5:1: duplicate table `[hosts.old]`",
            Some("it is first defined at line 2, column 1; merge the two tables into one"),
        )],
    },
    Case {
        name: "bare datetime value",
        plan: r#"name = "m"
[[stages]]
name = "s"
[[stages.steps]]
id = "w"
kind = "wait"
until = 2026-12-01T10:00:00Z
"#,
        expect: &[(
            "cutover.toml:7:9: TOML syntax error: dates and times must be quoted",
            Some("write it as a string: \"2026-12-01T10:00:00Z\""),
        )],
    },
    Case {
        name: "invalid number",
        plan: "name = \"m\"\n[hosts.old]\nssh = \"old\"\nport = 22x\n",
        expect: &[("cutover.toml:4:8: TOML syntax error: invalid number", None)],
    },
    Case {
        name: "bare duration",
        plan: r#"name = "m"
[[stages]]
name = "s"
[[stages.steps]]
id = "w"
kind = "wait"
duration = 30s
"#,
        expect: &[(
            "cutover.toml:7:12: TOML syntax error: invalid number",
            Some("quote times and durations: \"30s\", \"2026-12-01T10:00:00Z\""),
        )],
    },
    Case {
        name: "invalid escape",
        plan: "name = \"m\"\n[vars]\ndir = \"C:\\data\"\n",
        expect: &[(
            "cutover.toml:3:10: invalid escape `\\d` in a string",
            Some("write a backslash as `\\\\`, or use a 'literal string' in which backslashes are plain"),
        )],
    },
    Case {
        name: "unexpected character",
        plan: "name = \"m\"\nport = ²\n",
        expect: &[("cutover.toml:2:8: TOML syntax error: unexpected character `²`", None)],
    },
    Case {
        name: "value missing at the end of the file",
        plan: "name = \"m\"\ndescription =",
        expect: &[("cutover.toml:2:14: TOML syntax error: unexpected end of file", None)],
    },
    Case {
        name: "unclosed table header",
        plan: "name = \"m\"\n[hosts.old\nssh = \"old\"\n",
        expect: &[(
            "cutover.toml:2:11: TOML syntax error: expected a right bracket, found a newline",
            None,
        )],
    },
    // --- the top level ---
    Case {
        name: "empty file",
        plan: "",
        expect: &[
            ("cutover.toml:1:1: the plan is missing the required field `name`", None),
            ("cutover.toml:1:1: the plan has no `[hosts]`", None),
            ("cutover.toml:1:1: the plan has no stages", None),
        ],
    },
    Case {
        name: "missing name",
        plan: r#"description = "no name"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:1:1: the plan is missing the required field `name`",
            Some("add `name = ...` to the plan"),
        )],
    },
    Case {
        name: "missing hosts",
        plan: r#"name = "m"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:1:1: the plan has no `[hosts]`",
            Some("add at least one host, e.g. `[hosts.old]` with `ssh = \"root@old.example.com\"`"),
        )],
    },
    Case {
        name: "missing stages",
        plan: "name = \"m\"\n[hosts.old]\nssh = \"old\"\n",
        expect: &[(
            "cutover.toml:1:1: the plan has no stages",
            Some("add a stage with `[[stages]]`, `name = \"preflight\"`, and steps under `[[stages.steps]]`"),
        )],
    },
    Case {
        name: "unknown top-level field with did-you-mean",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[secret.pw]
env = "PW"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:2: unknown field `secret` in the plan",
            Some("did you mean `secrets`?"),
        )],
    },
    Case {
        name: "unknown top-level field far from any known",
        plan: r#"name = "m"
owner = "ops"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:2:1: unknown field `owner` in the plan",
            None,
        )],
    },
    Case {
        name: "wrong types at the top level",
        plan: r#"name = ["m"]
description = 3
vars = { app_dir = 1 }
[[hosts]]
ssh = "old"
[stages]
name = "s"
"#,
        expect: &[
            ("cutover.toml:1:8: `name` of the plan must be a string, found an array", None),
            ("cutover.toml:2:15: `description` of the plan must be a string, found an integer", None),
            ("cutover.toml:3:20: `app_dir` in `vars` of the plan must be a string, found an integer", None),
            ("cutover.toml:4:1: `hosts` must be a table, found an array", None),
            ("cutover.toml:6:1: `stages` must be an array of tables (`[[stages]]`), found a table", None),
        ],
    },
    Case {
        name: "unknown fields in ssh and journal",
        plan: r#"name = "m"
[ssh]
timeout = 5
connect_timeout = "5s"
[journal]
file = "j.db"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[
            ("cutover.toml:3:1: unknown field `timeout` in [ssh]", Some("did you mean `connect_timeout`?")),
            (
                "cutover.toml:4:20: `connect_timeout` of [ssh] must be an integer from 1 to 3600, found a string",
                None,
            ),
            ("cutover.toml:6:1: unknown field `file` in [journal]", Some("known fields: path, url")),
        ],
    },
    Case {
        name: "a journal URL with a literal password",
        plan: r#"journal = "postgres://cutover:hunter2@db:5432/j"
name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:1:12: the journal URL is invalid: a password is never written in the URL: put it in `[secrets.NAME]` and write `USER:{{ secrets.NAME }}@HOST`",
            Some("write it as postgres://USER:{{ secrets.NAME }}@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=ca.pem"),
        )],
    },
    Case {
        name: "a journal URL naming an undeclared secret, and both path and url",
        plan: r#"journal = "postgres://cutover:{{ secrets.journal_pwd }}@db/j?sslmode=disable"
name = "m"
[hosts.old]
ssh = "old"
[secrets.journal_pw]
env = "PW"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:1:12: the journal URL's password is secret `journal_pwd`, which is not declared",
            Some("did you mean `journal_pw`?"),
        )],
    },
    Case {
        name: "a journal table with both path and url",
        plan: r#"name = "m"
[journal]
path = "j.db"
url = "postgres://me@db/j?sslmode=require"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[
            (
                "cutover.toml:4:8: the journal URL is invalid: sslmode `require` is not supported: use `verify-full` (the server's certificate and name checked) or `disable` (plain TCP, on a network you trust)",
                Some("write it as postgres://USER:{{ secrets.NAME }}@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=ca.pem"),
            ),
            (
                "cutover.toml:4:8: `[journal]` has both `path` and `url`",
                Some("keep `path` for a journal file next to the plan, or `url` for a shared PostgreSQL journal"),
            ),
        ],
    },
    // --- hosts ---
    Case {
        name: "host with neither ssh nor local",
        plan: r#"name = "m"
[hosts.old]
user = "deploy"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:2:8: host `old` has neither `ssh` nor `local = true`",
            Some("add `ssh = \"user@server\"` (or an alias from your SSH config), or `local = true`"),
        )],
    },
    Case {
        name: "host with both ssh and local",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
local = true
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:3:8: host `old` sets both `ssh` and `local = true`",
            Some("keep one: `ssh` for a remote host, `local = true` for this machine"),
        )],
    },
    Case {
        name: "host port of the wrong type",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
port = "2222"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:9: `port` of host `old` must be an integer from 1 to 65535, found a string",
            None,
        )],
    },
    Case {
        name: "host port out of range",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
port = -1
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:8: `port` of host `old` must be an integer from 1 to 65535, found -1",
            None,
        )],
    },
    Case {
        name: "unknown host field with did-you-mean",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
jumphost = "bastion"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:1: unknown field `jumphost` in host `old`",
            Some("did you mean `jump`?"),
        )],
    },
    Case {
        name: "host key that is not a SHA256 fingerprint",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
host_key = "MD5:12:f8:7e"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:13: `host_key` of host `old` must be a SHA256 fingerprint",
            Some("copy it from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host: it starts with `SHA256:`"),
        )],
    },
    Case {
        name: "host that is not a table and hosts of wrong types",
        plan: r#"name = "m"
[hosts]
old = "old.example.com"
new = { ssh = 22, local = "yes", sudo = 1 }
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[
            ("cutover.toml:3:8: host `old` must be a table, found a string", None),
            ("cutover.toml:4:15: `ssh` of host `new` must be a string, found an integer", None),
            ("cutover.toml:4:28: `local` of host `new` must be true or false, found a string", None),
            ("cutover.toml:4:41: `sudo` of host `new` must be true or false, found an integer", None),
        ],
    },
    // --- secrets ---
    Case {
        name: "secret with no source",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[secrets.db_password]
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:10: secret `db_password` has no source",
            Some("set one of `env = \"VAR\"`, `file = \"path\"` or `command = \"pass show ...\"`"),
        )],
    },
    Case {
        name: "secret with two sources",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[secrets.db_password]
file = "pw.txt"
env = "DB_PASSWORD"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:6:8: secret `db_password` has 2 sources; it needs exactly one",
            Some("keep one of `env`, `file` and `command`"),
        )],
    },
    Case {
        name: "secret with an unknown field",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[secrets.db_password]
command = "pass show db"
envv = "DB_PASSWORD"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:6:1: unknown field `envv` in secret `db_password`",
            Some("did you mean `env`?"),
        )],
    },
];
