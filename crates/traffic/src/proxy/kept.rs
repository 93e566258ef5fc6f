//! Server connections HAProxy keeps to an upstream it no longer sends new requests to.
//!
//! Switched by `set server BE/SRV addr`, HAProxy keeps every server connection that carried
//! a request at the switch: once answered, it goes back to the server's pool and is reused
//! for later requests, still to the old upstream. Under steady keep-alive load such a
//! connection is never idle long: measured on the lab, 19-20 of 20 keep-alive clients were
//! still served by the old colour when `compose.retire` stopped it, and each connection with
//! a request in flight broke under its client (wrk's `read` errors). Dropping the pool's
//! idle connections (an address change does) catches them only by luck when the upstream is
//! the bottleneck, as in a saturating benchmark: tried, 12-20 were left after a second.
//!
//! What does not depend on luck is HAProxy's own drain: requests go only to servers that
//! are not draining, and a connection is reused only for the server it belongs to. So the
//! release adds a stand-in server (`cutover-drain`, a dynamic server at the live address),
//! puts the switched server in `drain`, and once the requests in flight have finished drops
//! its idle connections (writing the live address in its other spelling, `::ffff:IP`, and
//! back) until `ss` on the proxy's host shows none left to the old upstream; then the server
//! is made ready again and the stand-in removed. Traffic goes to the live upstream
//! throughout. A script on the proxy's host runs it all, and puts the server back to
//! `ready` on any exit.

use super::split_upstream;
use cutover_exec::quote::quote;
use cutover_exec::Command;
use std::net::IpAddr;
use std::time::Duration;

/// The stand-in server's name in the backend.
pub const STAND_IN: &str = "cutover-drain";
/// Exit status of the release script when the runtime API refused a command.
pub const REFUSED: i32 = 4;
/// Exit status of the release script when HAProxy refused the stand-in server (before 2.4,
/// or a backend whose `balance` is not dynamic): nothing was changed.
pub const NO_STAND_IN: i32 = 5;

/// `live`'s address in its two spellings and port (`IP`, `::ffff:IP`, port); `None` when
/// `live` is not an IPv4 endpoint (an IPv6 address has no second spelling).
pub fn spellings(live: &str) -> Option<(String, String, u16)> {
    let (host, port) = split_upstream(live)?;
    let IpAddr::V4(ip) = host.parse::<IpAddr>().ok()? else {
        return None;
    };
    Some((ip.to_string(), ip.to_ipv6_mapped().to_string(), port))
}

/// `old` as an `ss` destination filter (`IP:PORT`, IPv6 in brackets); `None` for a name.
pub fn ss_destination(old: &str) -> Option<String> {
    let (ip, port) = split_upstream(old)?;
    Some(match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    })
}

/// The script function counting the connections from the proxy's host to `$dst`.
const LEFT: &str = "left() { ss -Htn state established dst \"$dst\" | wc -l; }; ";

/// The loop both scripts end with: `flip` (a pair of address changes, which drops the idle
/// kept connections) every 20 ms while `left` counts any and `$end` is not reached; then the
/// count is printed.
fn flip_while_left(flip: &str) -> String {
    format!(
        "while :; do \
           n=$(left); \
           if [ \"$n\" -eq 0 ] || [ \"$(date +%s%3N)\" -ge \"$end\" ]; then break; fi; \
           {flip}; \
           sleep 0.02; \
         done; \
         echo \"$n\""
    )
}

/// The release script on the proxy's host (see the module's text): `api` sends one line to
/// the runtime API at `socket` and fails with [`REFUSED`] unless the answer matches (a
/// refused stand-in exits [`NO_STAND_IN`] before any change); on any exit or signal after
/// the stand-in was added, `back` makes the server ready and removes the stand-in (waiting
/// up to 5 s for its connections to end). Prints how many connections to `old` are left
/// when `within` is up or none is left.
pub fn release_command(
    host: &str,
    socket: &str,
    backend: &str,
    server: &str,
    live: &str,
    old: &str,
    within: Duration,
) -> Option<Command> {
    let (ip, mapped, port) = spellings(live)?;
    let dst = ss_destination(old)?;
    let srv = format!("{backend}/{server}");
    let stand_in = format!("{backend}/{STAND_IN}");
    let script = format!(
        "sock={sock}; srv={srv}; tmp={tmp}; dst={dst}; \
         api() {{ said=$(printf '%s\\n' \"$1\" | socat -t5 stdio \"UNIX-CONNECT:$sock\") || exit 3; \
           case \"$said\" in $2) ;; *) printf '%s: %s\\n' \"$1\" \"$said\" >&2; exit {REFUSED};; esac; }}; \
         {LEFT}n=$(left); [ \"$n\" -eq 0 ] && {{ echo 0; exit 0; }}; \
         end=$(( $(date +%s%3N) + {ms} )); \
         said=$(printf '%s\\n' \"add server $tmp {ip}:{port}\" | socat -t5 stdio \"UNIX-CONNECT:$sock\") || exit 3; \
         case \"$said\" in *'New server registered'*) ;; *) printf '%s\\n' \"$said\" >&2; exit {NO_STAND_IN};; esac; \
         back() {{ printf '%s\\n' \"set server $srv state ready\" | socat -t5 stdio \"UNIX-CONNECT:$sock\" >/dev/null; \
           printf '%s\\n' \"set server $tmp state maint\" | socat -t5 stdio \"UNIX-CONNECT:$sock\" >/dev/null; \
           i=0; while [ $i -lt 50 ]; do \
             case $(printf '%s\\n' \"del server $tmp\" | socat -t5 stdio \"UNIX-CONNECT:$sock\") in *deleted*|*removed*|*'No such server'*) break;; esac; \
             i=$((i+1)); sleep 0.1; done; }}; \
         trap back EXIT; trap 'exit 1' HUP INT TERM; \
         api \"set server $tmp state ready\" '*'; \
         api \"set server $srv state drain\" '*'; \
         {flip}",
        sock = quote(socket),
        srv = quote(&srv),
        tmp = quote(&stand_in),
        dst = quote(&dst),
        ms = within.as_millis(),
        flip = flip_while_left(&format!(
            "api \"set server $srv addr {mapped} port {port}; set server $srv addr {ip} port {port}\" '*IP changed from*IP changed from*'"
        )),
    );
    Some(Command::shell(host, script))
}

/// The script on the proxy's host behind [`Switcher::drop_kept`](super::Switcher::drop_kept):
/// while `ss` shows connections to `old`, it points `BACKEND/SERVER` (at `a`) at `b` and back
/// at `a` in one runtime API call (failing with [`REFUSED`] unless both changes were made), 20 ms
/// apart; prints how many are left when none is or `within` is up. `None` when `old`, `a` or
/// `b` is not an address and port.
pub fn drop_command(
    host: &str,
    socket: &str,
    backend: &str,
    server: &str,
    old: &str,
    (a, b): (&str, &str),
    within: Duration,
) -> Option<Command> {
    let dst = ss_destination(old)?;
    let (a_ip, a_port) = split_upstream(a)?;
    let (b_ip, b_port) = split_upstream(b)?;
    let srv = format!("{backend}/{server}");
    // Pointed at `a`, each round goes to `b` and back: both changes are real ones.
    let flip = format!(
        "set server {srv} addr {b_ip} port {b_port}; set server {srv} addr {a_ip} port {a_port}"
    );
    let script = format!(
        "sock={sock}; dst={dst}; flip={flip}; \
         {LEFT}end=$(( $(date +%s%3N) + {ms} )); \
         {flipping}",
        sock = quote(socket),
        dst = quote(&dst),
        flip = quote(&flip),
        ms = within.as_millis(),
        flipping = flip_while_left(&format!(
            "said=$(printf '%s\\n' \"$flip\" | socat -t5 stdio \"UNIX-CONNECT:$sock\") || exit 3; \
             case \"$said\" in *'changed from'*'changed from'*) ;; *) printf '%s: %s\\n' \"$flip\" \"$said\" >&2; exit {REFUSED};; esac"
        )),
    );
    Some(Command::shell(host, script))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_address_has_a_second_spelling_only_for_ipv4() {
        assert_eq!(
            spellings("198.51.100.20:18082").unwrap(),
            ("198.51.100.20".into(), "::ffff:198.51.100.20".into(), 18082)
        );
        assert_eq!(spellings("[2001:db8::1]:80"), None);
        assert_eq!(spellings("app.internal:80"), None);
    }

    #[test]
    fn connections_are_counted_by_destination() {
        assert_eq!(
            ss_destination("198.51.100.20:18081").unwrap(),
            "198.51.100.20:18081"
        );
        assert_eq!(
            ss_destination("[2001:db8::1]:80").unwrap(),
            "[2001:db8::1]:80"
        );
        assert_eq!(ss_destination("app.internal:80"), None);
    }

    #[test]
    fn the_script_quotes_every_value_it_is_given() {
        let cmd = release_command(
            "lb",
            "/run/ha proxy/admin.sock",
            "app",
            "web 1",
            "10.0.0.1:80",
            "10.0.0.2:80",
            Duration::from_millis(1500),
        )
        .unwrap();
        let script = &cmd.argv[2];
        assert!(
            script.starts_with("sock='/run/ha proxy/admin.sock'; srv='app/web 1'; tmp=app/cutover-drain; dst=10.0.0.2:80;"),
            "{script}"
        );
        assert!(script.contains("+ 1500 ))"), "{script}");
        assert!(
            script.contains("\"add server $tmp 10.0.0.1:80\""),
            "{script}"
        );
        assert!(
            script.contains("set server $srv addr ::ffff:10.0.0.1 port 80; set server $srv addr 10.0.0.1 port 80"),
            "{script}"
        );
        assert!(release_command(
            "lb",
            "s",
            "a",
            "b",
            "[::1]:80",
            "10.0.0.2:80",
            Duration::ZERO
        )
        .is_none());
    }

    #[test]
    fn the_drop_script_flips_between_the_two_upstreams_until_none_is_left() {
        let cmd = drop_command(
            "lb",
            "/run/ha proxy/admin.sock",
            "app",
            "web",
            "10.0.0.2:80",
            ("127.0.0.1:4001", "127.0.0.1:4002"),
            Duration::from_secs(2),
        )
        .unwrap();
        let script = &cmd.argv[2];
        assert!(
            script.starts_with("sock='/run/ha proxy/admin.sock'; dst=10.0.0.2:80; flip='set server app/web addr 127.0.0.1 port 4002; set server app/web addr 127.0.0.1 port 4001';"),
            "{script}"
        );
        assert!(script.contains("+ 2000 ))"), "{script}");
        // Both changes must be confirmed, and the count is what it prints.
        assert!(
            script.contains("*'changed from'*'changed from'*"),
            "{script}"
        );
        assert!(script.ends_with("echo \"$n\""), "{script}");
        assert!(drop_command(
            "lb",
            "s",
            "a",
            "b",
            "old.example:80",
            ("127.0.0.1:1", "127.0.0.1:2"),
            Duration::ZERO
        )
        .is_none());
    }
}
