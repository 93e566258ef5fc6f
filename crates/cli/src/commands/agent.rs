//! `cutover agent serve [--expect HASH]` (hidden): what runs on a remote host when the
//! controller needs work done next to the data (file manifests, sync). The controller
//! uploads its own executable to `~/.cache/cutover/bin/cutover-<hash>` once and speaks JSON
//! lines with it over the SSH channel; see `cutover_data::agent`.

use cutover_engine::ExitCode;

/// Options of `cutover agent`.
#[derive(clap::Args)]
pub struct Args {
    /// What to run (`serve`) and its options (`--expect HASH`: refuse to serve if this
    /// binary does not hash to HASH, so a stale or damaged upload is replaced).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(a: Args) -> ExitCode {
    match a.args.first().map(String::as_str) {
        Some("serve") => match cutover_data::agent::host::main(&a.args[1..]) {
            0 => ExitCode::Ok,
            2 => ExitCode::Usage,
            _ => ExitCode::Internal,
        },
        _ => {
            eprintln!(
                "usage: cutover agent serve [--expect HASH] (started by cutover itself over SSH)"
            );
            ExitCode::Usage
        }
    }
}
