//! Keeps the run's Zoom access token, refreshing it safely.
//!
//! A stored access token with more than a minute left is reused, so a run only refreshes about once
//! an hour. A refresh rotates the refresh token and kills the old one at once, so the new pair is
//! stored before anything else happens; if that store fails, no report call is made in this run.
//! Refreshes are serialized, so the run's concurrent log types never refresh the same token twice.
//! `invalid_grant` reloads the stored document once (another writer may have rotated the token)
//! before it becomes [`SourceError::AuthRevoked`]; after that, and after a failed store, the run's
//! other callers get the same error without asking Zoom again.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;

use super::oauth::{Grant, OAuthError, Tokens, request_tokens};
use super::retry::RetryPolicy;
use crate::ports::{SourceError, StateStore, StoreError};
use crate::secret::Secret;
use crate::state::{StateDoc, StateKeeper};

/// An access token this close to expiry is refreshed first.
const EXPIRY_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// Attempts at the token endpoint when it is unavailable.
const TOKEN_ATTEMPTS: u32 = 3;

pub struct TokenKeeper<'a, S> {
    http: &'a reqwest::Client,
    token_url: &'a str,
    state: &'a StateKeeper<S>,
    retry: RetryPolicy,
    /// Held for the whole of a refresh; remembers a failure that no retry in this run can mend.
    refresh: Mutex<Option<Dead>>,
}

/// Why this run can get no access token at all.
#[derive(Clone)]
enum Dead {
    Revoked(String),
    NotStored,
}

impl Dead {
    fn of(error: &SourceError) -> Option<Dead> {
        match error {
            SourceError::AuthRevoked { detail } => Some(Dead::Revoked(detail.clone())),
            SourceError::TokenNotStored(_) => Some(Dead::NotStored),
            _ => None,
        }
    }

    fn error(self) -> SourceError {
        match self {
            Dead::Revoked(detail) => SourceError::AuthRevoked { detail },
            Dead::NotStored => SourceError::TokenNotStored(StoreError::new(
                "storing the rotated refresh token",
                "an earlier attempt in this run failed",
            )),
        }
    }
}

impl<'a, S: StateStore> TokenKeeper<'a, S> {
    pub fn new(
        http: &'a reqwest::Client,
        token_url: &'a str,
        state: &'a StateKeeper<S>,
        retry: RetryPolicy,
    ) -> Self {
        TokenKeeper {
            http,
            token_url,
            state,
            retry,
            refresh: Mutex::new(None),
        }
    }

    /// A usable access token.
    pub async fn access_token(&self) -> Result<Secret, SourceError> {
        self.token_other_than(None).await
    }

    /// A new access token after Zoom rejected `rejected` (unless another caller already got one).
    pub async fn renew(&self, rejected: &Secret) -> Result<Secret, SourceError> {
        self.token_other_than(Some(rejected)).await
    }

    async fn token_other_than(&self, rejected: Option<&Secret>) -> Result<Secret, SourceError> {
        let mut dead = self.refresh.lock().await;
        if let Some(cause) = dead.clone() {
            return Err(cause.error());
        }
        let doc = self.state.snapshot().await;
        if let Some(token) = usable_token(&doc).filter(|&t| Some(t) != rejected) {
            return Ok(token.clone());
        }
        let result = self.obtain(doc).await;
        if let Err(error) = &result {
            *dead = Dead::of(error);
        }
        result
    }

    async fn obtain(&self, mut doc: StateDoc) -> Result<Secret, SourceError> {
        let mut reloaded = false;
        loop {
            match self.request(&doc).await {
                Ok(tokens) => return self.keep(&doc, tokens).await,
                Err(OAuthError::InvalidGrant(detail)) if !reloaded && doc.account_id.is_none() => {
                    tracing::warn!(%detail, "refresh token rejected; reloading the stored state once");
                    reloaded = true;
                    let stored = self.state.reload().await?;
                    if let Some(token) = usable_token(&stored) {
                        return Ok(token.clone());
                    }
                    if stored.refresh_token == doc.refresh_token {
                        return Err(SourceError::AuthRevoked { detail });
                    }
                    doc = stored;
                }
                Err(OAuthError::InvalidGrant(detail) | OAuthError::InvalidClient(detail)) => {
                    return Err(SourceError::AuthRevoked { detail });
                }
                Err(OAuthError::Unavailable(detail)) => {
                    return Err(SourceError::Unavailable { detail });
                }
                Err(OAuthError::Malformed(detail)) => {
                    return Err(SourceError::Malformed { detail });
                }
            }
        }
    }

    /// One grant, retried while the endpoint is unavailable.
    async fn request(&self, doc: &StateDoc) -> Result<Tokens, OAuthError> {
        let mut attempt = 1;
        loop {
            let grant = match (&doc.account_id, &doc.refresh_token) {
                (Some(account_id), _) => Grant::AccountCredentials { account_id },
                (None, Some(refresh_token)) => Grant::RefreshToken(refresh_token),
                (None, None) => unreachable!("a loaded state document has one grant"),
            };
            let result = request_tokens(
                self.http,
                self.token_url,
                &doc.client_id,
                &doc.client_secret,
                grant,
            )
            .await;
            match result {
                Err(OAuthError::Unavailable(detail)) if attempt < TOKEN_ATTEMPTS => {
                    tracing::warn!(%detail, attempt, "token endpoint unavailable; retrying");
                    tokio::time::sleep(self.retry.backoff(attempt).min(Duration::from_secs(5)))
                        .await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Puts new tokens into the document; a rotated refresh token is stored before returning.
    async fn keep(&self, used: &StateDoc, tokens: Tokens) -> Result<Secret, SourceError> {
        let rotated = tokens.refresh_token.is_some();
        let access = tokens.access_token.clone();
        self.state
            .update(|doc| {
                doc.access_token = Some(tokens.access_token);
                doc.access_token_expires_at = Some(tokens.expires_at);
                if let Some(refresh) = tokens.refresh_token {
                    doc.refresh_token = Some(refresh);
                }
            })
            .await;
        if rotated {
            self.state
                .save()
                .await
                .map_err(SourceError::TokenNotStored)?;
            tracing::info!(
                server_to_server = used.account_id.is_some(),
                "refresh token rotated and stored"
            );
        } else {
            tracing::info!("new access token obtained");
        }
        Ok(access)
    }
}

fn usable_token(doc: &StateDoc) -> Option<&Secret> {
    let expires_at = doc.access_token_expires_at?;
    let token = doc.access_token.as_ref()?;
    (expires_at - Utc::now() > EXPIRY_MARGIN && !token.is_empty()).then_some(token)
}
