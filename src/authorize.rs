//! Onboarding a user-managed Zoom app: the OAuth authorization-code flow on a laptop.
//!
//! Prints the authorize URL, waits on a localhost redirect URL for Zoom's redirect, checks the
//! `state` it sent, exchanges the code, and writes client id, client secret and the first refresh
//! token into the state document, keeping the cursors and every other field already there. The
//! listener serves every connection concurrently, each with a read timeout, so a browser's idle
//! pre-connection cannot block the real redirect. No secret is ever printed.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ports::{StateStore, StoreError};
use crate::secret::Secret;
use crate::state::{StateDoc, StateError};
use crate::zoom::{Grant, OAuthError, request_tokens};

/// Zoom's authorization code lives five minutes; so does the wait for the browser.
const CODE_LIFETIME: Duration = Duration::from_secs(300);

/// How long one connection to the redirect listener may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the flow needs to know.
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    /// The token endpoint (`ZOOM_OAUTH_URL`); the authorize page is its sibling `/authorize`.
    pub token_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("no redirect arrived within {} seconds", CODE_LIFETIME.as_secs())]
    TimedOut,
    #[error("the redirect's state does not match the one sent: the request was not ours")]
    StateMismatch,
    #[error("Zoom did not authorize the app: {0}")]
    Denied(String),
    #[error("the redirect listener failed: {0}")]
    Listener(#[from] std::io::Error),
    #[error("no client secret: set ZOOM_CLIENT_SECRET or give it on standard input ({0})")]
    NoClientSecret(String),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("the existing state document cannot be updated: {0}")]
    Existing(StateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The authorize page that belongs to a token endpoint.
pub fn authorize_page(token_url: &str) -> String {
    let base = token_url.strip_suffix("/token").unwrap_or(token_url);
    format!("{base}/authorize")
}

/// How often `authorize` merges with a document another writer changes under it.
const AUTHORIZE_SAVE_ATTEMPTS: u32 = 3;

/// Runs the flow: `announce` gets the URL to open; the redirect must come to `listener`, whose
/// address `redirect_uri` names.
pub async fn authorize<S: StateStore>(
    http: &reqwest::Client,
    app: &AppCredentials,
    listener: TcpListener,
    redirect_uri: &str,
    store: &S,
    announce: impl FnOnce(&str),
) -> Result<(), AuthorizeError> {
    let state: String = format!("{:032x}", rand::rng().random::<u128>());
    let mut url = reqwest::Url::parse(&authorize_page(&app.token_url))
        .map_err(|e| AuthorizeError::Denied(format!("bad authorize URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &state);
    announce(url.as_str());

    let code = tokio::time::timeout(CODE_LIFETIME, wait_for_code(&listener, &state))
        .await
        .map_err(|_| AuthorizeError::TimedOut)??;
    let grant = Grant::AuthorizationCode {
        code: &code,
        redirect_uri,
    };
    let tokens = request_tokens(
        http,
        &app.token_url,
        &app.client_id,
        &app.client_secret,
        grant,
    )
    .await?;
    let refresh_token = tokens
        .refresh_token
        .ok_or_else(|| OAuthError::Malformed("the code grant returned no refresh_token".into()))?;

    // A compare-and-swap on the version read, so a cursor another writer stores meanwhile is kept;
    // the last attempt writes unconditionally: Zoom has issued the new refresh token, and a
    // re-authorization wins over whatever is stored.
    for attempt in 1..=AUTHORIZE_SAVE_ATTEMPTS {
        let (mut document, version) = match store.load_versioned().await {
            Ok(stored) => (existing_fields(&stored.text)?, stored.version),
            Err(e) if e.not_found => (Map::new(), None),
            Err(e) => return Err(e.into()),
        };
        document.remove("account_id");
        let fields = [
            ("client_id", Value::from(app.client_id.clone())),
            ("client_secret", Value::from(app.client_secret.expose())),
            ("refresh_token", Value::from(refresh_token.expose())),
            ("access_token", Value::from(tokens.access_token.expose())),
            (
                "access_token_expires_at",
                Value::from(tokens.expires_at.to_rfc3339()),
            ),
            (
                "refresh_token_rotated_at",
                Value::from(chrono::Utc::now().to_rfc3339()),
            ),
        ];
        for (name, value) in fields {
            document.insert(name.to_owned(), value);
        }
        let doc = StateDoc::parse(&Value::Object(document).to_string())
            .map_err(AuthorizeError::Existing)?;
        let expected = version
            .as_deref()
            .filter(|_| attempt < AUTHORIZE_SAVE_ATTEMPTS);
        match store.save_versioned(&doc.to_json(), expected).await {
            Ok(_) => break,
            Err(e) if e.conflict => {
                tracing::info!("another writer changed the state document; merging again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(client_id = %app.client_id, "app authorized; state document written");
    Ok(())
}

/// The fields of an existing document, which must be a JSON object (it is never replaced blindly).
fn existing_fields(text: &str) -> Result<Map<String, Value>, AuthorizeError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(AuthorizeError::Existing(StateError::Malformed(
            "not a JSON object".into(),
        ))),
    }
}

/// Serves the redirect: answers every connection in its own task, so that a browser's idle
/// pre-connection (or a slow one) cannot hold up the real redirect, and returns the outcome of
/// the first callback. A connection that sends no request head within [`READ_TIMEOUT`] is dropped.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<String, AuthorizeError> {
    let (outcome_tx, mut outcome_rx) = tokio::sync::mpsc::channel(1);
    let state: Arc<str> = Arc::from(state);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, _) = accepted?;
                let (state, outcome_tx) = (Arc::clone(&state), outcome_tx.clone());
                connections.spawn(async move {
                    match tokio::time::timeout(READ_TIMEOUT, serve(socket, &state)).await {
                        Ok(Ok(Some(outcome))) => {
                            let _ = outcome_tx.send(outcome).await;
                        }
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => tracing::debug!(error = %e, "a connection to the redirect listener failed"),
                        Err(_) => tracing::debug!("a connection to the redirect listener sent nothing in time"),
                    }
                });
            }
            Some(outcome) = outcome_rx.recv() => return outcome,
        }
    }
}

/// Answers one connection: the outcome if it was the OAuth callback, `None` for anything else.
async fn serve(
    mut socket: TcpStream,
    state: &str,
) -> std::io::Result<Option<Result<String, AuthorizeError>>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    if head.is_empty() {
        return Ok(None);
    }
    let target = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let Ok(url) = reqwest::Url::parse(&format!("http://localhost{target}")) else {
        respond(
            &mut socket,
            "400 Bad Request",
            "Not a request this listener understands.",
        )
        .await?;
        return Ok(None);
    };
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let outcome = match (param("code"), param("state"), param("error")) {
        (_, _, Some(error)) => Err(AuthorizeError::Denied(error)),
        (Some(_), Some(got), _) if got != state => Err(AuthorizeError::StateMismatch),
        (Some(code), Some(_), _) => Ok(code),
        _ => {
            respond(&mut socket, "404 Not Found", "Not the OAuth callback.").await?;
            return Ok(None);
        }
    };
    let (status, message) = match &outcome {
        Ok(_) => (
            "200 OK",
            "zoom-log-puller is authorized. You can close this window.".to_owned(),
        ),
        Err(e) => ("400 Bad Request", format!("Authorization failed: {e}")),
    };
    respond(&mut socket, status, &message).await?;
    Ok(Some(outcome))
}

async fn respond(socket: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_page_sits_beside_the_token_endpoint() {
        assert_eq!(
            authorize_page("https://zoom.us/oauth/token"),
            "https://zoom.us/oauth/authorize"
        );
        assert_eq!(
            authorize_page("https://zoomgov.com/oauth/token"),
            "https://zoomgov.com/oauth/authorize"
        );
    }
}
