//! Zoom's OAuth server: `POST /oauth/token` (refresh with rotation, account credentials,
//! authorization code, all behind HTTP Basic client authentication) and `GET /oauth/authorize`
//! (plays the user clicking "Allow").

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State as Extract};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;

use crate::config::{RefreshRejection, SimConfig};
use crate::errors::oauth_error;
use crate::padding::padded_json;
use crate::state::{Shared, State};

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    account_id: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
}

pub(crate) async fn token(
    Extract(shared): Extract<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let mut state = shared.lock();
    state.stats.token_requests += 1;
    if !client_authenticated(&headers, &state.config) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "Invalid client_id or client_secret",
            "invalid_client",
        );
    }
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "Invalid request body",
            "invalid_request",
        );
    };
    match form.grant_type.as_deref() {
        Some("refresh_token") => refresh(&mut state, form.refresh_token.as_deref()),
        Some("account_credentials") => account_credentials(&mut state, form.account_id.as_deref()),
        Some("authorization_code") => authorization_code(&mut state, &form),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "Unsupported grant type",
            "unsupported_grant_type",
        ),
    }
}

fn refresh(state: &mut State, presented: Option<&str>) -> Response {
    match presented.and_then(|token| state.tokens.rotate(token)) {
        Some(successor) => {
            state.stats.refresh_grants += 1;
            grant(state, Some(successor))
        }
        None => {
            state.stats.rejected_refresh += 1;
            let (status, error) = match state.config.refresh_rejection {
                RefreshRejection::InvalidGrant => (StatusCode::BAD_REQUEST, "invalid_grant"),
                RefreshRejection::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_grant"),
                RefreshRejection::InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request"),
            };
            oauth_error(status, "Invalid Token!", error)
        }
    }
}

fn account_credentials(state: &mut State, account_id: Option<&str>) -> Response {
    if account_id != Some(state.config.account_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "Invalid account_id",
            "invalid_request",
        );
    }
    state.stats.account_credentials_grants += 1;
    grant(state, None)
}

fn authorization_code(state: &mut State, form: &TokenForm) -> Response {
    let (Some(code), Some(redirect_uri)) = (&form.code, &form.redirect_uri) else {
        return oauth_error(StatusCode::BAD_REQUEST, "Invalid Token!", "invalid_grant");
    };
    if !state.tokens.redeem_code(code, redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "Invalid Token!", "invalid_grant");
    }
    state.stats.authorization_code_grants += 1;
    let refresh_token = state.tokens.authorize();
    grant(state, Some(refresh_token))
}

/// A new access token, with `refresh_token` when the grant yields one.
fn grant(state: &mut State, refresh_token: Option<String>) -> Response {
    let ttl = state.config.access_token_ttl;
    let mut body = json!({
        "access_token": state.tokens.issue_access(ttl),
        "token_type": "bearer",
        "expires_in": ttl.as_secs().saturating_sub(1),
        "scope": state.config.scopes.join(" "),
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    let pad = state.config.pad_response_bytes;
    if pad > 0 {
        return padded_json(body.to_string(), pad);
    }
    Json(body).into_response()
}

fn client_authenticated(headers: &HeaderMap, config: &SimConfig) -> bool {
    let expected = format!("{}:{}", config.client_id, config.client_secret);
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| BASE64.decode(encoded.trim()).ok())
        .is_some_and(|decoded| decoded == expected.as_bytes())
}

/// The user allows the app: redirect to `redirect_uri?code=…&state=…`.
pub(crate) async fn authorize(
    Extract(shared): Extract<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock();
    let param = |name: &str| query.get(name).map(String::as_str);
    if param("response_type") != Some("code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "Unsupported response type",
            "unsupported_response_type",
        );
    }
    if param("client_id") != Some(state.config.client_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "Invalid client_id",
            "invalid_client",
        );
    }
    let Some(redirect_uri) = param("redirect_uri").filter(|uri| !uri.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "Invalid redirect uri",
            "invalid_request",
        );
    };
    let code = state.tokens.issue_code(redirect_uri);
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect_uri}{separator}code={code}");
    if let Some(client_state) = param("state") {
        location.push_str("&state=");
        location.push_str(&percent_encode(client_state));
    }
    (StatusCode::FOUND, [(LOCATION, location)]).into_response()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
