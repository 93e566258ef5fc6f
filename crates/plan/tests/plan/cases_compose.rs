//! Malformed plans, part 7: the Docker Compose steps, images, volumes and containers.

use crate::malformed::Case;

pub const CASES: &[Case] = &[
    Case {
        name: "compose.up with a bad project name, pull policy and upload",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "up"
kind = "compose.up"
host = "new"
dir = "/srv/shop"
project = "Shop"
pull = "sometimes"
upload = ["../secrets.env"]
"#,
        expect: &[
            (
                "cutover.toml:11:12: `project` of step `up` is `Shop`, which compose does not accept as a project name",
                Some("use lowercase letters, digits, `-` and `_`, starting with a letter or digit"),
            ),
            (
                "cutover.toml:12:9: `pull` of step `up` is `sometimes`, which is not known",
                Some("use one of: missing, never, always"),
            ),
            (
                "cutover.toml:13:12: `upload` of step `up` names `../secrets.env`, which is not inside the plan's directory",
                Some("name files or directories relative to the plan file's directory, without `..`"),
            ),
        ],
    },
    Case {
        name: "compose.up with a secret in its directory and an unknown check",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[secrets.db]
env = "DB"
[[stages]]
name = "s"
[[stages.steps]]
id = "up"
kind = "compose.up"
host = "new"
dir = "/srv/{{ secrets.db }}"
checks = ["helth"]
env = { DB_PASSWORD = "{{ secrets.db }}", "9X" = "a" }
"#,
        expect: &[
            (
                "cutover.toml:12:13: `dir` of step `up` uses secret `db` on a command line, where `ps` would show it",
                None,
            ),
            ("cutover.toml:13:12: step `up` names unknown check `helth`", None),
            (
                "cutover.toml:14:44: `9X` in `env` of step `up` is not a valid variable name",
                Some("use letters, digits and `_`, not starting with a digit"),
            ),
        ],
    },
    Case {
        name: "compose.deploy with an unknown proxy",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[proxies.front]
kind = "haproxy"
host = "new"
backend = "app"
server = "web"
[[stages]]
name = "s"
[[stages.steps]]
id = "release"
kind = "compose.deploy"
host = "new"
dir = "/srv/shop"
proxy = "frnt"
ports = { blue = 18081, green = 18082 }
"#,
        expect: &[(
            "cutover.toml:16:10: unknown proxy `frnt`",
            Some("did you mean `front`?"),
        )],
    },
    Case {
        name: "compose.deploy with half the ports, a number, one port twice",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[proxies.front]
kind = "haproxy"
host = "new"
backend = "app"
server = "web"
[[stages]]
name = "s"
[[stages.steps]]
id = "release"
kind = "compose.deploy"
host = "new"
dir = "/srv/shop"
proxy = "front"
ports = { blue = 18081 }
[[stages.steps]]
id = "release2"
kind = "compose.deploy"
host = "new"
dir = "/srv/shop"
proxy = "front"
ports = 18081
[[stages.steps]]
id = "release3"
kind = "compose.deploy"
host = "new"
dir = "/srv/shop"
proxy = "front"
ports = { blue = 18081, green = 18081 }
"#,
        expect: &[
            (
                "cutover.toml:17:9: `ports` of step `release` is missing the required field `green`",
                Some("add `green = ...` to `ports` of step `release`"),
            ),
            (
                "cutover.toml:24:9: `ports` of step `release2` must be a table `{ blue = PORT, green = PORT }`, found an integer",
                None,
            ),
            (
                "cutover.toml:31:9: `ports` of step `release3` gives both colours port 18081",
                Some("the colours run side by side: give each its own port, or each its own address with `addresses`"),
            ),
        ],
    },
    Case {
        name: "compose.retire of a step that is not a compose.deploy",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "up"
kind = "compose.up"
host = "new"
dir = "/srv/shop"
[[stages.steps]]
id = "retire"
kind = "compose.retire"
deploy = "up"
[[stages.steps]]
id = "retire2"
kind = "compose.retire"
deploy = "relase"
"#,
        expect: &[
            (
                "cutover.toml:14:11: step `up` is a `compose.up` step, not `compose.deploy`",
                Some("name the id of the compose.deploy step whose previous colour is retired"),
            ),
            (
                "cutover.toml:18:11: no step `relase` to retire the colour of",
                Some("add a compose.deploy step before this one"),
            ),
        ],
    },
    Case {
        name: "images.copy to itself, of no image, with a secret",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[secrets.tag]
env = "TAG"
[[stages]]
name = "s"
[[stages.steps]]
id = "copy"
kind = "images.copy"
from = "new"
to = "new"
images = ["shop/web:{{ secrets.tag }}"]
[[stages.steps]]
id = "copy2"
kind = "images.copy"
from = "new"
to = "new"
images = []
"#,
        expect: &[
            (
                "cutover.toml:12:7: step `copy` copies images from `new` to itself",
                Some("`from` and `to` must be two hosts"),
            ),
            (
                "cutover.toml:13:21: `images` of step `copy` uses secret `tag` on a command line, where `ps` would show it",
                None,
            ),
            (
                "cutover.toml:19:10: `images` of step `copy2` is empty",
                Some("name at least one image, e.g. `images = [\"shop/web:1.4\"]`"),
            ),
        ],
    },
    Case {
        name: "volumes: a bad name, a path outside the volume",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "copy"
kind = "files.sync"
from = { host = "old", volume = "../media" }
to = { host = "new", volume = "shop_media" }
[[stages.steps]]
id = "proof"
kind = "files.verify"
from = { host = "old", volume = "shop_media", path = "/etc" }
to = { host = "new", volume = "shop_media" }
"#,
        expect: &[
            (
                "cutover.toml:11:34: `volume` of `from` of step `copy` is `../media`, which is not a Docker volume name",
                Some("use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
            ),
            (
                "cutover.toml:16:55: `path` of `from` of step `proof` must be relative to the volume, without `..`",
                Some("write the directory inside the volume, e.g. `path = \"uploads\"`, or leave `path` out for the whole volume"),
            ),
        ],
    },
    Case {
        name: "soak logs of a compose service without its project, and of a later deploy",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[checks.up]
kind = "tcp"
address = "127.0.0.1:80"
[[stages]]
name = "s"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = ["up"]
duration = "1m"
triggers = [{ log_matches = 1, over = "1m" }]
logs = [
  { host = "new", service = "web", patterns = ["panic"] },
  { host = "new", service = "web", deploy = "release", patterns = ["panic"] },
  { host = "new", path = "/var/log/app.log", service = "web", project = "shop", patterns = ["panic"] },
]
"#,
        expect: &[
            (
                "cutover.toml:16:3: item 1 of `logs` of step `watch` watches a service without its project",
                Some("add `project = \"NAME\"` (the compose project), or `deploy = \"STEP\"` to follow the colour a compose.deploy step made live"),
            ),
            (
                "cutover.toml:17:46: step `watch` follows the logs of `release`, which is not an earlier compose.deploy step",
                Some("name the id of a compose.deploy step that runs before the soak"),
            ),
            (
                "cutover.toml:18:3: item 3 of `logs` of step `watch` watches more than one log at once",
                Some("keep one of `path`, `command` or `service`: a watch follows one log (add another watch for the next)"),
            ),
        ],
    },
    Case {
        name: "a postgres endpoint and a probe naming their container with a secret",
        plan: r#"name = "m"
[hosts.new]
ssh = "new"
[secrets.db]
env = "DB"
[checks.db]
kind = "postgres"
host = "new"
container = "{{ secrets.db }}"
[[stages]]
name = "s"
[[stages.steps]]
id = "proof"
kind = "postgres.verify"
source = { host = "new", db = "shop", container = "shop-{{ secrets.db }}" }
target = { host = "new", db = "shop", container = "shop-db-1" }
"#,
        expect: &[
            (
                "cutover.toml:9:14: `container` of check `db` uses secret `db` on a command line, where `ps` would show it",
                None,
            ),
            (
                "cutover.toml:15:57: `container` of step `proof` uses secret `db` on a command line, where `ps` would show it",
                None,
            ),
        ],
    },
    Case {
        name: "redis and mysql endpoints in a container with an address or a socket",
        plan: r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "cache"
kind = "redis.sync"
source = { host = "old", container = "shop-redis-1", address = "127.0.0.1" }
target = { host = "new" }
[[stages.steps]]
id = "db"
kind = "mysql.copy"
source = { host = "old", container = "shop-db-1", socket = "/run/mysqld/mysqld.sock" }
target = { host = "new", container = "db", port = 3307 }
databases = ["shop"]
"#,
        expect: &[
            (
                "cutover.toml:11:65: `address` of `source` of step `cache` cannot be used with `container`: the server's address is the container's (its published port, else its own address)",
                Some("remove `address` (cutover reaches the server in the container through the port it publishes for `port`, else at the container's address), or remove `container` to reach the server at `address` yourself"),
            ),
            (
                "cutover.toml:16:61: `socket` of `source` of step `db` cannot be used with `container`: a socket inside the container is out of the agent's reach on the host",
                Some("remove `socket` (cutover reaches the server in the container through the port it publishes for `port`, else at the container's address), or remove `container` to reach the server at `socket` yourself"),
            ),
        ],
    },
];
