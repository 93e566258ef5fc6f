//! A lab with a plan file next to its journal, and the `cutover` binary to run against it.

use cutover_testbed::{Lab, PgOptions, PgServer};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A lab, a temp dir holding `cutover.toml`, and helpers to run `cutover` on it; with a
/// shared journal, the run is kept in PostgreSQL on host `new` instead of the file.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub shared: Option<SharedJournal>,
    pub lab: Lab,
}

/// Which journal a test's runs are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The SQLite file next to the plan.
    Sqlite,
    /// PostgreSQL on host `new`, given with `CUTOVER_JOURNAL`.
    Postgres,
}

/// PostgreSQL on host `new` holding the journal in database `journal`, owned by role
/// `cutover` whose password the plan reads from secret `journal_pw`.
pub struct SharedJournal {
    pub pg: PgServer,
    pub url: String,
}

/// The password of the journal's role (given to `cutover` through the environment only).
pub const JOURNAL_PW: &str = "journal-role-pw";

impl SharedJournal {
    fn start(lab: &Lab) -> Self {
        let pg = PgServer::start(lab.host("new"), 16, 5433, PgOptions::default())
            .expect("journal server");
        pg.psql(
            "postgres",
            &format!("CREATE ROLE cutover LOGIN PASSWORD '{JOURNAL_PW}';\nCREATE DATABASE journal OWNER cutover;"),
        )
        .expect("journal role and database");
        let url = format!(
            "postgres://cutover:{{{{ secrets.journal_pw }}}}@{}:{}/journal?sslmode=disable",
            pg.address(),
            pg.port()
        );
        SharedJournal { pg, url }
    }

    /// Empties the journal: a new database (events cannot be deleted, by design).
    pub fn reset(&self) {
        self.pg
            .psql(
                "postgres",
                "DROP DATABASE journal WITH (FORCE);\nCREATE DATABASE journal OWNER cutover;",
            )
            .expect("reset the journal database");
    }

    /// Every row of every table of the journal, as text.
    pub fn dump(&self) -> String {
        self.pg
            .shell("pg_dump --data-only journal")
            .expect("pg_dump the journal")
    }
}

/// The header every test plan starts with: the lab's two hosts through its SSH config.
pub fn header(lab: &Lab, name: &str) -> String {
    format!(
        "name = \"{name}\"\n\n[ssh]\nconfig = \"{}\"\n\n[hosts.old]\nssh = \"old\"\n\n[hosts.new]\nssh = \"new\"\n",
        lab.ssh_config().display()
    )
}

/// The text of the report's "## Proof: STEP (HOSTS)" section named by `title`; panics with
/// the whole report when there is none.
pub fn proof_section<'a>(markdown: &'a str, title: &str) -> &'a str {
    markdown
        .split(&format!("## Proof: {title}"))
        .nth(1)
        .unwrap_or_else(|| panic!("no proof section:\n{markdown}"))
}

impl Fixture {
    /// A lab and a plan made of the header plus `body`.
    pub fn new(body: &str) -> Self {
        Self::with_backend(body, Backend::Sqlite)
    }

    /// A lab and a plan whose runs are kept in `backend`. With a shared journal the plan's
    /// directory is inside the lab's, which every lab host sees (their `/tmp` is their own),
    /// so that a controller can run on a host too.
    pub fn with_backend(body: &str, backend: Backend) -> Self {
        let lab = Lab::start().expect("lab");
        let dir = match backend {
            Backend::Sqlite => tempfile::tempdir(),
            Backend::Postgres => tempfile::tempdir_in(lab.dir()),
        }
        .expect("tempdir");
        let shared = (backend == Backend::Postgres).then(|| SharedJournal::start(&lab));
        let f = Fixture { lab, dir, shared };
        f.write_plan(body);
        f
    }

    /// Empties the run's journal, whichever it is.
    pub fn reset_journal(&self) {
        match &self.shared {
            Some(shared) => shared.reset(),
            None => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = self.journal_path().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }

    pub fn plan_path(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.path().join("cutover.journal.db")
    }

    /// Replaces the plan's body (the header stays; with a shared journal, the secret
    /// holding its password is declared after the body).
    pub fn write_plan(&self, body: &str) {
        let secret = match &self.shared {
            Some(_) => "\n[secrets.journal_pw]\nenv = \"CUTOVER_TEST_JOURNAL_PW\"\n",
            None => "",
        };
        std::fs::write(
            self.plan_path(),
            format!("{}\n{body}{secret}", header(&self.lab, "test-plan")),
        )
        .expect("write plan");
    }

    /// A `cutover` command with `-f` set to this plan.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("-f")
            .arg(self.plan_path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("CUTOVER_TEST_CRASH_AFTER_EVENTS")
            .env_remove("CUTOVER_JOURNAL");
        if let Some(shared) = &self.shared {
            c.env("CUTOVER_JOURNAL", &shared.url)
                .env("CUTOVER_TEST_JOURNAL_PW", JOURNAL_PW);
        }
        c
    }

    /// Runs `cutover ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("run cutover"))
    }

    /// The text of a file on a host, empty when absent.
    pub fn host_file(&self, host: &str, path: &str) -> String {
        std::fs::read_to_string(self.lab.host(host).fs_path(path)).unwrap_or_default()
    }

    /// Every byte of the journal files (db, wal) for leak checks.
    pub fn journal_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.journal_path().into_os_string();
            p.push(suffix);
            all.extend(std::fs::read(Path::new(&p)).unwrap_or_default());
        }
        all
    }
}

/// A finished `cutover` process.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    /// Standard output without `check`'s notes (`! ...` and their `  hint: ...` line): what
    /// the data steps' stores cannot carry, which a test of the checks themselves leaves out.
    pub fn checks(&self) -> String {
        let mut out = String::new();
        let mut in_note = false;
        for line in self.stdout().lines() {
            if line.starts_with("! ") {
                in_note = true;
                continue;
            }
            if in_note && line.starts_with("  hint: ") {
                in_note = false;
                continue;
            }
            in_note = false;
            out.push_str(line);
            out.push('\n');
        }
        out
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// True when `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Kills `apply` with SIGKILL (nothing recorded) as soon as `ready()` holds, and asserts the
/// kill hit a live `apply`: it was still running when `ready()` turned true (a kill landing
/// after the run ended, or before `ready`, fails the test instead of testing nothing) and it
/// died of that very signal. The wait ends on progress, not on a clock: `apply` ending
/// first fails the test, and the deadline (180 s) only guards against a hung `apply`, so a
/// loaded machine that slows `apply` down does not fail it.
pub fn kill_9_when(mut apply: Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(
            apply.try_wait().expect("apply").is_none(),
            "apply ended before {what}"
        );
        if ready() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "waited 180 s for {what} while apply ran: it hangs"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    apply.kill().expect("kill -9");
    let status = apply.wait().expect("reap");
    assert_eq!(
        status.signal(),
        Some(9),
        "apply was not killed by the SIGKILL sent {what}: {status}"
    );
}
