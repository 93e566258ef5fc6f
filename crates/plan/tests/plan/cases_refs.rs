//! Malformed plans, part 3: wait steps (durations, times, `after` references) and `{{ }}`
//! references in commands and environments, including secrets kept off command lines.

use crate::malformed::Case;

/// A plan whose one step (its `[[stages.steps]]` on line 6) is a wait with `fields` from line 9.
macro_rules! wait {
    ($fields:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[[stages]]\nname = \"s\"\n",
            "[[stages.steps]]\nid = \"w\"\nkind = \"wait\"\n",
            $fields
        )
    };
}

/// A plan with host `old`, secret `pw`, var `dir` and step `a` with `fields` from line 12.
macro_rules! step {
    ($fields:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[secrets.pw]\nenv = \"PW\"\n",
            "[vars]\ndir = \"/srv\"\n[[stages]]\nname = \"s\"\n[[stages.steps]]\n",
            "id = \"a\"\n",
            $fields
        )
    };
}

const MODES: &str = "use exactly one of: `duration = \"30s\"`, `until = \"2026-12-01T10:00:00Z\"`, or `after = \"STEP\"` with `delay = \"48h\"`";

/// A plan with a sync, a switch (`reverse` given by `$reverse`) and finish steps from line 23.
macro_rules! finish {
    ($reverse:literal, $steps:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[hosts.new]\nssh = \"new\"\n[[stages]]\nname = \"s\"\n",
            "[[stages.steps]]\nid = \"replicate\"\nkind = \"postgres.sync\"\n",
            "source = { host = \"old\", db = \"app\" }\ntarget = { host = \"new\", db = \"app\" }\n",
            "[[stages.steps]]\nid = \"db\"\nkind = \"postgres.switch\"\nsync = \"replicate\"\nreverse = ",
            $reverse,
            "\n[[stages.steps]]\nid = \"note\"\nkind = \"run\"\nhosts = [\"old\"]\ncommand = \"true\"\n",
            $steps
        )
    };
}

pub const CASES: &[Case] = &[
    // --- role_passwords ---
    Case {
        name: "role passwords written in the plan, or without roles = true",
        plan: concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[hosts.new]\nssh = \"new\"\n[secrets.pw]\nenv = \"PW\"\n[[stages]]\nname = \"s\"\n",
            "[[stages.steps]]\nid = \"copy\"\nkind = \"postgres.copy\"\n",
            "source = { host = \"old\", db = \"app\" }\ntarget = { host = \"new\", db = \"app\" }\n",
            "roles = true\nrole_passwords = { app = \"hunter2\", ops = \"{{ secrets.pwd }}\" }\n",
            "[[stages.steps]]\nid = \"sync\"\nkind = \"postgres.sync\"\n",
            "source = { host = \"old\", db = \"app2\" }\ntarget = { host = \"new\", db = \"app2\" }\n",
            "role_passwords = { app = \"{{ secrets.pw }}\" }\n",
        ),
        expect: &[
            ("cutover.toml:16:27: `app` in `role_passwords` of step `copy` is not a secret", Some("write \"{{ secrets.NAME }}\" and declare `[secrets.NAME]`: a password in the plan would sit in version control")),
            ("cutover.toml:16:44: unknown secret `pwd`", Some("did you mean `pw`?")),
            ("cutover.toml:22:18: `role_passwords` of step `sync` needs `roles = true`", Some("set `roles = true`: the passwords are given to the roles the step creates")),
        ],
    },
    // --- postgres.finish ---
    Case {
        name: "finish naming an unknown step, a run step, and with an unknown source mode",
        plan: finish!("true", "[[stages.steps]]\nid = \"f1\"\nkind = \"postgres.finish\"\nswitch = \"dbs\"\n[[stages.steps]]\nid = \"f2\"\nkind = \"postgres.finish\"\nswitch = \"note\"\nsource = \"writeable\"\n"),
        expect: &[
            ("cutover.toml:26:11: no step `dbs` to finish", Some("postgres.switch steps: db")),
            ("cutover.toml:30:11: step `note` is a `run` step, not `postgres.switch`", Some("name the id of the postgres.switch step whose reverse replication ends")),
            ("cutover.toml:31:11: `source` of step `f2` is `writeable`, which is not known", Some("did you mean `writable`?")),
        ],
    },
    Case {
        name: "finish of a switch without reverse",
        plan: finish!("false", "[[stages.steps]]\nid = \"f\"\nkind = \"postgres.finish\"\nswitch = \"db\"\n"),
        expect: &[(
            "cutover.toml:26:11: step `f` finishes `db`, which keeps no reverse replication to end",
            Some("set `reverse = true` on the switch, or remove this step (a switch without `reverse` leaves nothing running)"),
        )],
    },
    // --- [downtime] ---
    Case {
        name: "downtime naming an unknown check and step",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"true\"\n[checks.site]\nkind = \"tcp\"\naddress = \"127.0.0.1:80\"\n[downtime]\ncheck = \"sit\"\nsteps = [\"b\", \"a\"]\n"),
        expect: &[
            ("cutover.toml:19:10: [downtime] names unknown check `sit`", Some("did you mean `site`?")),
            ("cutover.toml:20:11: [downtime] names unknown step `b`", Some("did you mean `a`?")),
        ],
    },
    Case {
        name: "downtime probing too often, with an unknown field",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"true\"\n[checks.site]\nkind = \"tcp\"\naddress = \"127.0.0.1:80\"\n[downtime]\ncheck = \"site\"\ninterval = \"1ms\"\nsetle = \"1s\"\n"),
        expect: &[
            ("cutover.toml:20:13: `interval` of [downtime] must be a duration from 10ms to 10s, found \"1ms\"", Some("probe every 50ms-1s: each request must finish or time out well within the step")),
            ("cutover.toml:21:1: unknown field `setle` in [downtime]", Some("did you mean `settle`?")),
        ],
    },
    // --- wait ---
    Case {
        name: "wait with nothing to wait for",
        plan: wait!(""),
        expect: &[("cutover.toml:6:1: step `w` says nothing to wait for", Some(MODES))],
    },
    Case {
        name: "wait mixing modes points at the second",
        plan: wait!("duration = \"1m\"\nuntil = \"2026-12-01T10:00:00Z\"\n"),
        expect: &[("cutover.toml:10:10: step `w` mixes `duration`, `until` and `after`", Some(MODES))],
    },
    Case {
        name: "wait delay without after",
        plan: wait!("delay = \"48h\"\n"),
        expect: &[(
            "cutover.toml:9:10: step `w` sets `delay` without `after`",
            Some("add `after = \"STEP\"` naming an earlier step, or use `duration` to wait from when this step starts"),
        )],
    },
    Case {
        name: "wait after without delay",
        plan: wait!("after = \"w\"\n"),
        expect: &[(
            "cutover.toml:9:10: step `w` sets `after` without `delay`",
            Some("add `delay = \"48h\"` (or \"0s\" to wait only for that step to finish)"),
        )],
    },
    Case {
        name: "wait after a later step",
        plan: wait!("after = \"switch\"\ndelay = \"48h\"\n[[stages.steps]]\nid = \"switch\"\nkind = \"approve\"\n"),
        expect: &[(
            "cutover.toml:9:10: step `w` waits after `switch`, which is not an earlier step",
            Some("`switch` (line 12) runs after this step; move this wait below it"),
        )],
    },
    Case {
        name: "wait after an unknown step",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "switch"
kind = "approve"
[[stages.steps]]
id = "w"
kind = "wait"
after = "swich"
delay = "48h"
"#,
        expect: &[(
            "cutover.toml:12:10: step `w` waits after `swich`, which is not an earlier step",
            Some("did you mean `switch`?"),
        )],
    },
    Case {
        name: "wait after itself",
        plan: wait!("after = \"w\"\ndelay = \"1s\"\n"),
        expect: &[(
            "cutover.toml:9:10: step `w` waits after `w`, which is not an earlier step",
            Some("a step cannot wait after itself; `after` must name a step that runs before this one"),
        )],
    },
    Case {
        name: "wait until an invalid time",
        plan: wait!("until = \"next tuesday\"\n"),
        expect: &[(
            "cutover.toml:9:10: `until` of step `w` is not a valid time: timestamp format is invalid",
            Some("write an RFC 3339 time in UTC, such as \"2026-12-01T10:00:00Z\""),
        )],
    },
    Case {
        name: "duration without a unit",
        plan: wait!("duration = 30\n"),
        expect: &[(
            "cutover.toml:9:12: `duration` of step `w` must be a duration such as \"30s\", \"5m\" or \"48h\", found an integer",
            Some("durations carry a unit: write \"30s\""),
        )],
    },
    Case {
        name: "bad duration string",
        plan: wait!("duration = \"ten minutes\"\n"),
        expect: &[(
            "cutover.toml:9:13: `duration` of step `w` is not a valid duration: expected number at 0",
            Some("write a number with a unit: \"500ms\", \"30s\", \"5m\", \"2h\", \"7d\""),
        )],
    },
    // --- secrets stay off command lines ---
    Case {
        name: "secret used in a command",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"psql -W {{ secrets.pw }}\"\n"),
        expect: &[(
            "cutover.toml:14:20: `command` of step `a` uses secret `pw` on a command line, where `ps` would show it",
            Some("`psql` reads its password from $PGPASSWORD: set `env = { PGPASSWORD = \"{{ secrets.pw }}\" }` and leave it off the command line (an argument such as -p\"$PGPASSWORD\" is as visible in `ps`)"),
        )],
    },
    Case {
        name: "secret given to mysql: the hint is MYSQL_PWD, never -p\"$VAR\"",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"mysql -uroot -p{{ secrets.pw }} app < dump.sql\"\n"),
        expect: &[(
            "cutover.toml:14:27: `command` of step `a` uses secret `pw` on a command line, where `ps` would show it",
            Some("`mysql` reads its password from $MYSQL_PWD: set `env = { MYSQL_PWD = \"{{ secrets.pw }}\" }` and leave it off the command line (an argument such as -p\"$MYSQL_PWD\" is as visible in `ps`)"),
        )],
    },
    Case {
        name: "secret given to docker login: the hint is standard input",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"docker login -u ci -p {{ secrets.pw }} registry.example\"\n"),
        expect: &[(
            "cutover.toml:14:34: `command` of step `a` uses secret `pw` on a command line, where `ps` would show it",
            Some("pass it through the environment and into `docker` on standard input: `env = { PW = \"{{ secrets.pw }}\" }` and `printf '%s' \"$PW\" | docker login --password-stdin ...` (printf is a shell builtin: no command line shows it)"),
        )],
    },
    Case {
        name: "secret given to an unknown program: environment or standard input",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"./deploy --token {{ secrets.pw }}\"\n"),
        expect: &[(
            "cutover.toml:14:29: `command` of step `a` uses secret `pw` on a command line, where `ps` would show it",
            Some("pass it through the environment: `env = { PW = \"{{ secrets.pw }}\" }`, for a program that reads $PW itself or from standard input (`printf '%s' \"$PW\" | PROGRAM`); an argument such as --password=\"$PW\" is as visible in `ps`"),
        )],
    },
    Case {
        name: "secret used in check and undo",
        plan: step!("kind = \"pipe\"\nfrom = { host = \"old\", command = \"cat\" }\nto = { host = \"old\", command = \"cat\" }\ncheck = \"test {{secrets.pw}}\"\nundo = \"rm {{ secrets.pw }}\"\n"),
        expect: &[
            ("cutover.toml:15:15: `check` of step `a` uses secret `pw` on a command line, where `ps` would show it", None),
            ("cutover.toml:16:12: `undo` of step `a` uses secret `pw` on a command line, where `ps` would show it", None),
        ],
    },
    Case {
        name: "secret in env is fine, unknown secret is not",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"psql\"\nenv = { PGPASSWORD = \"{{ secrets.pw }}\", TOKEN = \"{{ secrets.api_token }}\" }\n"),
        expect: &[("cutover.toml:15:51: unknown secret `api_token`", Some("define it in `[secrets]`, or use one of: pw"))],
    },
    // --- references ---
    Case {
        name: "unknown var and host in a template",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"ls {{ vars.dri }} {{ hosts.olld.address }}\"\n"),
        expect: &[
            ("cutover.toml:14:15: unknown var `dri`", Some("did you mean `dir`?")),
            ("cutover.toml:14:30: unknown host `olld`", Some("did you mean `old`?")),
        ],
    },
    Case {
        name: "unclosed reference",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"ls {{ vars.dir }}/{{ vars.dir\"\n"),
        expect: &[("cutover.toml:14:30: unclosed `{{` in a template", Some("close the reference with `}}`, or write a literal `{{` as `{{{{` (and `}}` as `}}}}`), e.g. `docker inspect -f '{{{{ .State.Health.Status }}}}'`"))],
    },
    Case {
        name: "a Docker template unescaped is refused with the escape in its help",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"docker inspect -f '{{ .State.Health.Status }}' app\"\n"),
        expect: &[(
            "cutover.toml:14:31: malformed reference `{{ .State.Health.Status }}`",
            Some("references look like {{ hosts.new.address }}, {{ secrets.db_password }} or {{ vars.app_dir }}; for a literal `{{` (a Docker or Go template), write `{{{{` and `}}}}`"),
        )],
    },
    Case {
        name: "a Docker template escaped is accepted (the next problem is the one after it)",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"docker inspect -f '{{{{ .State.Health.Status }}}}' {{ vars.dri }}\"\n"),
        expect: &[("cutover.toml:14:63: unknown var `dri`", Some("did you mean `dir`?"))],
    },
    Case {
        name: "unknown reference namespace",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"ls {{ var.dir }}\"\n"),
        expect: &[("cutover.toml:14:15: unknown reference namespace `var`", Some("did you mean `vars`?"))],
    },
    Case {
        name: "host reference with an unknown field",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"ping {{ hosts.old.bogus }}\"\n"),
        expect: &[(
            "cutover.toml:14:17: hosts have no field `bogus`",
            Some("use one of: address, name, port, ssh, user"),
        )],
    },
    Case {
        name: "malformed and empty references",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"ping {{ hosts.old }} {{ plan.owner }} {{}} {{ vars.a b }}\"\n"),
        expect: &[
            ("cutover.toml:14:17: malformed reference `{{ hosts.old }}`", Some("write it as {{ hosts.NAME.address }}")),
            ("cutover.toml:14:33: malformed reference `{{ plan.owner }}`", Some("write it as {{ plan.dir }} or {{ plan.name }}")),
            ("cutover.toml:14:50: empty reference `{{ }}`", None),
            ("cutover.toml:14:55: malformed reference `{{ vars.a b }}`", None),
        ],
    },
    Case {
        name: "reference in a string with escapes underlines the whole string",
        plan: step!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"printf '\\t%s' {{ vars.nope }}\"\n"),
        expect: &[("cutover.toml:14:12: unknown var `nope`", None)],
    },
    Case {
        name: "invalid env var names point at the name",
        plan: step!("kind = \"pipe\"\nfrom = { host = \"old\", command = \"cat\", env = { \"1ST\" = \"x\" } }\nto = { host = \"old\", command = \"cat\", env = { \"DB-URL\" = \"x\" } }\n"),
        expect: &[
            (
                "cutover.toml:13:50: `1ST` in `env` of `from` of step `a` is not a valid variable name",
                Some("use letters, digits and `_`, not starting with a digit"),
            ),
            ("cutover.toml:14:48: `DB-URL` in `env` of `to` of step `a` is not a valid variable name", None),
        ],
    },
    Case {
        name: "a broken definition is not reported again where it is used",
        plan: r#"name = "m"
[hosts]
old = "old.example.com"
[secrets.pw]
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "rnu"
[[stages.steps]]
id = "w"
kind = "wait"
after = "a"
delay = "1s"
[[stages.steps]]
id = "r"
kind = "run"
hosts = ["old"]
command = "echo {{ hosts.old.address }}"
env = { A = "{{ secrets.pw }}" }
"#,
        expect: &[
            ("cutover.toml:3:8: host `old` must be a table, found a string", None),
            ("cutover.toml:4:10: secret `pw` has no source", None),
            ("cutover.toml:9:9: unknown step kind `rnu` in step `a`", Some("did you mean `run`?")),
        ],
    },
];
