//! `cutover-testapp --listen ADDR:PORT --name NAME [--version V]`: the lab's test web app
//! (see `cutover_testbed::app`).

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
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cutover-testapp: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("cutover-testapp {name} listening on {listen}");
    let app = App::new(&name, &version);
    http::serve(listener, Arc::new(move |req| app.handle(req)));
}
