//! The `cutover` binary against real SSH hosts of the lab.

#[path = "cli/compose_fixture.rs"]
mod compose_fixture;
#[path = "cli/fixture.rs"]
mod fixture;
#[path = "cli/keepalive_load.rs"]
mod keepalive_load;

#[path = "cli/faults.rs"]
mod faults;
#[path = "cli/file_put.rs"]
mod file_put;
#[path = "cli/files.rs"]
mod files;

#[path = "cli/apply.rs"]
mod apply;
#[path = "cli/blue_green.rs"]
mod blue_green;
#[path = "cli/blue_green_dns_name.rs"]
mod blue_green_dns_name;
#[path = "cli/blue_green_keepalive.rs"]
mod blue_green_keepalive;
#[path = "cli/blue_green_reloading.rs"]
mod blue_green_reloading;
#[path = "cli/compose.rs"]
mod compose;
#[path = "cli/compose_build.rs"]
mod compose_build;
#[path = "cli/compose_mysql.rs"]
mod compose_mysql;
#[path = "cli/compose_stores.rs"]
mod compose_stores;
#[path = "cli/dns_records.rs"]
mod dns_records;
#[path = "cli/dns_resume.rs"]
mod dns_resume;
#[path = "cli/downtime.rs"]
mod downtime;
#[path = "cli/environments.rs"]
mod environments;
#[path = "cli/escaping.rs"]
mod escaping;
#[path = "cli/finish.rs"]
mod finish;
#[path = "cli/friction.rs"]
mod friction;
#[path = "cli/gates.rs"]
mod gates;
#[path = "cli/hostkeys.rs"]
mod hostkeys;
#[path = "cli/images.rs"]
mod images;
#[path = "cli/journal.rs"]
mod journal;
#[path = "cli/journal_copy.rs"]
mod journal_copy;
#[path = "cli/moves.rs"]
mod moves;
#[path = "cli/moves_soak_failure.rs"]
mod moves_soak_failure;
#[path = "cli/mysql.rs"]
mod mysql;
#[path = "cli/mysql_finish.rs"]
mod mysql_finish;
#[path = "cli/mysql_resume.rs"]
mod mysql_resume;
#[path = "cli/notify.rs"]
mod notify;
#[path = "cli/outputs.rs"]
mod outputs;
#[path = "cli/plan_file.rs"]
mod plan_file;
#[path = "cli/postgres.rs"]
mod postgres;
#[path = "cli/postgres_resume.rs"]
mod postgres_resume;
#[path = "cli/probes_from.rs"]
mod probes_from;
#[path = "cli/proxy_keepalive.rs"]
mod proxy_keepalive;
#[path = "cli/proxy_resume.rs"]
mod proxy_resume;
#[path = "cli/redis.rs"]
mod redis;
#[path = "cli/redis_finish.rs"]
mod redis_finish;
#[path = "cli/redis_move.rs"]
mod redis_move;
#[path = "cli/redis_resume.rs"]
mod redis_resume;
#[path = "cli/resume.rs"]
mod resume;
#[path = "cli/role_passwords.rs"]
mod role_passwords;
#[path = "cli/rollback.rs"]
mod rollback;
#[path = "cli/scoped_rollback.rs"]
mod scoped_rollback;
#[path = "cli/secrets.rs"]
mod secrets;
#[path = "cli/seed_000.rs"]
mod seed_000;
#[path = "cli/seed_001.rs"]
mod seed_001;
#[path = "cli/seed_002.rs"]
mod seed_002;
#[path = "cli/seed_003.rs"]
mod seed_003;
#[path = "cli/seed_003_lab.rs"]
mod seed_003_lab;
#[path = "cli/seed_004.rs"]
mod seed_004;
#[path = "cli/seeds_check.rs"]
mod seeds_check;
#[path = "cli/shared_journal.rs"]
mod shared_journal;
#[path = "cli/soak.rs"]
mod soak;
#[path = "cli/soak_detection.rs"]
mod soak_detection;
#[path = "cli/store_in_place.rs"]
mod store_in_place;
#[path = "cli/traffic.rs"]
mod traffic;
#[path = "cli/web.rs"]
mod web;
#[path = "cli/web_actions.rs"]
mod web_actions;
#[path = "cli/web_client.rs"]
mod web_client;
#[path = "cli/web_tls.rs"]
mod web_tls;
