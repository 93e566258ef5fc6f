//! `cutover probe URL --resolve HOST:PORT:ADDRESS`: one HTTP(S) probe on its own, like curl
//! with judgement: the request goes to the pinned address with the URL's Host header and TLS
//! name, and the answer is checked (status, JSON fields, body, latency, certificate).

use crate::output::{paint, print_json, safe, Style};
use cutover_checks::http::{Client, HttpProbe, Pin};
use cutover_engine::ExitCode;
use std::time::Duration;

/// Options of `cutover probe`.
#[derive(clap::Args)]
pub struct Args {
    /// The URL users would request, e.g. `https://app.example.com/healthz`.
    url: String,
    /// Send requests for HOST:PORT to ADDRESS (curl's form), or every request to ADDRESS.
    #[arg(long, value_name = "HOST:PORT:ADDRESS")]
    resolve: Vec<String>,
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// A request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The request body.
    #[arg(short = 'd', long)]
    data: Option<String>,
    /// An accepted status (repeatable; default: any 2xx).
    #[arg(long)]
    status: Vec<u16>,
    /// An assertion on the JSON body, e.g. '$.status == "ok"' (repeatable).
    #[arg(long = "assert", value_name = "PATH PREDICATE")]
    asserts: Vec<String>,
    /// Text the body must contain.
    #[arg(long)]
    contains: Option<String>,
    /// A regular expression the body must match.
    #[arg(long)]
    matches: Option<String>,
    /// Slowest acceptable answer, e.g. 500ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    max_latency: Option<Duration>,
    /// A PEM file of CAs to trust besides the system's.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// Fail when the certificate expires in fewer days.
    #[arg(long, default_value_t = 7)]
    min_cert_days: i64,
    /// Follow redirects.
    #[arg(short = 'L', long)]
    follow: bool,
    /// Time limit of each request.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Probe this many times (keep-alive connections are reused).
    #[arg(short = 'n', long, default_value_t = 1)]
    count: u32,
    /// Pause between probes.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Print the outcomes as JSON.
    #[arg(long)]
    json: bool,
}

fn usage(msg: String) -> ExitCode {
    eprintln!("{} {msg}", paint(Style::Red, "error:"));
    ExitCode::Usage
}

fn build(a: &Args) -> Result<HttpProbe, String> {
    let uri = a
        .url
        .parse()
        .map_err(|e| format!("`{}` is not a URL: {e}", a.url))?;
    let mut p = HttpProbe::get(uri);
    let r = &mut p.request;
    r.method = a
        .method
        .parse()
        .map_err(|_| format!("`{}` is not an HTTP method", a.method))?;
    for h in &a.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header `{h}` must be `Name: value`"))?;
        r.headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(d) = &a.data {
        r.body = d.clone().into();
    }
    for pin in &a.resolve {
        r.pins.push(Pin::parse(pin)?);
    }
    r.ca_file = a.cacert.clone();
    r.timeout = a.timeout;
    p.status = a.status.clone();
    for text in &a.asserts {
        p.json.push(
            cutover_plan::checks::assert::parse_json_assert(text)
                .map_err(|e| format!("--assert: {e}"))?,
        );
    }
    p.body_contains = a.contains.clone();
    if let Some(re) = &a.matches {
        p.body_matches = Some(regex_lite::Regex::new(re).map_err(|e| format!("--matches: {e}"))?);
    }
    p.max_latency = a.max_latency;
    p.follow_redirects = a.follow;
    p.min_cert_days = a.min_cert_days;
    Ok(p)
}

pub async fn run(a: Args) -> ExitCode {
    let probe = match build(&a) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let client = Client::default();
    let mut outcomes = Vec::new();
    for i in 0..a.count.max(1) {
        if i > 0 {
            tokio::time::sleep(a.interval).await;
        }
        let o = probe.run(&client, None).await;
        if !a.json {
            let mark = if o.ok {
                paint(Style::Green, "✓")
            } else {
                paint(Style::Red, "✗")
            };
            outln!(
                "{mark} {} {}  {}",
                probe.request.method,
                safe(&a.url),
                safe(&o.line())
            );
        }
        outcomes.push(o);
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    if a.json {
        print_json(&serde_json::json!({ "url": a.url, "ok": failed == 0, "outcomes": outcomes }));
    } else if outcomes.len() > 1 {
        outln!("{} of {} probes failed", failed, outcomes.len());
    }
    if failed == 0 {
        ExitCode::Ok
    } else {
        ExitCode::VerifyFailed
    }
}
