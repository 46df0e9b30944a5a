//! Zoom's token endpoint: the refresh, Server-to-Server and authorization-code grants.
//!
//! Credentials go in the `Authorization: Basic` header and the form body, never in a URL. Errors
//! carry Zoom's `reason`/`error` words but never a response body, which could hold a token.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Deserialize;

use super::response::{BodyError, read_capped};
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
    /// A success response that carries a new refresh token but is unusable otherwise (no access
    /// token, an odd `expires_in`). Zoom has rotated already and the refresh token sent is dead:
    /// the caller stores `refresh_token` first, then reports `detail` as [`OAuthError::Malformed`].
    #[error(
        "the Zoom token endpoint sent a malformed response with a rotated refresh token: {detail}"
    )]
    MalformedAfterRotation {
        refresh_token: Secret,
        detail: String,
    },
}

/// The most of a token endpoint's response that is read (a grant is well under 2 KB).
pub const MAX_TOKEN_BODY_BYTES: usize = 1 << 20;

/// The longest `expires_in` taken at its word (Zoom's access tokens last an hour).
const MAX_EXPIRES_IN: i64 = 24 * 3600;

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
    let body = match read_capped(response, MAX_TOKEN_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::Read(e)) => return Err(OAuthError::Unavailable(without_url(e))),
        Err(BodyError::TooLarge { cap }) => {
            return Err(OAuthError::Malformed(BodyError::too_large(
                status.as_u16(),
                cap,
            )));
        }
    };
    if status.is_success() {
        return granted(&body, status.as_u16(), requested_at);
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

/// Reads a success response field by field, so that a rotated refresh token is never lost to an odd
/// field beside it: a refresh token with anything else wrong is
/// [`OAuthError::MalformedAfterRotation`]. Only `access_token`, `refresh_token` and `expires_in`
/// (an hour if missing) are read; `token_type`, `scope` and unknown fields may be anything.
fn granted(body: &[u8], status: u16, requested_at: DateTime<Utc>) -> Result<Tokens, OAuthError> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
        return Err(OAuthError::Malformed(format!(
            "HTTP {status} with a body that is not a JSON object"
        )));
    };
    let text = |name: &str| match fields.get(name) {
        Some(serde_json::Value::String(value)) if !value.trim().is_empty() => {
            Some(Secret::new(value.as_str()))
        }
        _ => None,
    };
    let refresh_token = text("refresh_token");
    let expires_in = match fields.get("expires_in") {
        None | Some(serde_json::Value::Null) => Ok(3600),
        Some(value) => value
            .as_i64()
            .filter(|seconds| (1..=MAX_EXPIRES_IN).contains(seconds))
            .ok_or("an expires_in that is not a number of seconds up to a day"),
    };
    let problem = match (text("access_token"), expires_in) {
        (Some(access_token), Ok(seconds)) => {
            return Ok(Tokens {
                access_token,
                refresh_token,
                expires_at: requested_at + Duration::seconds(seconds),
            });
        }
        (None, _) => "without an access_token",
        (Some(_), Err(problem)) => problem,
    };
    let detail = format!("HTTP {status} {problem}");
    Err(match refresh_token {
        Some(refresh_token) => OAuthError::MalformedAfterRotation {
            refresh_token,
            detail,
        },
        None => OAuthError::Malformed(detail),
    })
}

/// A reqwest error's message without the URL (the token URL holds no secret, but stay terse).
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-29T20:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_whole_response_gives_both_tokens_and_the_expiry() {
        let body = br#"{"access_token":"a2","refresh_token":"r2","expires_in":3599,"token_type":"bearer","scope":"x"}"#;
        let tokens = granted(body, 200, at()).unwrap();
        assert_eq!(tokens.access_token, Secret::new("a2"));
        assert_eq!(tokens.refresh_token, Some(Secret::new("r2")));
        assert_eq!(tokens.expires_at, at() + Duration::seconds(3599));
    }

    #[test]
    fn odd_token_type_and_scope_do_not_matter() {
        let body = br#"{"access_token":"a2","refresh_token":"r2","token_type":7,"scope":["x"]}"#;
        let tokens = granted(body, 200, at()).unwrap();
        assert_eq!(tokens.refresh_token, Some(Secret::new("r2")));
        assert_eq!(tokens.expires_at, at() + Duration::seconds(3600));
    }

    #[test]
    fn a_rotated_refresh_token_beside_an_unusable_field_is_still_handed_over() {
        for body in [
            &br#"{"refresh_token":"r2","expires_in":3599}"#[..],
            br#"{"access_token":"","refresh_token":"r2"}"#,
            br#"{"access_token":42,"refresh_token":"r2"}"#,
            br#"{"access_token":"a2","refresh_token":"r2","expires_in":"soon"}"#,
            br#"{"access_token":"a2","refresh_token":"r2","expires_in":-5}"#,
        ] {
            match granted(body, 200, at()) {
                Err(OAuthError::MalformedAfterRotation {
                    refresh_token,
                    detail,
                }) => {
                    assert_eq!(refresh_token, Secret::new("r2"));
                    assert!(!detail.contains("r2") && !detail.contains("a2"), "{detail}");
                }
                other => panic!("{:?}", other.map(|t| t.refresh_token)),
            }
        }
    }

    #[test]
    fn an_unusable_response_without_a_refresh_token_is_malformed_and_quotes_nothing() {
        for body in [
            &br#"{"expires_in":3599}"#[..],
            br#"{"access_token":"a2-secret","expires_in":"soon"}"#,
            br#"not json a2-secret"#,
            br#"["a2-secret"]"#,
        ] {
            match granted(body, 200, at()) {
                Err(OAuthError::Malformed(detail)) => {
                    assert!(!detail.contains("a2-secret"), "{detail}")
                }
                other => panic!("{:?}", other.map(|t| t.refresh_token)),
            }
        }
    }

    #[test]
    fn the_error_with_a_rotated_token_never_shows_it() {
        let error = OAuthError::MalformedAfterRotation {
            refresh_token: Secret::new("r2-secret"),
            detail: "HTTP 200 without an access_token".into(),
        };
        let text = format!("{error} {error:?}");
        assert!(!text.contains("r2-secret"), "{text}");
    }
}
