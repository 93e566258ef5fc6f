//! Malformed plans, part 2: stages, steps of every kind, waits, and `{{ }}` references.
//! Each plan starts with the same four lines (a name and host `old`) so lines are easy to count.

use crate::malformed::Case;

pub const CASES: &[Case] = &[
    // --- stages ---
    Case {
        name: "stage without name",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
description = "first"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:4:1: stage 1 is missing the required field `name`",
            Some("add `name = ...` to stage 1"),
        )],
    },
    Case {
        name: "stage without steps",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "preflight"
[[stages]]
description = "unnamed and empty"
"#,
        expect: &[
            (
                "cutover.toml:4:1: stage `preflight` has no steps",
                Some("add steps with `[[stages.steps]]` after this stage"),
            ),
            ("cutover.toml:6:1: stage 2 is missing the required field `name`", None),
            ("cutover.toml:6:1: stage 2 has no steps", None),
        ],
    },
    Case {
        name: "stage with an invalid name",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "pre flight"
[[stages.steps]]
id = "a"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:5:9: stage name `pre flight` is not valid",
            Some("use 1 to 64 letters, digits, `-` or `_`"),
        )],
    },
    Case {
        name: "duplicate stage name",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "copy"
[[stages.steps]]
id = "a"
kind = "approve"
[[stages]]
name = "copy"
[[stages.steps]]
id = "b"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:10:9: duplicate stage name `copy`",
            Some("it is first used at line 5, column 9; give each a distinct name"),
        )],
    },
    Case {
        name: "steps that are not tables",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
steps = "approve"
[[stages]]
name = "t"
steps = ["approve"]
"#,
        expect: &[
            ("cutover.toml:4:1: stage `s` has no steps", None),
            (
                "cutover.toml:6:10: `steps` of stage `s` must be an array of tables, found a string",
                None,
            ),
            ("cutover.toml:9:11: step 1 of stage `t` must be a table, found a string", None),
        ],
    },
    // --- steps, whatever their kind ---
    Case {
        name: "step without id",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:6:1: step 1 of stage `s` is missing the required field `id`",
            Some("add `id = ...` to step 1 of stage `s`"),
        )],
    },
    Case {
        name: "step with an invalid id",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "go live!"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:7:7: step id `go live!` is not valid",
            Some("use 1 to 64 letters, digits, `-` or `_`"),
        )],
    },
    Case {
        name: "duplicate step id across stages",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "gate"
kind = "approve"
[[stages]]
name = "t"
[[stages.steps]]
id = "gate"
kind = "approve"
"#,
        expect: &[(
            "cutover.toml:12:7: duplicate step id `gate`",
            Some("it is first used at line 7, column 7; give each a distinct name"),
        )],
    },
    Case {
        name: "step without kind",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
command = "true"
"#,
        expect: &[(
            "cutover.toml:6:1: step `a` is missing the required field `kind`",
            None,
        )],
    },
    Case {
        name: "unknown kind with did-you-mean",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "aprove"
"#,
        expect: &[(
            "cutover.toml:8:9: unknown step kind `aprove` in step `a`",
            Some("did you mean `approve`?"),
        )],
    },
    Case {
        name: "unknown kind far from any known",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "kubernetes"
"#,
        expect: &[(
            "cutover.toml:8:9: unknown step kind `kubernetes` in step `a`",
            None,
        )],
    },
    // --- unknown fields, judged against the step's kind ---
    Case {
        name: "unknown field in a run step",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "run"
hosts = ["old"]
command = "true"
timout = "5m"
"#,
        expect: &[(
            "cutover.toml:11:1: unknown field `timout` in step `a`",
            Some("did you mean `timeout`?"),
        )],
    },
    Case {
        name: "unknown field in a pipe step",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "pipe"
from = { host = "old", command = "cat a", enviroment = {} }
to = { host = "old", command = "cat > b" }
chek = "test -f b"
"#,
        expect: &[
            (
                "cutover.toml:9:43: unknown field `enviroment` in `from` of step `a`",
                Some("known fields: host, command, env"),
            ),
            ("cutover.toml:11:1: unknown field `chek` in step `a`", Some("did you mean `check`?")),
        ],
    },
    Case {
        name: "unknown field in an approve step",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
approver = ["ops"]
"#,
        expect: &[(
            "cutover.toml:9:1: unknown field `approver` in step `a`",
            Some("did you mean `approvers`?"),
        )],
    },
    Case {
        name: "field of another kind in a wait step",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "wait"
duration = "1m"
command = "sleep 60"
"#,
        expect: &[(
            "cutover.toml:10:1: unknown field `command` in step `a`",
            Some("known fields: id, kind, description, duration, until, after, delay, keep"),
        )],
    },
    Case {
        name: "wait length from a var the plan does not define",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[vars]
decommission_after = "48h"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
[[stages.steps]]
id = "gone"
kind = "wait"
after = "a"
delay = "{{ vars.decomission_after }}"
"#,
        expect: &[(
            "cutover.toml:15:10: `delay` of step `gone` names var `decomission_after`, which `[vars]` does not define",
            Some("did you mean `decommission_after`?"),
        )],
    },
    Case {
        name: "wait length from a var that is no duration, in the plan or an environment",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[vars]
settle = "soon"
[environments.lab.vars]
settle = "400d"
[[stages]]
name = "s"
[[stages.steps]]
id = "w"
kind = "wait"
duration = "{{ vars.settle }}"
"#,
        expect: &[
            (
                "cutover.toml:13:13: `duration` of step `w` (var `settle`) is not a valid duration: expected number at 0",
                Some("write a number with a unit: \"500ms\", \"30s\", \"5m\", \"2h\", \"7d\""),
            ),
            (
                "cutover.toml:13:13: `duration` of step `w` (var `settle` in environment `lab`) must be a duration from 0s to 365d, found \"400d\"",
                Some("a step waits at most 365d"),
            ),
        ],
    },
    // --- run and pipe ---
    Case {
        name: "run without hosts and command",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "run"
"#,
        expect: &[
            ("cutover.toml:6:1: step `a` is missing the required field `hosts`", None),
            ("cutover.toml:6:1: step `a` is missing the required field `command`", None),
        ],
    },
    Case {
        name: "run with empty hosts",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "run"
hosts = []
command = "true"
"#,
        expect: &[(
            "cutover.toml:7:7: step `a` runs on no host",
            Some("name at least one host: old"),
        )],
    },
    Case {
        name: "run on an unknown host",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "run"
hosts = ["old", "nwe"]
command = "true"
"#,
        expect: &[("cutover.toml:9:18: unknown host `nwe`", Some("define it in `[hosts]`, or use one of: old"))],
    },
    Case {
        name: "run fields of the wrong types, none reported as unknown",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "run"
hosts = "old"
command = ["true"]
sudo = "yes"
env = "A=1"
timeout = 30
"#,
        expect: &[
            ("cutover.toml:9:10: `hosts` of step `a` must be an array, found a string", None),
            ("cutover.toml:10:11: `command` of step `a` must be a string, found an array", None),
            ("cutover.toml:11:9: `sudo` of step `a` must be true or false, found a string", None),
            ("cutover.toml:12:8: `env` of step `a` must be a table, found a string", None),
            (
                "cutover.toml:13:11: `timeout` of step `a` must be a duration such as \"30s\", \"5m\" or \"48h\", found an integer",
                Some("durations carry a unit: write \"30s\""),
            ),
        ],
    },
    Case {
        name: "pipe ends missing host and command",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "pipe"
from = { command = "pg_dump app" }
to = { host = "old" }
"#,
        expect: &[
            (
                "cutover.toml:9:8: `from` of step `a` is missing the required field `host`",
                Some("add `host = ...` to `from` of step `a`"),
            ),
            ("cutover.toml:10:6: `to` of step `a` is missing the required field `command`", None),
        ],
    },
    Case {
        name: "pipe without ends",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "pipe"
to = "old"
"#,
        expect: &[
            ("cutover.toml:6:1: step `a` is missing the required field `from`", None),
            ("cutover.toml:9:7: `to` of step `a` must be a table, found a string", None),
        ],
    },
    Case {
        name: "approve fields of the wrong types",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
approvers = "alice"
message = 1
"#,
        expect: &[
            ("cutover.toml:9:14: `approvers` of step `a` must be an array, found a string", None),
            ("cutover.toml:10:11: `message` of step `a` must be a string, found an integer", None),
        ],
    },
    Case {
        name: "redis switches moved with a proxy's traffic need reverse and a wait within the hold",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[proxies.front]
kind = "caddy"
host = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "r"
kind = "redis.sync"
source = { host = "old" }
target = { host = "old", port = 6380 }
[[stages.steps]]
id = "one-way"
kind = "redis.switch"
sync = "r"
reverse = false
[[stages.steps]]
id = "slow"
kind = "redis.switch"
sync = "r"
max_wait = "20s"
[[stages.steps]]
id = "move"
kind = "proxy.switch"
proxy = "front"
to = "192.0.2.1:80"
data = ["one-way", "slow"]
max_hold = "15s"
"#,
        expect: &[
            (
                "cutover.toml:29:10: `one-way` is moved with the traffic, so a rollback moves it back: it needs `reverse = true` (the source follows the target, with the writes made there)",
                Some("list data switches (postgres.switch, redis.switch) placed just before this step, in its stage"),
            ),
            (
                "cutover.toml:29:21: `slow` may wait 20s for the target to catch up, longer than the move holds requests (15s): set its `max_wait` below the move's `max_hold`",
                Some("list data switches (postgres.switch, redis.switch) placed just before this step, in its stage"),
            ),
        ],
    },
    Case {
        name: "redis switch of a step that is not a redis.sync, and a secret in an address",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "a"
kind = "approve"
[[stages.steps]]
id = "sw"
kind = "redis.switch"
sync = "a"
[[stages.steps]]
id = "v"
kind = "redis.verify"
source = { host = "old", address = "{{ secrets.x }}" }
target = { host = "nowhere", prot = 1 }
"#,
        expect: &[
            (
                "cutover.toml:12:9: step `a` is a `approve` step, not `redis.sync`",
                Some("name the id of the redis.sync step whose servers are switched"),
            ),
            (
                "cutover.toml:16:37: `address` of step `v` uses secret `x` on a command line, where `ps` would show it",
                None,
            ),
            ("cutover.toml:16:37: unknown secret `x`", None),
            ("cutover.toml:17:20: unknown host `nowhere`", None),
            (
                "cutover.toml:17:30: unknown field `prot` in `target` of step `v`",
                Some("did you mean `port`?"),
            ),
        ],
    },
];
