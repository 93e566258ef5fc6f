//! Malformed plans, the `mysql.*` kinds: databases, references to earlier steps, secrets kept
//! off the fields that reach command lines.

use crate::malformed::Case;

/// A plan with hosts `old` and `new`, secret `pw`, and steps from line 10 (`a` first, its
/// fields from line 12).
macro_rules! mysql {
    ($fields:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[hosts.new]\nssh = \"new\"\n[secrets.pw]\nenv = \"PW\"\n",
            "[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"a\"\n",
            $fields
        )
    };
}

pub const CASES: &[Case] = &[
    Case {
        name: "mysql.copy with no database and one named twice",
        plan: mysql!("kind = \"mysql.copy\"\nsource = { host = \"old\" }\ntarget = { host = \"new\" }\ndatabases = []\n[[stages.steps]]\nid = \"b\"\nkind = \"mysql.verify\"\nsource = { host = \"old\" }\ntarget = { host = \"new\" }\ndatabases = [\"shop\", \"shop\", \"a.b\"]\n"),
        expect: &[
            ("cutover.toml:15:13: `databases` of step `a` is empty", Some("name the databases to move, e.g. `databases = [\"shop\"]`")),
            ("cutover.toml:21:23: database `shop` is named twice in step `b`", Some("name each database once")),
            ("cutover.toml:21:31: `a.b` in step `b` is not a database name", Some("use 1 to 64 characters without `/`, `\\`, `.`")),
        ],
    },
    Case {
        name: "mysql.sync naming a step of another kind, mysql.switch an unknown one",
        plan: mysql!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"true\"\n[[stages.steps]]\nid = \"b\"\nkind = \"mysql.sync\"\ncopy = \"a\"\n[[stages.steps]]\nid = \"c\"\nkind = \"mysql.switch\"\nsync = \"replicat\"\n"),
        expect: &[
            ("cutover.toml:18:9: step `a` is a `run` step, not `mysql.copy`", Some("name the id of a mysql.copy step in `copy`")),
            ("cutover.toml:22:9: no step `replicat` for `sync`", Some("mysql.sync steps: b")),
        ],
    },
    Case {
        name: "mysql endpoints with a secret in the address and a password that names no secret",
        plan: mysql!("kind = \"mysql.verify\"\nsource = { host = \"old\", address = \"{{ secrets.pw }}\" }\ntarget = { host = \"nwe\", password = \"{{ secrets.pq }}\" }\ndatabases = [\"shop\"]\nworkers = 99\n"),
        expect: &[
            ("cutover.toml:13:37: `address` of step `a` uses secret `pw` on a command line, where `ps` would show it", Some("pass it through the environment: `env = { PW = \"{{ secrets.pw }}\" }`, for a program that reads $PW itself or from standard input (`printf '%s' \"$PW\" | PROGRAM`); an argument such as --password=\"$PW\" is as visible in `ps`")),
            ("cutover.toml:14:20: unknown host `nwe`", Some("did you mean `new`?")),
            ("cutover.toml:14:38: unknown secret `pq`", Some("did you mean `pw`?")),
            ("cutover.toml:16:11: `workers` of step `a` must be an integer from 1 to 32, found 99", Some("workers are from 1 to 32; about the server's cores suits most")),
        ],
    },
];
