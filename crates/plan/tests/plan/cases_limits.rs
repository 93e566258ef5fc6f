//! Malformed plans, part 6: numbers and durations out of their range (`limits.rs`). Each
//! would have passed `check` and then panicked `apply` (a wait past the year 9999), wrapped
//! silently (a TTL of 2^32 s written as 0, a lag of 2^44 MB as 0 bytes) or spun a poll loop.

use crate::malformed::Case;

pub const CASES: &[Case] = &[
    Case {
        name: "waits longer than a year",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "w"
kind = "wait"
duration = "8000y"
[[stages.steps]]
id = "later"
kind = "wait"
after = "w"
delay = "366d"
[[stages.steps]]
id = "ok"
kind = "approve"
timeout = "400d"
"#,
        expect: &[
            ("cutover.toml:9:13: `duration` of step `w` must be a duration from 0s to 365d, found \"8000y\"", Some("a step waits at most 365d")),
            ("cutover.toml:14:10: `delay` of step `later` must be a duration from 0s to 365d, found \"366d\"", Some("a step waits at most 365d")),
            ("cutover.toml:18:12: `timeout` of step `ok` must be a duration from 0s to 365d, found \"400d\"", Some("a step waits at most 365d")),
        ],
    },
    Case {
        name: "dns TTLs past 31 bits or not in whole seconds",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[dns.main]
provider = "manual"
zones = ["example.com"]
timeout = "2h"
wait = "400d"
[[stages]]
name = "s"
[[stages.steps]]
id = "lower"
kind = "dns.lower_ttl"
provider = "main"
records = [{ name = "www.example.com", type = "A" }]
ttl = "4294967296s"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "main"
records = [{ name = "www.example.com", value = "192.0.2.1" }]
ttl = "1500ms"
[[stages.steps]]
id = "seen"
kind = "dns.verify"
provider = "main"
records = [{ name = "www.example.com", value = "192.0.2.1" }]
timeout = "31d"
interval = "5ms"
"#,
        expect: &[
            ("cutover.toml:7:12: `timeout` of DNS provider `main` must be a duration from 1ms to 1h, found \"2h\"", Some("one request may take at most 1h; 0 would fail it before it is sent")),
            ("cutover.toml:8:9: `wait` of DNS provider `main` must be a duration from 0s to 365d, found \"400d\"", Some("a step waits at most 365d")),
            ("cutover.toml:16:8: `ttl` of step `lower` must be a duration from 0s to 2147483647s, found \"4294967296s\"", Some("a DNS TTL is a whole number of seconds from 0 to 2147483647 (RFC 2181)")),
            ("cutover.toml:22:8: `ttl` of step `flip` must be a whole number of seconds, found \"1500ms\"", Some("a DNS TTL is a whole number of seconds from 0 to 2147483647 (RFC 2181)")),
            ("cutover.toml:28:12: `timeout` of step `seen` must be a duration from 1ms to 30d, found \"31d\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
            ("cutover.toml:29:13: `interval` of step `seen` must be a duration from 10ms to 1h, found \"5ms\"", Some("poll at most every 10ms (faster only loads the servers) and at least every hour")),
        ],
    },
    Case {
        name: "step timeouts of zero or past 30 days",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[checks.site]
kind = "tcp"
address = "127.0.0.1:80"
[[stages]]
name = "s"
[[stages.steps]]
id = "start"
kind = "run"
hosts = ["old"]
command = "true"
timeout = "0s"
health_deadline = "31d"
[[stages.steps]]
id = "gate"
kind = "check"
checks = "site"
deadline = "0s"
interval = "1ms"
retries = -1
[[stages.steps]]
id = "copy"
kind = "files.sync"
from = { host = "old", path = "/srv/app" }
to = { host = "new", path = "/srv/app" }
port = 0
timeout = "31d"
"#,
        expect: &[
            ("cutover.toml:16:12: `timeout` of step `start` must be a duration from 1ms to 30d, found \"0s\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
            ("cutover.toml:17:20: `health_deadline` of step `start` must be a duration from 1ms to 30d, found \"31d\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
            ("cutover.toml:22:13: `deadline` of step `gate` must be a duration from 1ms to 30d, found \"0s\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
            ("cutover.toml:23:13: `interval` of step `gate` must be a duration from 10ms to 1h, found \"1ms\"", Some("poll at most every 10ms (faster only loads the servers) and at least every hour")),
            ("cutover.toml:24:11: `retries` of step `gate` must be an integer from 0 to 1000000, found -1", Some("retries are from 0 to 1000000; `deadline` bounds them in time")),
            ("cutover.toml:30:8: `port` of step `copy` must be an integer from 1 to 65535, found 0", Some("a TCP port is from 1 to 65535")),
            ("cutover.toml:31:12: `timeout` of step `copy` must be a duration from 1ms to 30d, found \"31d\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
        ],
    },
    Case {
        name: "a soak log is a file, a command or a service, exactly one",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[checks.site]
kind = "tcp"
address = "127.0.0.1:80"
[[stages]]
name = "s"
[[stages.steps]]
id = "soak"
kind = "soak"
checks = "site"
duration = "5m"
triggers = [{ log_matches = 3 }]
logs = [
  { host = "new", command = "journalctl -fu app", patterns = ["ERROR"] },
  { host = "new", path = "/var/log/app.log", command = "journalctl -fu app", patterns = ["ERROR"] },
  { host = "new", patterns = ["ERROR"] },
  { host = "new", path = "/var/log/app.log", project = "shop", patterns = ["ERROR"] },
]
"#,
        expect: &[
            ("cutover.toml:17:3: item 2 of `logs` of step `soak` watches more than one log at once", Some("keep one of `path`, `command` or `service`: a watch follows one log (add another watch for the next)")),
            ("cutover.toml:18:3: item 3 of `logs` of step `soak` watches no log", None),
            ("cutover.toml:19:3: item 4 of `logs` of step `soak` watches `project` or `deploy` without a service", None),
        ],
    },
    Case {
        name: "soak windows, intervals and trigger counts out of range",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[checks.site]
kind = "tcp"
address = "127.0.0.1:80"
[[stages]]
name = "s"
[[stages.steps]]
id = "soak"
kind = "soak"
checks = "site"
duration = "366d"
interval = "2h"
triggers = [
  { consecutive_failures = 0 },
  { p95 = "0s", over = "2d", min_samples = 0 },
  { log_matches = 1000001 },
]
"#,
        expect: &[
            ("cutover.toml:13:13: `duration` of step `soak` must be a duration from 0s to 365d, found \"366d\"", Some("a step waits at most 365d")),
            ("cutover.toml:14:13: `interval` of step `soak` must be a duration from 10ms to 1h, found \"2h\"", Some("poll at most every 10ms (faster only loads the servers) and at least every hour")),
            ("cutover.toml:16:28: `consecutive_failures` of item 1 of `triggers` of step `soak` must be an integer from 1 to 1000000, found 0", Some("a count is from 1 to 1000000")),
            ("cutover.toml:17:12: `p95` of item 2 of `triggers` of step `soak` must be a duration from 1ms to 1h, found \"0s\"", Some("a latency budget is from 1ms to 1h")),
            ("cutover.toml:17:25: `over` of item 2 of `triggers` of step `soak` must be a duration from 1s to 1d, found \"2d\"", Some("a trigger's window is from 1s to 1d: its probes are kept in memory")),
            ("cutover.toml:17:44: `min_samples` of item 2 of `triggers` of step `soak` must be an integer from 1 to 1000000, found 0", Some("a count is from 1 to 1000000")),
            ("cutover.toml:18:19: `log_matches` of item 3 of `triggers` of step `soak` must be an integer from 1 to 1000000, found 1000001", Some("a count is from 1 to 1000000")),
        ],
    },
    Case {
        name: "probes with status codes, latencies, TTLs and exits out of range",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[checks.web]
kind = "http"
url = "https://app.example.com/"
status = 70000
max_latency = "2h"
min_cert_days = 4000
timeout = "0s"
[checks.list]
kind = "http"
url = "https://app.example.com/"
status = [200, 99]
[checks.dns]
kind = "dns"
name = "www.example.com"
server = "192.0.2.53"
max_ttl = 4294967295
[checks.cmd]
kind = "command"
host = "old"
command = "true"
exit = 256
[downtime]
check = "web"
settle = "2h"
[[stages]]
name = "s"
[[stages.steps]]
id = "gate"
kind = "check"
checks = ["web", "list", "dns", "cmd"]
"#,
        expect: &[
            ("cutover.toml:7:10: `status` of check `web` must be an integer from 100 to 599, found 70000", Some("HTTP status codes are from 100 to 599")),
            ("cutover.toml:8:16: `max_latency` of check `web` must be a duration from 1ms to 1h, found \"2h\"", Some("a latency budget is from 1ms to 1h")),
            ("cutover.toml:9:17: `min_cert_days` of check `web` must be an integer from 0 to 3650, found 4000", Some("the days a certificate must stay valid, from 0 to 3650")),
            ("cutover.toml:10:12: `timeout` of check `web` must be a duration from 1ms to 1h, found \"0s\"", Some("one request may take at most 1h; 0 would fail it before it is sent")),
            ("cutover.toml:14:16: item 2 of `status` of check `list` must be an integer from 100 to 599, found 99", Some("HTTP status codes are from 100 to 599")),
            ("cutover.toml:19:11: `max_ttl` of check `dns` must be an integer from 0 to 2147483647, found 4294967295", Some("a DNS TTL is a whole number of seconds from 0 to 2147483647 (RFC 2181)")),
            ("cutover.toml:24:8: `exit` of check `cmd` must be an integer from 0 to 255, found 256", Some("an exit status is from 0 to 255")),
            ("cutover.toml:27:11: `settle` of [downtime] must be a duration from 0s to 1h, found \"2h\"", Some("a settle time is at most 1h: it is waited after every change")),
        ],
    },
    Case {
        name: "ports, ssh timeout and proxy settle out of range",
        plan: r#"name = "m"
[ssh]
connect_timeout = 0
[hosts.old]
ssh = "old"
port = 0
[proxies.front]
kind = "dns-name"
host = "old"
port = 70000
settle = "2h"
[[stages]]
name = "s"
[[stages.steps]]
id = "flip"
kind = "proxy.switch"
proxy = "front"
to = "192.0.2.1:80"
health_timeout = "0s"
"#,
        expect: &[
            ("cutover.toml:3:19: `connect_timeout` of [ssh] must be an integer from 1 to 3600, found 0", Some("the seconds ssh waits for a connection, from 1 to 3600")),
            ("cutover.toml:6:8: `port` of host `old` must be an integer from 1 to 65535, found 0", Some("a TCP port is from 1 to 65535")),
            ("cutover.toml:7:1: proxy `front` (`dns-name`) needs `dns`", Some("add `dns = \"...\"` to proxy `front`")),
            ("cutover.toml:7:1: proxy `front` (`dns-name`) needs `record`", Some("add `record = \"...\"` to proxy `front`")),
            ("cutover.toml:10:8: `port` of proxy `front` must be an integer from 1 to 65535, found 70000", Some("a TCP port is from 1 to 65535")),
            ("cutover.toml:11:11: `settle` of proxy `front` must be a duration from 0s to 1h, found \"2h\"", Some("a settle time is at most 1h: it is waited after every change")),
            ("cutover.toml:19:19: `health_timeout` of step `flip` must be a duration from 1ms to 1h, found \"0s\"", Some("one request may take at most 1h; 0 would fail it before it is sent")),
        ],
    },
    Case {
        name: "postgres sessions, sizes and waits out of range",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "copy"
kind = "postgres.copy"
source = { host = "old", db = "shop", port = 0 }
target = { host = "new", db = "shop" }
jobs = 0
split_mb = 17592186044416
[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = { host = "old", db = "shop" }
target = { host = "new", db = "shop" }
max_lag_mb = 17592186044416
watch = "400d"
timeout = "0s"
[[stages.steps]]
id = "switch"
kind = "postgres.switch"
sync = "replicate"
max_wait = "0s"
[[stages.steps]]
id = "proof"
kind = "postgres.verify"
source = { host = "old", db = "shop" }
target = { host = "new", db = "shop" }
jobs = 9
"#,
        expect: &[
            ("cutover.toml:11:46: `port` of `source` of step `copy` must be an integer from 1 to 65535, found 0", Some("a TCP port is from 1 to 65535")),
            ("cutover.toml:13:8: `jobs` of step `copy` must be an integer from 1 to 8, found 0", Some("cutover opens at most 8 sessions per host at once; 2 to 4 suits most servers")),
            ("cutover.toml:14:12: `split_mb` of step `copy` must be an integer from 0 to 1048576, found 17592186044416", Some("the size is given in MB, from 1 to 1048576 (1 TiB), or 0 never to split")),
            ("cutover.toml:20:14: `max_lag_mb` of step `replicate` must be an integer from 0 to 1048576, found 17592186044416", Some("the lag is given in MB, from 0 (fully caught up) to 1048576 (1 TiB)")),
            ("cutover.toml:21:10: `watch` of step `replicate` must be a duration from 0s to 365d, found \"400d\"", Some("a step waits at most 365d")),
            ("cutover.toml:22:12: `timeout` of step `replicate` must be a duration from 1ms to 30d, found \"0s\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
            ("cutover.toml:27:13: `max_wait` of step `switch` must be a duration from 1ms to 30d, found \"0s\"", Some("a step gives up after at most 30d; 0 would fail it before it starts")),
            ("cutover.toml:33:8: `jobs` of step `proof` must be an integer from 1 to 8, found 9", Some("cutover opens at most 8 sessions per host at once; 2 to 4 suits most servers")),
        ],
    },
];
