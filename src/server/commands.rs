//! The HTTP side of the control endpoints, `POST /-/reload` and
//! `POST /api/v1/probes/{name}/run`: gating, then one call to [`Control`].
//!
//! Gating, in this order: the endpoint's flag is off → 403 naming the flag; no
//! `basic_auth_users` → 403 (these endpoints change what loadprobe does, so they are never
//! open to anonymous callers); missing or wrong credentials → 401; no engine to command →
//! 503.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::control::{Control, RunNowError};
use crate::web::auth::unauthorized;

/// `POST /-/reload`: 200 with what changed, or 500 with why the config was rejected.
pub async fn reload(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let enabled = state.access.enable_lifecycle;
    let control = match gate(&state, enabled, "--web.enable-lifecycle", &headers).await {
        Ok(control) => control,
        Err(refusal) => return refusal,
    };
    match control.reload().await {
        Ok(summary) => Json(summary).into_response(),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

/// `POST /api/v1/probes/{name}/run`: 202 once the run started.
pub async fn run(
    State(state): State<AppState>,
    Path(probe): Path<String>,
    headers: HeaderMap,
) -> Response {
    let enabled = state.access.enable_run;
    let control = match gate(&state, enabled, "--web.enable-run", &headers).await {
        Ok(control) => control,
        Err(refusal) => return refusal,
    };
    let error = match control.run_now(&probe).await {
        Ok(()) => {
            return text(
                StatusCode::ACCEPTED,
                format!("run of probe {probe} started"),
            );
        }
        Err(error) => error,
    };
    let status = match error {
        RunNowError::UnknownProbe(_) => StatusCode::NOT_FOUND,
        RunNowError::AlreadyRunning(_) => StatusCode::CONFLICT,
        RunNowError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    };
    text(status, error.to_string())
}

/// The control handle, or the response that refuses the request.
async fn gate<'a>(
    state: &'a AppState,
    enabled: bool,
    flag: &str,
    headers: &HeaderMap,
) -> Result<&'a Control, Response> {
    if !enabled {
        let message =
            format!("this endpoint is disabled; start loadprobe with {flag} to enable it");
        return Err(text(StatusCode::FORBIDDEN, message));
    }
    if !state.access.has_users() {
        let message =
            "this endpoint requires basic auth: set basic_auth_users in --web.config.file";
        return Err(text(StatusCode::FORBIDDEN, message));
    }
    if !state.access.admits(headers).await {
        return Err(unauthorized());
    }
    state.control.as_ref().ok_or_else(|| {
        let message = "loadprobe's engine does not take commands (yet); try again later";
        text(StatusCode::SERVICE_UNAVAILABLE, message)
    })
}

/// A one-line plain-text answer.
fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (status, body).into_response()
}
