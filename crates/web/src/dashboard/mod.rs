//! `cutover dashboard`: a local web server that shows a run as it happens and lets the
//! operator approve its gate or roll it back. Loopback by default; another address only when
//! asked, and then over TLS. Every request needs the token printed at start and must come
//! from the dashboard's own origin. Journal events reach every viewer through server-sent
//! events; a viewer that reconnects sends the last event id it saw and gets what it missed.

mod actions;
mod feed;
mod guard;
mod live;
mod page;
mod step_progress;
mod tls;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use feed::{Feed, Update};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub use guard::TOKEN_HEADER;

/// What to serve and where.
pub struct Options {
    /// The plan file.
    pub plan: PathBuf,
    /// Where to listen (loopback unless asked otherwise).
    pub listen: SocketAddr,
    /// The run to show (default: the newest, following new runs).
    pub run: Option<String>,
}

/// What a started dashboard tells its operator.
pub struct Started {
    /// The URL to open, with the token.
    pub url: String,
    /// Off loopback: the TLS certificate's SHA-256 fingerprint.
    pub fingerprint: Option<String>,
}

/// Why the dashboard could not run.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A wildcard address: the origin check needs the address viewers use.
    #[error(
        "--listen {0}: give the address viewers will open (e.g. 192.0.2.10:8443), not a wildcard"
    )]
    Wildcard(SocketAddr),
    /// No token or certificate could be made.
    #[error("{0}")]
    Setup(String),
}

struct App {
    plan_path: PathBuf,
    plan_name: String,
    feed: Arc<Feed>,
    nonce: String,
}

/// Serves until the process ends; `started` is called once listening.
pub async fn serve(o: Options, started: impl FnOnce(&Started)) -> Result<(), DashboardError> {
    if o.listen.ip().is_unspecified() {
        return Err(DashboardError::Wildcard(o.listen));
    }
    let listen_err = |source| DashboardError::Listen {
        addr: o.listen,
        source,
    };
    let listener = std::net::TcpListener::bind(o.listen).map_err(listen_err)?;
    let addr = listener.local_addr().map_err(listen_err)?;
    let tls = !addr.ip().is_loopback();
    let guard = Arc::new(
        guard::Guard::new(addr, tls)
            .map_err(|e| DashboardError::Setup(format!("no randomness for the token: {e}")))?,
    );
    let nonce = guard::Guard::new(addr, tls)
        .map_err(|e| DashboardError::Setup(e.to_string()))?
        .token()
        .to_string();
    let plan_name = cutover_plan::load(&o.plan)
        .map(|(p, _)| p.name)
        .unwrap_or_default();
    let feed = Feed::new(o.plan.clone(), o.run);
    tokio::spawn(feed.clone().run());
    let app = Arc::new(App {
        plan_path: o.plan,
        plan_name,
        feed,
        nonce,
    });
    let router = Router::new()
        .route("/", get(index))
        .route("/events", get(events))
        .route("/approve", post(actions::approve))
        .route("/rollback", post(actions::rollback))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            guard::check,
        ));
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{addr}/?token={}", guard.token());
    let served = if tls {
        let (config, fingerprint) = tls::config(addr).await.map_err(DashboardError::Setup)?;
        started(&Started {
            url,
            fingerprint: Some(fingerprint),
        });
        axum_server::from_tcp_rustls(listener, config)
            .map_err(listen_err)?
            .serve(router.into_make_service())
            .await
    } else {
        started(&Started {
            url,
            fingerprint: None,
        });
        axum_server::from_tcp(listener)
            .map_err(listen_err)?
            .serve(router.into_make_service())
            .await
    };
    served.map_err(listen_err)
}

async fn index(State(app): State<Arc<App>>) -> Response {
    let (_, view) = app.feed.since(i64::MAX);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        app.nonce
    );
    let mut r = Html(page::page(&app.plan_name, &view, &app.nonce)).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A journal event for the page's log (text only: the page sets it as text).
fn journal_event(r: &cutover_journal::Record) -> SseEvent {
    let data = serde_json::json!({
        "seq": r.seq,
        "at": cutover_journal::format_ms(r.at_ms),
        "at_ms": r.at_ms,
        "event": r.event.name(),
        "step": r.event.step(),
        "detail": crate::shown(&cutover_engine::report::detail(&r.event)),
    });
    SseEvent::default()
        .event("journal")
        .id(r.seq.to_string())
        .data(data.to_string())
}

fn view_event(v: &live::View) -> SseEvent {
    SseEvent::default()
        .event("view")
        .id(v.seq.to_string())
        .data(serde_json::to_string(v).unwrap_or_default())
}

/// The events of `records` after `seen` and the view; the new `seen`.
fn batch(
    records: &[cutover_journal::Record],
    view: &live::View,
    seen: i64,
) -> (Vec<Result<SseEvent, Infallible>>, i64) {
    let mut out: Vec<_> = records
        .iter()
        .filter(|r| r.seq > seen)
        .map(|r| Ok(journal_event(r)))
        .collect();
    let seen = records.last().map_or(seen, |r| r.seq.max(seen));
    out.push(Ok(view_event(view)));
    (out, seen)
}

async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    // Subscribe before reading what was missed, so that nothing falls in between.
    let rx = app.feed.subscribe();
    let (missed, view) = app.feed.since(last);
    let (first, seen) = batch(&missed, &view, last);
    let feed = app.feed.clone();
    let live = stream::unfold((rx, seen, feed), |(mut rx, seen, feed)| async move {
        let (items, seen) = match rx.recv().await {
            Ok(update) => {
                let Update { records, view } = &*update;
                batch(records, view, seen)
            }
            // Too slow a viewer: catch up from the feed.
            Err(RecvError::Lagged(_)) => {
                let (missed, view) = feed.since(seen);
                batch(&missed, &view, seen)
            }
            Err(RecvError::Closed) => return None,
        };
        Some((stream::iter(items), (rx, seen, feed)))
    })
    .flatten();
    Sse::new(stream::iter(first).chain(live)).keep_alive(KeepAlive::default())
}
