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
];
