//! Malformed plans, part 5: the files steps.

use crate::malformed::Case;

pub const CASES: &[Case] = &[
    Case {
        name: "files.verify with an unknown algorithm and owner check",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "proof"
kind = "files.verify"
from = { host = "old", path = "/srv/app" }
to = { host = "new", path = "/srv/app" }
algorithm = "md5"
owner = "uid"
"#,
        expect: &[
            (
                "cutover.toml:13:14: `algorithm` of step `proof` is `md5`, which is not known",
                Some("use one of: blake3, sha256"),
            ),
            (
                "cutover.toml:14:10: `owner` of step `proof` is `uid`, which is not known",
                Some("use one of: names, numeric, ignore"),
            ),
        ],
    },
    Case {
        name: "files.sync to an unknown host, without a path",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[[stages]]
name = "s"
[[stages.steps]]
id = "copy"
kind = "files.sync"
from = { host = "old" }
to = { host = "nwe", path = "/srv" }
"#,
        expect: &[(
            "cutover.toml:9:8: `from` of step `copy` is missing the required field `path`",
            Some(
                "add `path = \"/srv/app/media\"`, or `volume = \"NAME\"` for a Docker named volume",
            ),
        )],
    },
];
