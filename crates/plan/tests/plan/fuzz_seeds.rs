//! The plans of these tests as seeds for the plan reader's fuzz target (`fuzz/`): run on
//! demand, it writes each into the directory `CUTOVER_FUZZ_SEEDS` names, from which
//! `scripts/fuzz.sh add plan_read DIR` takes them into the committed corpus.

use cutover_plan::templates::TEMPLATES;

#[test]
#[ignore = "writes files: run by hand to reseed the fuzz corpus (see fuzz/README.md)"]
fn write_plan_read_seeds() {
    let dir =
        std::env::var_os("CUTOVER_FUZZ_SEEDS").expect("set CUTOVER_FUZZ_SEEDS to a directory");
    let cases = crate::cases_file::CASES
        .iter()
        .chain(crate::cases_steps::CASES)
        .chain(crate::cases_refs::CASES)
        .chain(crate::cases_traffic::CASES)
        .chain(crate::cases_files::CASES)
        .chain(crate::cases_limits::CASES)
        .map(|case| case.plan);
    let plans: Vec<&str> = cases
        .chain(TEMPLATES.iter().map(|t| t.text))
        .chain([crate::malformed::MANY, crate::malformed::MANY_REFERENCES])
        .collect();
    std::fs::create_dir_all(&dir).expect("create the seeds directory");
    for (i, plan) in plans.iter().enumerate() {
        let path = std::path::Path::new(&dir).join(format!("plan-{i:03}.toml"));
        std::fs::write(path, plan).expect("write a seed");
    }
}
