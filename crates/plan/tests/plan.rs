//! The plan crate's integration tests: malformed plans with their exact messages and
//! locations, random mutations of the starter plans, the JSON Schema against the reader, and
//! the plans as seeds for the fuzz corpus.

#[path = "plan/cases_compose.rs"]
mod cases_compose;
#[path = "plan/cases_file.rs"]
mod cases_file;
#[path = "plan/cases_file_put.rs"]
mod cases_file_put;
#[path = "plan/cases_files.rs"]
mod cases_files;
#[path = "plan/cases_limits.rs"]
mod cases_limits;
#[path = "plan/cases_mysql.rs"]
mod cases_mysql;
#[path = "plan/cases_notify.rs"]
mod cases_notify;
#[path = "plan/cases_outputs.rs"]
mod cases_outputs;
#[path = "plan/cases_refs.rs"]
mod cases_refs;
#[path = "plan/cases_steps.rs"]
mod cases_steps;
#[path = "plan/cases_traffic.rs"]
mod cases_traffic;
#[path = "plan/fuzz_seeds.rs"]
mod fuzz_seeds;
#[path = "plan/malformed.rs"]
mod malformed;
#[path = "plan/mutations.rs"]
mod mutations;
#[path = "plan/schema.rs"]
mod schema;
#[path = "plan/starters.rs"]
mod starters;
#[path = "plan/starters_schema.rs"]
mod starters_schema;
#[path = "plan/var_lengths.rs"]
mod var_lengths;
#[path = "plan/warnings.rs"]
mod warnings;
