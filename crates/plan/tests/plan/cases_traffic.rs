//! Malformed plans, part 4: the traffic steps' record lists (`value` / `values`).

use crate::malformed::Case;

const HELP: &str =
    "write `value = \"...\"` for one value, `values = [\"...\", \"...\"]` for several A/AAAA records";

pub const CASES: &[Case] = &[
    Case {
        name: "a config file on a proxy that is not haproxy",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[proxies.front]
kind = "caddy"
host = "old"
config = "/etc/caddy/Caddyfile"
[[stages]]
name = "s"
[[stages.steps]]
id = "flip"
kind = "proxy.switch"
proxy = "front"
to = "192.0.2.1:8080"
"#,
        expect: &[(
            "cutover.toml:7:11: proxy `front` (`caddy`) has `config`, which only an `haproxy` proxy uses",
            Some("remove `config`: this kind's switch already outlives a reload"),
        )],
    },
    Case {
        name: "dns record with both value and values",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[dns.main]
provider = "manual"
zones = ["example.com"]
[[stages]]
name = "s"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "main"
records = [{ name = "www.example.com", value = "192.0.2.1", values = ["192.0.2.2"] }]
"#,
        expect: &[(
            "cutover.toml:13:70: give either `value` or `values`, not both",
            Some(HELP),
        )],
    },
    Case {
        name: "dns record with empty values",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[dns.main]
provider = "manual"
zones = ["example.com"]
[[stages]]
name = "s"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "main"
records = [{ name = "www.example.com", values = [] }]
"#,
        expect: &[("cutover.toml:13:49: `values` is empty", Some(HELP))],
    },
    Case {
        name: "cname record with several values",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[dns.main]
provider = "manual"
zones = ["example.com"]
[[stages]]
name = "s"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "main"
records = [{ name = "www.example.com", type = "CNAME", values = ["a.example.net", "b.example.net"] }]
"#,
        expect: &[(
            "cutover.toml:13:65: a CNAME record set holds one target",
            Some(HELP),
        )],
    },
    Case {
        name: "dns.record: an unknown state, a deleted record with a value, a created one without, a CNAME beside an A, an unknown type",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[dns.main]
provider = "manual"
zones = ["example.com"]
[[stages]]
name = "s"
[[stages.steps]]
id = "subs"
kind = "dns.record"
provider = "main"
records = [
  { name = "test.example.com", type = "A" },
  { name = "test.example.com", type = "CNAME", value = "app.example.net" },
]
[[stages.steps]]
id = "srv"
kind = "dns.record"
provider = "main"
records = [{ name = "mail.example.com", type = "SRV", value = "0 5 25 mx.example.com" }]
[[stages.steps]]
id = "drop"
kind = "dns.record"
provider = "main"
state = "gone"
records = [{ name = "old.example.com", type = "TXT", value = "x" }]
[[stages.steps]]
id = "drop2"
kind = "dns.record"
provider = "main"
state = "absent"
records = [{ name = "old.example.com", type = "MX", value = "10 mx.example.com" }]
"#,
        expect: &[
            ("cutover.toml:14:13: record `test.example.com` of step `subs` has no `value`", Some("add `value = \"...\"`, or `state = \"absent\"` to delete the record set")),
            ("cutover.toml:15:13: step `subs` gives `test.example.com` a CNAME and other records: a CNAME cannot share its name", Some("keep the CNAME alone at that name, or use A/AAAA records there")),
            ("cutover.toml:21:49: record type `SRV` is not supported by the DNS steps", Some("use A, AAAA, CNAME, TXT, MX or NS")),
            ("cutover.toml:26:10: `state` of step `drop` must be \"present\" or \"absent\", not \"gone\"", Some("\"present\" creates or changes the records, \"absent\" deletes them")),
            ("cutover.toml:33:22: record `old.example.com` of step `drop2` is deleted (`state = \"absent\"`) but has a value", Some("a deletion removes the whole record set: remove `value`/`values`")),
        ],
    },
];
