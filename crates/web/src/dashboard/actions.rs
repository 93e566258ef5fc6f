//! What a viewer can do: approve the waiting gate (the same journaled approval as `cutover
//! approve`, with the name the operator typed) and roll the run back (the same as `cutover
//! rollback`, its reason naming who asked).

use super::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use std::time::Duration;

/// An approval from the page.
#[derive(serde::Deserialize)]
pub struct ApproveForm {
    gate: String,
    by: String,
    comment: Option<String>,
}

/// A rollback request from the page.
#[derive(serde::Deserialize)]
pub struct RollbackForm {
    by: String,
    reason: Option<String>,
}

/// A name to journal: trimmed, one line, not empty, not endless.
fn operator(by: &str) -> Option<String> {
    let by = by.trim();
    (!by.is_empty() && by.len() <= 200 && !by.chars().any(char::is_control)).then(|| by.to_string())
}

fn no_operator() -> Response {
    (
        StatusCode::BAD_REQUEST,
        "give your name (one line, at most 200 characters): it is journaled with the action\n",
    )
        .into_response()
}

pub async fn approve(State(app): State<Arc<App>>, Json(f): Json<ApproveForm>) -> Response {
    let Some(by) = operator(&f.by) else {
        return no_operator();
    };
    let plan = app.plan_path.clone();
    let gate = f.gate.clone();
    let comment = f.comment.filter(|c| !c.trim().is_empty());
    let who = by.clone();
    let done = tokio::task::spawn_blocking(move || {
        cutover_engine::approve(&plan, &gate, &who, comment.as_deref())
    })
    .await;
    match done {
        Ok(Ok(run)) => (
            StatusCode::OK,
            format!("approved {} by {by} (run {run})\n", crate::shown(&f.gate)),
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::CONFLICT,
            format!("not approved: {}\n", crate::shown(&e.to_string())),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("approval failed: {e}\n"),
        )
            .into_response(),
    }
}

pub async fn rollback(State(app): State<Arc<App>>, Json(f): Json<RollbackForm>) -> Response {
    let Some(by) = operator(&f.by) else {
        return no_operator();
    };
    let reason = match f.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("requested from the dashboard by {by}: {r}"),
        None => format!("requested from the dashboard by {by}"),
    };
    let plan = app.plan_path.clone();
    let (_stop, cancel) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let ui = cutover_engine::ui::Silent;
        cutover_engine::rollback(
            &plan,
            &reason,
            &cutover_engine::RollbackScope::All,
            &ui,
            cancel,
        )
        .await
    });
    // A refusal (the plan is locked by a running apply, nothing to roll back) comes at once;
    // a rollback under way goes on and shows in the journal.
    match tokio::time::timeout(Duration::from_secs(2), task).await {
        Ok(Ok(Ok(o))) => (
            StatusCode::OK,
            format!(
                "run {} rolled back: {} step(s) undone\n",
                o.run,
                o.undone.len()
            ),
        )
            .into_response(),
        Ok(Ok(Err(e))) => (
            StatusCode::CONFLICT,
            format!("not rolled back: {}\n", crate::shown(&e.to_string())),
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rollback failed: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::ACCEPTED, "rollback under way: follow it here\n").into_response(),
    }
}
