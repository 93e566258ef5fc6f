//! Text from hosts (command output, file names) reaches the terminal and the Markdown report
//! escaped: no raw HTML or Markdown in the report, no control or bidirectional character
//! printed raw.

use crate::fixture::Fixture;

/// A step whose error output names a file the way an attacker would: a right-to-left
/// override making `exe.jpg` read as `gpj.exe`, HTML, a terminal escape, Markdown.
const HOSTILE: &str = r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "hostile"
kind = "run"
hosts = ["new"]
command = '''printf 'name: \342\200\256gpj.exe <img src=x onerror=alert(1)> \033[2J | `x` [a](b)\n' >&2; exit 1'''
"#;

/// The newest run's id.
fn run_id(f: &Fixture) -> String {
    let status: serde_json::Value =
        serde_json::from_str(&f.run(&["status", "--json"]).expect(0).stdout()).expect("json");
    status["run"].as_str().expect("a run").to_string()
}

#[test]
fn hostile_output_is_escaped_on_the_terminal_and_in_the_report() {
    let f = Fixture::new(HOSTILE);
    let apply = f.run(&["apply", "--yes"]).expect(5);
    let run = run_id(&f);
    assert_eq!(
        apply.stdout().replace(&run, "RUN"),
        "starting run RUN

== stage s
-> hostile (run)
   FAILED hostile
   step `hostile` failed: command failed on new (exit 1):
     │ name: \\u{202E}gpj.exe <img src=x onerror=alert(1)> \\u{001B}[2J | `x` [a](b)
note: the run stopped before the next step; fix the cause and run `cutover apply` to retry `hostile`, or `cutover rollback` to undo the 0 applied step(s)
"
    );
    assert_eq!(
        apply.stderr(),
        "error: step `hostile` failed: command failed on new (exit 1):
  │ name: \\u{202E}gpj.exe <img src=x onerror=alert(1)> \\u{001B}[2J | `x` [a](b)
"
    );
    let status = f.run(&["status"]).expect(0).stdout();
    let json = f.run(&["status", "--json"]).expect(0).stdout();
    assert!(
        json.contains(r"name: \u202egpj.exe <img src=x onerror=alert(1)> \u001b[2J"),
        "{json}"
    );
    let report = f.run(&["report"]).expect(0).stdout();
    let lines = |text: &str, start: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(start))
            .map(|l| l.to_string())
            .collect()
    };
    assert_eq!(
        lines(&report, "| s | hostile |"),
        [r"| s | hostile | run | failed | 1 | SECONDS | step \`hostile\` failed: command failed on new (exit 1):<br>  │ name: \\u{202E}gpj.exe &lt;img src=x onerror=alert(1)&gt; \\u{001B}\[2J \| \`x\` \[a\](b) |"
            .replace("SECONDS", &report_seconds(&report))]
    );
    let command = report
        .lines()
        .find(|l| l.contains("| command_started |"))
        .unwrap_or_default();
    assert!(
        command.ends_with(r"| command_started | hostile | new: printf 'name: \\342\\200\\256gpj.exe &lt;img src=x onerror=alert(1)&gt; \\033\[2J \| \`x\` \[a\](b)\\n' &gt;&amp;2; exit 1 |"),
        "{command}"
    );
    for (what, text) in [
        ("apply", apply.stdout()),
        ("status", status),
        ("json", json),
        ("report", report),
    ] {
        assert!(
            !text.contains(['\u{202E}', '\u{1b}']),
            "{what} printed a raw control character"
        );
    }
}

/// The seconds column of the report's `hostile` row, as printed.
fn report_seconds(report: &str) -> String {
    report
        .lines()
        .find(|l| l.starts_with("| s | hostile |"))
        .and_then(|l| l.split(" | ").nth(5))
        .unwrap_or_default()
        .to_string()
}

/// A file name as an attacker who can write the target tree would choose it: HTML, a
/// right-to-left override (`exe.jpg` reads `gpj.exe`), a closing code fence.
const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>\u{202E}gpj.exe```";

/// A `files.verify` that finds a file with [`HOSTILE_NAME`] on the target only.
#[test]
fn a_hostile_file_name_is_escaped_on_the_terminal_and_in_the_report() {
    let f = Fixture::new("[[stages]]\nname = \"verify\"\n\n[[stages.steps]]\nid = \"proof\"\nkind = \"files.verify\"\nfrom = { host = \"old\", path = \"/srv/app\" }\nto = { host = \"new\", path = \"/srv/app\" }\n");
    for host in ["old", "new"] {
        f.lab
            .host(host)
            .exec_ok("mkdir -p /srv/app && echo v1 > /srv/app/VERSION")
            .unwrap();
    }
    std::fs::write(
        f.lab.host("new").fs_path("/srv/app").join(HOSTILE_NAME),
        "x",
    )
    .unwrap();
    let apply = f.run(&["apply", "--yes"]).expect(9);
    let named = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("gpj.exe"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        named(&apply.stdout()),
        [r"     - extra: <img src=x onerror=alert(1)>\u{202E}gpj.exe``` (target: file, 1 bytes)"]
    );
    let report = f.run(&["report"]).expect(0).stdout();
    let named = named(&report);
    // Table cells (the step's summary, the timeline's apply_stopped), then the proof.
    let (cells, proof_lines): (Vec<&String>, Vec<&String>) =
        named.iter().partition(|l| l.starts_with('|'));
    assert!(
        cells.len() == 2
            && cells.iter().all(|l| l.contains(
                r"<br>  - extra: &lt;img src=x onerror=alert(1)&gt;\\u{202E}gpj.exe\`\`\` (target: file, 1 bytes)<br>"
            )),
        "{cells:#?}"
    );
    // In the proof's code block, where nothing is rendered: a fence longer than the name's.
    assert_eq!(
        proof_lines,
        [r"  - extra: <img src=x onerror=alert(1)>\u{202E}gpj.exe``` (target: file, 1 bytes)"]
    );
    let proof = super::fixture::proof_section(&report, "proof (old + new)");
    assert!(proof.starts_with("\n\n````text\n"), "{proof}");
    assert!(proof.contains("(target: file, 1 bytes)\n````\n"), "{proof}");
    assert!(!report.contains('\u{202E}'), "{report}");
}
