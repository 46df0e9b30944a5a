//! Zoom's error replies: the API's `{"code","message"}` bodies (with `errors` for validation) and
//! the OAuth server's `{"reason","error"}` bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error: `{"code":code,"message":message}`.
pub(crate) fn api_error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// HTTP 400 code 300 naming the offending query field.
pub(crate) fn validation_failed(field: &str) -> Response {
    let body = json!({
        "code": 300,
        "message": "Validation Failed.",
        "errors": [{ "field": field, "message": "Invalid field." }],
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// HTTP 401 code 124: expired, revoked, unknown or missing access token.
pub(crate) fn invalid_access_token() -> Response {
    api_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

/// HTTP 400 code 300: the page token is unknown, expired or used with other parameters.
pub(crate) fn invalid_page_token() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        300,
        "The next page token is invalid or expired.",
    )
}

/// An error with this HTTP status and its reason phrase as the message.
pub(crate) fn http_status(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    api_error(
        code,
        u32::from(code.as_u16()),
        code.canonical_reason().unwrap_or("Error"),
    )
}

/// An OAuth error: `{"reason":reason,"error":error}`.
pub(crate) fn oauth_error(status: StatusCode, reason: &str, error: &str) -> Response {
    (status, Json(json!({ "reason": reason, "error": error }))).into_response()
}
