//! The files agent alone (`cutover-files-agent serve [--expect HASH]`): what `cutover agent
//! serve` runs, as a small binary for the data crate's own tests, which have no `cutover`
//! executable to upload.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(cutover_data::agent::host::main(&args));
}
