//! nginx: the upstream's `server` line lives in an include file; a switch rewrites it,
//! tests the whole configuration (`nginx -t`) and reloads (`nginx -s reload`). If the test
//! fails, the previous include is put back and nothing is reloaded. All of it runs as one
//! script on the proxy's host, every plan value quoted.
//!
//! Residue, measured (nginx 1.22 under wrk, 20 keep-alive connections): 0 failed requests,
//! but a reload makes the old workers close their idle keep-alive connections (57 socket
//! errors over 20 switches). No setting prevents it: `keepalive_timeout` and
//! `lingering_close` govern connections of a running worker, not a worker told to shut down.
//! Changing an upstream without a reload needs nginx Plus (its `api` module, or `server ...
//! resolve` in a `zone`; open-source nginx has `resolve` only from 1.27.3). What open-source
//! 1.22 can do is resolve the upstream by name at request time (`resolver ... valid=1s` and
//! `proxy_pass http://$name:PORT`), which the `dns-name` switcher ([`super::dns_name`])
//! drives: 0 socket errors measured, at the cost of no upstream keep-alive pool (one upstream
//! connection per request: the proxy host needs `net.ipv4.tcp_tw_reuse = 1` under sustained
//! load) and a switch that takes effect within ~2 s (nginx caches a name for at least 1 s).

use super::{run_ok, ProxyError, Runner, Switcher};
use async_trait::async_trait;
use cutover_exec::quote::quote;
use cutover_exec::Command;

/// An nginx upstream include.
#[derive(Debug, Clone)]
pub struct Nginx {
    /// The plan host nginx runs on.
    pub host: String,
    /// The include file holding the upstream's `server ADDRESS:PORT;` line.
    pub include: String,
    /// Extra arguments for `nginx -t` and `nginx -s reload` (e.g. `-c /etc/nginx/site.conf`).
    pub args: Vec<String>,
}

/// Exit status of the switch script when the configuration test failed.
const TEST_FAILED: i32 = 3;

impl Nginx {
    fn nginx(&self, tail: &[&str]) -> String {
        let mut words = vec!["nginx".to_string()];
        words.extend(self.args.iter().cloned());
        words.extend(tail.iter().map(|s| s.to_string()));
        words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
    }

    /// The switch script: back up, write, test, reload or restore.
    pub fn switch_command(&self, to: &str) -> Command {
        let inc = quote(&self.include);
        let server_line = format!("server {to};");
        let line = quote(&server_line);
        // After `-s reload` the master starts new workers and tells the old ones to stop
        // accepting; until it has, new connections may still reach the old upstream. So the
        // script waits (up to 5 s) until none of the master's old workers accepts any more.
        let script = format!(
            "set -e; cp {inc} {inc}.cutover-prev; printf '%s\\n' {line} > {inc}.cutover-new; mv {inc}.cutover-new {inc}; \
             if ! {test} 2>&1; then mv {inc}.cutover-prev {inc}; exit {TEST_FAILED}; fi; \
             pidfile=$({dump} 2>/dev/null | awk '$1==\"pid\" {{sub(\";\",\"\",$2); print $2; exit}}'); \
             master=$(cat \"${{pidfile:-/run/nginx.pid}}\" 2>/dev/null || true); \
             old=$([ -n \"$master\" ] && ps -o pid= --ppid \"$master\" || true); \
             {reload}; \
             i=0; while [ $i -lt 250 ]; do busy=0; for p in $old; do \
             if ps -o args= -p $p 2>/dev/null | grep -qx 'nginx: worker process'; then busy=1; fi; done; \
             [ $busy = 0 ] && break; sleep 0.02; i=$((i+1)); done",
            test = self.nginx(&["-t", "-q"]),
            dump = self.nginx(&["-T"]),
            reload = self.nginx(&["-s", "reload"]),
        );
        Command::shell(&self.host, script)
    }

    /// The command reading the include.
    pub fn read_command(&self) -> Command {
        Command::new(&self.host, vec!["cat".into(), self.include.clone()])
    }
}

/// The address of the first `server ADDRESS[:PORT] ...;` line.
pub fn parse_include(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix("server "))
        .and_then(|rest| rest.trim_end_matches(';').split_whitespace().next())
        .map(|a| a.trim_end_matches(';').to_string())
}

#[async_trait]
impl Switcher for Nginx {
    fn name(&self) -> String {
        format!("nginx on {}", self.host)
    }

    fn preview(&self, to: &str) -> Vec<String> {
        vec![
            format!("{}$ write `server {to};` to {}", self.host, self.include),
            format!(
                "{}$ {} && {}",
                self.host,
                self.nginx(&["-t"]),
                self.nginx(&["-s", "reload"])
            ),
        ]
    }

    async fn current(&self, r: &dyn Runner) -> Result<String, ProxyError> {
        let out = run_ok(
            r,
            &self.name(),
            &self.read_command(),
            "read the upstream include",
        )
        .await?;
        parse_include(&out.stdout).ok_or_else(|| ProxyError::Failed {
            proxy: self.name(),
            message: format!("{} has no `server ADDRESS:PORT;` line", self.include),
        })
    }

    async fn switch(&self, r: &dyn Runner, to: &str) -> Result<(), ProxyError> {
        let cmd = self.switch_command(to);
        let out = r.run(&cmd).await.map_err(|e| ProxyError::Failed {
            proxy: self.name(),
            message: e,
        })?;
        match out.code {
            Some(0) => Ok(()),
            Some(TEST_FAILED) => Err(ProxyError::Failed {
                proxy: self.name(),
                message: format!(
                    "the configuration test failed with the new upstream, so nothing was reloaded and the previous include was put back:\n{}",
                    cutover_exec::frame(&out.stdout)
                ),
            }),
            _ => run_ok(r, &self.name(), &cmd, "switch the upstream").await.map(|_| ()),
        }
    }
}
