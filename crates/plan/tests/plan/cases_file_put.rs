//! Malformed plans, `file.put`: mode, owner, a relative path and a secret in the path.

use crate::malformed::Case;

/// A plan with host `old`, secret `pw` and a `file.put` step `f` with `fields` from line 11.
macro_rules! put {
    ($fields:literal) => {
        concat!(
            "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[secrets.pw]\nenv = \"PW\"\n",
            "[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"f\"\nkind = \"file.put\"\n",
            $fields
        )
    };
}

pub const CASES: &[Case] = &[
    Case {
        name: "file.put with a bad mode, owner and path",
        plan: put!("host = \"old\"\npath = \"srv/{{ secrets.pw }}\"\ncontent = \"x={{ secrets.pw }}\"\nmode = \"0899\"\nowner = \"app:\"\n"),
        expect: &[
            ("cutover.toml:12:9: `path` of step `f` is not absolute", Some("write the full path on the host, such as \"/srv/app/.env\"")),
            ("cutover.toml:12:13: `path` of step `f` uses secret `pw` on a command line, where `ps` would show it", None),
            ("cutover.toml:14:9: `mode` of step `f` is `0899`, which is not an octal mode", Some("write the permission bits in octal, such as \"0640\"")),
            ("cutover.toml:15:10: `owner` of step `f` is `app:`, which is not `user` or `user:group`", Some("write a user name, or user and group as \"app:app\"")),
        ],
    },
    Case {
        name: "file.put without content",
        plan: put!("host = \"old\"\npath = \"/srv/x\"\n"),
        expect: &[
            ("cutover.toml:8:1: step `f` is missing the required field `content`", Some("add `content = ...` to step `f`")),
        ],
    },
];
