//! Malformed plans, step outputs: how values are captured (`regex`, `json`, `secret`) and
//! `{{ steps.ID.NAME }}` references to unknown steps, unknown names, later steps and secret
//! outputs on command lines.

use crate::malformed::Case;

/// A plan with host `old`, secret `pw`, step `a` capturing `tag` and secret `token` (line
/// 13), and step `b` with `fields` from line 16.
macro_rules! after_a {
    ($fields:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[secrets.pw]\nenv = \"PW\"\n",
            "[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"a\"\nkind = \"run\"\n",
            "hosts = [\"old\"]\ncommand = \"docker inspect\"\n",
            "outputs = { tag = { regex = 'image: (\\S+)' }, token = { json = \"$.token\", secret = true } }\n",
            "[[stages.steps]]\nid = \"b\"\n",
            $fields
        )
    };
}

/// A plan with host `old` and a run step `a` whose `outputs` are on line 10.
macro_rules! capture {
    ($outputs:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[[stages]]\nname = \"s\"\n",
            "[[stages.steps]]\nid = \"a\"\nkind = \"run\"\nhosts = [\"old\"]\ncommand = \"x\"\n",
            $outputs
        )
    };
}

pub const CASES: &[Case] = &[
    Case {
        name: "outputs of unknown, later and secret steps",
        plan: after_a!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"deploy {{ steps.a.tagg }} {{ steps.c.x }} {{ steps.a.token }} {{ steps.zz.q }}\"\n[[stages.steps]]\nid = \"c\"\nkind = \"run\"\nhosts = [\"old\"]\ncommand = \"true\"\noutputs = { x = { regex = '(x)' } }\n"),
        expect: &[
            ("cutover.toml:18:19: step `a` has no output `tagg`", Some("did you mean `tag`?")),
            ("cutover.toml:18:38: step `b` uses `{{ steps.c.x }}`, but step `c` runs after it", Some("`c` (line 20) must run before this step: move it above, or use the value later")),
            ("cutover.toml:18:54: `command` of step `b` uses secret output `steps.a.token` on a command line, where `ps` would show it", Some("pass it through the environment: `env = { TOKEN = \"{{ steps.a.token }}\" }` and write \"$TOKEN\" in the command")),
            ("cutover.toml:18:74: unknown step `zz`", Some("define it in `[[stages.steps]]`, or use one of: a, b, c")),
        ],
    },
    Case {
        name: "secret outputs in env, own outputs in undo",
        plan: after_a!("kind = \"run\"\nhosts = [\"old\"]\ncommand = \"deploy {{ steps.a.tag }} {{ steps.b.old }}\"\nenv = { T = \"{{ steps.a.token }}\" }\nundo = \"deploy {{ steps.b.old }}\"\noutputs = { old = { regex = '(.*)' } }\n"),
        expect: &[(
            "cutover.toml:18:37: step `b` uses its own output `{{ steps.b.old }}`, which it has not captured yet",
            Some("a step's own outputs are known to its `undo` and to the steps after it"),
        )],
    },
    Case {
        name: "output of a kind that captures none",
        plan: after_a!("kind = \"approve\"\nmessage = \"{{ steps.a.tag }}\"\n[[stages.steps]]\nid = \"c\"\nkind = \"run\"\nhosts = [\"old\"]\ncommand = \"echo {{ steps.b.x }}\"\n"),
        expect: &[(
            "cutover.toml:22:17: step `b` has no output `x`",
            Some("steps of kind `approve` capture no outputs; only `run` and `pipe` steps do"),
        )],
    },
    Case {
        name: "malformed captures",
        plan: capture!("outputs = { a = { regex = 'v\\d+' }, b = { regex = '(' }, c = { json = \"$.[\" }, d = { regex = '(x)', json = \"$.x\" }, e = { secret = true }, \"f g\" = { json = \"$.x\" } }\n"),
        expect: &[
            ("cutover.toml:11:28: output `a` of step `a`: `regex` has no capture group", Some("the value is what the first group matches: `tag: (\\S+)`")),
            ("cutover.toml:11:52: output `b` of step `a`: `regex` is not a regular expression: found open group without closing ')'", Some("in TOML, write it in single quotes so that backslashes stay: 'v(\\d+)'")),
            ("cutover.toml:11:72: output `c` of step `a`: `json` is not a JSON path: at position 2, in dot member name, must start with lowercase alpha or '_'", Some("write a path such as `$.name` or `$.servers[0].address`")),
            ("cutover.toml:11:84: output `d` of step `a` needs one of `regex` or `json`", None),
            ("cutover.toml:11:121: output `e` of step `a` needs one of `regex` or `json`", Some("capture with a regex's first group, `regex = 'tag: (\\S+)'`, or a JSON path, `json = \"$.tag\"`")),
            ("cutover.toml:11:141: `f g` in `outputs` of step `a` is not a valid output name", None),
        ],
    },
    Case {
        name: "secret output without secrets, outputs from two hosts",
        plan: "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[hosts.new]\nssh = \"new\"\n[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"a\"\nkind = \"run\"\nhosts = [\"old\", \"new\"]\ncommand = \"x\"\noutputs = { t = { regex = '(.*)', secret = true } }\n[checks.site]\nkind = \"http\"\nurl = \"http://{{ steps.a.t }}/\"\n",
        expect: &[
            ("cutover.toml:9:7: step `a` captures outputs but runs on 2 hosts", Some("a value is captured from one host's output: run the capturing command on one host, in a step of its own")),
            ("cutover.toml:9:7: output `t` of step `a` is secret, but the plan has no `[secrets]`", Some("a secret output is journaled sealed, with a key derived from the plan's secret values: declare at least one secret in `[secrets]`")),
            ("cutover.toml:16:15: check `site` uses `{{ steps.a.t }}`, but step outputs are only known inside steps", Some("use the value in a step's fields (command, env, undo...) instead")),
        ],
    },
];
