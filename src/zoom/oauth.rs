//! Zoom's token endpoint: the refresh, Server-to-Server and authorization-code grants.
//!
//! Credentials go in the `Authorization: Basic` header and the form body, never in a URL. Errors
//! carry Zoom's `reason`/`error` words but never a response body, which could hold a token.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Deserialize;

use crate::secret::Secret;

/// What is exchanged for an access token.
pub enum Grant<'a> {
    RefreshToken(&'a Secret),
    AccountCredentials {
        account_id: &'a str,
    },
    AuthorizationCode {
        code: &'a str,
        redirect_uri: &'a str,
    },
}

/// Tokens granted by Zoom.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    /// The rotated refresh token (user-authorized apps only).
    pub refresh_token: Option<Secret>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("Zoom rejected the grant: {0}")]
    InvalidGrant(String),
    #[error("Zoom rejected the client id or client secret: {0}")]
    InvalidClient(String),
    #[error("the Zoom token endpoint is unavailable: {0}")]
    Unavailable(String),
    #[error("the Zoom token endpoint sent a malformed response: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Asks `token_url` for tokens.
pub async fn request_tokens(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &Secret,
    grant: Grant<'_>,
) -> Result<Tokens, OAuthError> {
    let form: Vec<(&str, &str)> = match grant {
        Grant::RefreshToken(token) => vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token.expose()),
        ],
        Grant::AccountCredentials { account_id } => vec![
            ("grant_type", "account_credentials"),
            ("account_id", account_id),
        ],
        Grant::AuthorizationCode { code, redirect_uri } => vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ],
    };
    let requested_at = Utc::now().trunc_subsecs(0);
    let response = http
        .post(token_url)
        .basic_auth(client_id, Some(client_secret.expose()))
        .form(&form)
        .send()
        .await
        .map_err(|e| OAuthError::Unavailable(without_url(e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| OAuthError::Unavailable(without_url(e)))?;
    if status.is_success() {
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| OAuthError::Malformed(format!("HTTP {status} without an access_token")))?;
        return Ok(Tokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token.filter(|t| !t.is_empty()),
            expires_at: requested_at + Duration::seconds(tokens.expires_in.unwrap_or(3600)),
        });
    }
    let error: ErrorResponse = serde_json::from_slice(&body).unwrap_or_default();
    let words = format!(
        "HTTP {status}, error {:?}, reason {:?}",
        error.error.as_deref().unwrap_or(""),
        error.reason.as_deref().unwrap_or("")
    );
    Err(match error.error.as_deref() {
        _ if status.is_server_error() || status.as_u16() == 429 => OAuthError::Unavailable(words),
        Some("invalid_client") => OAuthError::InvalidClient(words),
        Some("invalid_grant" | "invalid_request") => OAuthError::InvalidGrant(words),
        _ if error.reason.as_deref() == Some("Invalid Token!") => OAuthError::InvalidGrant(words),
        _ if status.as_u16() == 401 => OAuthError::InvalidClient(words),
        _ => OAuthError::InvalidGrant(words),
    })
}

/// A reqwest error's message without the URL (the token URL holds no secret, but stay terse).
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}
