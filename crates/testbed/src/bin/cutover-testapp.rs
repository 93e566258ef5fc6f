//! `cutover-testapp --listen ADDR:PORT --name NAME [--version V]`: the lab's test web app
//! (see `cutover_testbed::app`). With `DATABASE_URL` or `PGHOST` in its environment it also
//! writes orders to PostgreSQL through a connection pool (see `cutover_testbed::app::db_config`).

use cutover_testbed::app::db::Database;
use cutover_testbed::app::db_config::DbSettings;
use cutover_testbed::app::{http, App};
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let listen = get("--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let name = get("--name").unwrap_or_else(|| "app".into());
    let version = get("--version").unwrap_or_else(|| "1".into());
    let settings = match DbSettings::from_env(|var| std::env::var(var).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("cutover-testapp: {e}");
            std::process::exit(2);
        }
    };
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cutover-testapp: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    let app = match settings {
        Some(settings) => {
            eprintln!(
                "cutover-testapp {name} listening on {listen}, database {:?} as {:?}, pool of {} (lifetime {:?})",
                settings.config.get_dbname().unwrap_or("(user's)"),
                settings.config.get_user().unwrap_or(""),
                settings.pool_size,
                settings.max_lifetime
            );
            App::with_database(&name, &version, Database::open(settings))
        }
        None => {
            eprintln!("cutover-testapp {name} listening on {listen}");
            App::new(&name, &version)
        }
    };
    http::serve(listener, Arc::new(move |req| app.handle(req)));
}
