//! Malformed plans, notifications: `[notify.NAME]` receivers and `notify` steps.

use crate::malformed::Case;

pub const CASES: &[Case] = &[
    Case {
        name: "notify receivers and a notify step with problems",
        plan: "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[secrets.pw]\nenv = \"PW\"\n[notify.team]\nurl = \"hooks.example.com\"\nformat = \"slak\"\nevents = [\"step_failed\", \"gate\"]\n[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"n\"\nkind = \"notify\"\nto = [\"teem\"]\nmessage = \"pw is {{ secrets.pw }}\"\n",
        expect: &[
            ("cutover.toml:7:8: `url` of [notify.team] is not an http:// or https:// URL", Some("write the webhook's URL, such as \"https://hooks.slack.com/services/...\", or \"{{ secrets.NAME }}\"")),
            ("cutover.toml:8:11: `format` of [notify.team] is `slak`, which is not known", Some("did you mean `slack`?")),
            ("cutover.toml:9:27: item 2 of `events` of [notify.team] is `gate`, which is not known", Some("did you mean `gate_waiting`?")),
            ("cutover.toml:15:8: unknown notification receiver `teem`", None),
            ("cutover.toml:16:18: `message` of step `n` uses secret `pw`: a notification leaves for a chat or a webhook", None),
        ],
    },
    Case {
        name: "a notify step naming unknown receivers and a secret",
        plan: "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[secrets.pw]\nenv = \"PW\"\n[notify.team]\nurl = \"https://hooks.example.com/x\"\n[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"n\"\nkind = \"notify\"\nto = [\"teem\"]\nmessage = \"pw is {{ secrets.pw }}\"\n",
        expect: &[
            ("cutover.toml:13:8: unknown notification receiver `teem`", Some("did you mean `team`?")),
            ("cutover.toml:14:18: `message` of step `n` uses secret `pw`: a notification leaves for a chat or a webhook", Some("leave the secret out of the message")),
        ],
    },
    Case {
        name: "a notify step without receivers",
        plan: "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"n\"\nkind = \"notify\"\nmessage = \"hi\"\n",
        expect: &[(
            "cutover.toml:7:7: step `n` sends a notification, but the plan has no `[notify]`",
            Some("add a receiver: `[notify.team]` with `url = \"{{ secrets.slack_webhook }}\"` and `format = \"slack\"`"),
        )],
    },
];
