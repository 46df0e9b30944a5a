//! Keeps the run's Zoom access token, refreshing it safely.
//!
//! A stored access token with more than a minute left is reused, so a run only refreshes about once
//! an hour. A refresh rotates the refresh token and kills the old one at once, so the new pair is
//! stored before anything else happens; if that store fails, no report call is made in this run.
//! Refreshes are serialized, so the run's concurrent log types never refresh the same token twice.
//! `invalid_grant` reloads the stored document once (another writer may have rotated the token)
//! before it becomes [`SourceError::AuthRevoked`]; after that, and after a failed store, the run's
//! other callers get the same error without asking Zoom again.
//!
//! No refresh, and no retry of one, starts after the caller's deadline: the caller gets
//! [`SourceError::Deadline`] and stops cleanly. One started before it ends within
//! [`super::REFRESH_WORST_CASE`] (the request under way, then the store of the rotated token),
//! which the run's deadline margin leaves room for.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::oauth::{Grant, OAuthError, Tokens, request_tokens};
use super::retry::{RetryPolicy, wait};
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

    /// A usable access token. A refresh it needs does not start after `deadline`.
    pub async fn access_token(&self, deadline: Option<Instant>) -> Result<Secret, SourceError> {
        self.token_other_than(None, deadline).await
    }

    /// A new access token after Zoom rejected `rejected` (unless another caller already got one).
    pub async fn renew(
        &self,
        rejected: &Secret,
        deadline: Option<Instant>,
    ) -> Result<Secret, SourceError> {
        self.token_other_than(Some(rejected), deadline).await
    }

    async fn token_other_than(
        &self,
        rejected: Option<&Secret>,
        deadline: Option<Instant>,
    ) -> Result<Secret, SourceError> {
        let mut dead = self.refresh.lock().await;
        if let Some(cause) = dead.clone() {
            return Err(cause.error());
        }
        let doc = self.state.snapshot().await;
        if let Some(token) = usable_token(&doc).filter(|&t| Some(t) != rejected) {
            return Ok(token.clone());
        }
        let result = self.obtain(doc, deadline).await;
        if let Err(error) = &result {
            *dead = Dead::of(error);
        }
        result
    }

    async fn obtain(
        &self,
        mut doc: StateDoc,
        deadline: Option<Instant>,
    ) -> Result<Secret, SourceError> {
        let mut reloaded = false;
        loop {
            match self.request(&doc, deadline).await? {
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
                Err(OAuthError::MalformedAfterRotation {
                    refresh_token,
                    detail,
                }) => {
                    self.keep_rotated_only(refresh_token).await?;
                    return Err(SourceError::Malformed { detail });
                }
            }
        }
    }

    /// One grant, retried while the endpoint is unavailable; no attempt starts after `deadline`
    /// (the outer error).
    async fn request(
        &self,
        doc: &StateDoc,
        deadline: Option<Instant>,
    ) -> Result<Result<Tokens, OAuthError>, SourceError> {
        let mut attempt = 1;
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::info!("too little time is left to refresh the access token");
                return Err(SourceError::Deadline);
            }
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
                    wait(
                        self.retry.backoff(attempt).min(Duration::from_secs(5)),
                        deadline,
                    )
                    .await?;
                    attempt += 1;
                }
                result => return Ok(result),
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
                    doc.refresh_token_rotated_at = Some(chrono::Utc::now());
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

impl<S: StateStore> TokenKeeper<'_, S> {
    /// Stores a refresh token Zoom rotated in a response that was unusable otherwise: the one this
    /// run sent is dead, so the new one must reach the store before the response is reported. The
    /// old access token goes with it (it was not usable, or there would have been no refresh).
    async fn keep_rotated_only(&self, refresh_token: Secret) -> Result<(), SourceError> {
        self.state
            .update(|doc| {
                doc.refresh_token = Some(refresh_token);
                doc.refresh_token_rotated_at = Some(Utc::now());
                doc.access_token = None;
                doc.access_token_expires_at = None;
            })
            .await;
        self.state
            .save()
            .await
            .map_err(SourceError::TokenNotStored)?;
        tracing::warn!("refresh token rotated and stored, but Zoom's response was malformed");
        Ok(())
    }
}

fn usable_token(doc: &StateDoc) -> Option<&Secret> {
    let expires_at = doc.access_token_expires_at?;
    let token = doc.access_token.as_ref()?;
    (expires_at - Utc::now() > EXPIRY_MARGIN && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use tokio::sync::Semaphore;
    use zoom_sim::{SimConfig, Simulator};

    use super::*;
    use crate::ports::StoredDocument;
    use crate::zoom::http_client;

    /// An in-memory store that counts reads, keeps every write, and can fail or hold its writes.
    struct Store {
        document: StdMutex<String>,
        saved: StdMutex<Vec<String>>,
        loads: AtomicUsize,
        failing: AtomicBool,
        /// When set, each write waits for a permit.
        gate: Option<Semaphore>,
    }

    impl Store {
        fn new(document: String) -> Store {
            Store {
                document: StdMutex::new(document),
                saved: StdMutex::new(Vec::new()),
                loads: AtomicUsize::new(0),
                failing: AtomicBool::new(false),
                gate: None,
            }
        }

        fn saved(&self) -> Vec<StateDoc> {
            let saved = self.saved.lock().unwrap();
            saved.iter().map(|t| StateDoc::parse(t).unwrap()).collect()
        }
    }

    impl StateStore for Store {
        async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            Ok(StoredDocument {
                text: self.document.lock().unwrap().clone(),
                version: None,
            })
        }

        async fn save_versioned(
            &self,
            document: &str,
            _expected: Option<&str>,
        ) -> Result<Option<String>, StoreError> {
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::new("PutSecretValue", "injected"));
            }
            *self.document.lock().unwrap() = document.to_owned();
            self.saved.lock().unwrap().push(document.to_owned());
            Ok(None)
        }
    }

    fn document(refresh_token: &str) -> String {
        SimConfig::default().state_document(refresh_token)
    }

    /// A simulator, its HTTP client and token URL, for one test.
    struct Zoom {
        sim: Simulator,
        http: reqwest::Client,
        token_url: String,
    }

    impl Zoom {
        fn start() -> Zoom {
            let sim = Simulator::start(SimConfig::default());
            let token_url = sim.oauth_url();
            Zoom {
                sim,
                http: http_client(),
                token_url,
            }
        }

        fn keeper<'a, S: StateStore>(&'a self, state: &'a StateKeeper<S>) -> TokenKeeper<'a, S> {
            TokenKeeper::new(&self.http, &self.token_url, state, RetryPolicy::default())
        }

        fn current(&self) -> Secret {
            Secret::new(self.sim.current_refresh_token().unwrap())
        }
    }

    #[tokio::test]
    async fn the_rotated_token_is_stored_before_the_new_access_token_is_handed_out() {
        let zoom = Zoom::start();
        let first = zoom.sim.authorize();
        let store = Store {
            gate: Some(Semaphore::new(0)),
            ..Store::new(document(&first))
        };
        let state = StateKeeper::load(&store).await.unwrap();
        let keeper = zoom.keeper(&state);

        let asked = keeper.access_token(None);
        tokio::pin!(asked);
        let early = tokio::time::timeout(Duration::from_millis(300), &mut asked).await;
        assert!(early.is_err(), "no access token while the store is pending");
        assert_ne!(zoom.current().expose(), first, "Zoom has rotated already");
        assert!(store.saved().is_empty());

        store.gate.as_ref().unwrap().add_permits(1);
        let token = asked.await.unwrap();
        let saved = store.saved();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].refresh_token, Some(zoom.current()));
        assert_eq!(saved[0].access_token, Some(token));
        let rotated_at = saved[0]
            .refresh_token_rotated_at
            .expect("the rotation time");
        assert!((chrono::Utc::now() - rotated_at).num_seconds().abs() < 60);
    }

    #[tokio::test]
    async fn when_the_rotated_token_cannot_be_stored_no_access_token_is_handed_out() {
        let zoom = Zoom::start();
        let store = Store::new(document(&zoom.sim.authorize()));
        store.failing.store(true, Ordering::SeqCst);
        let state = StateKeeper::load(&store).await.unwrap();
        let keeper = zoom.keeper(&state);

        let error = keeper.access_token(None).await.unwrap_err();
        assert!(matches!(error, SourceError::TokenNotStored(_)), "{error}");
        assert!(state.has_unstored_grant().await);
        let again = keeper.access_token(None).await.unwrap_err();
        assert!(matches!(again, SourceError::TokenNotStored(_)), "{again}");
        let stats = zoom.sim.stats();
        assert_eq!(
            stats.token_requests, 1,
            "Zoom is not asked again: {stats:?}"
        );
        assert_eq!(stats.refresh_grants, 1, "{stats:?}");
    }

    #[tokio::test]
    async fn two_log_types_asking_at_once_refresh_once() {
        let zoom = Zoom::start();
        let store = Store::new(document(&zoom.sim.authorize()));
        let state = StateKeeper::load(&store).await.unwrap();
        let keeper = zoom.keeper(&state);

        let (activity, operation) =
            tokio::join!(keeper.access_token(None), keeper.access_token(None));
        assert_eq!(activity.unwrap(), operation.unwrap());
        let stats = zoom.sim.stats();
        assert_eq!(stats.refresh_grants, 1, "{stats:?}");
        assert_eq!(stats.rejected_refresh, 0, "{stats:?}");
        assert_eq!(store.saved().len(), 1);
    }

    #[tokio::test]
    async fn a_rejected_refresh_token_is_reloaded_once_and_another_writers_token_used() {
        let zoom = Zoom::start();
        let store = Store::new(document("rotated-away"));
        let state = StateKeeper::load(&store).await.unwrap();
        *store.document.lock().unwrap() = document(&zoom.sim.authorize());
        let keeper = zoom.keeper(&state);

        keeper.access_token(None).await.unwrap();
        let stats = zoom.sim.stats();
        assert_eq!(stats.rejected_refresh, 1, "{stats:?}");
        assert_eq!(stats.refresh_grants, 1, "{stats:?}");
        assert_eq!(
            store.loads.load(Ordering::SeqCst),
            3,
            "the run's load, one reload, the save's check for a concurrent change"
        );
        assert_eq!(store.saved()[0].refresh_token, Some(zoom.current()));
    }

    #[tokio::test]
    async fn a_rejected_refresh_token_that_is_still_the_stored_one_is_revoked_after_one_reload() {
        // The reload reads a few times: a refusal means the store moved on, so the version read
        // at the start may be a lagging read.
        let zoom = Zoom::start();
        zoom.sim.authorize();
        let store = Store::new(document("revoked"));
        let state = StateKeeper::load(&store).await.unwrap();
        let keeper = zoom.keeper(&state);

        let error = keeper.access_token(None).await.unwrap_err();
        assert!(matches!(error, SourceError::AuthRevoked { .. }), "{error}");
        let again = keeper.access_token(None).await.unwrap_err();
        assert!(matches!(again, SourceError::AuthRevoked { .. }), "{again}");
        let stats = zoom.sim.stats();
        assert_eq!(stats.rejected_refresh, 1, "tried once: {stats:?}");
        assert_eq!(stats.token_requests, 1, "{stats:?}");
        assert_eq!(
            store.loads.load(Ordering::SeqCst),
            5,
            "one load, and one reload that reads a few times for a fresher version"
        );
        assert!(store.saved().is_empty());
    }

    /// A token endpoint that answers every request with HTTP 200 and `body`.
    async fn fixed_token_endpoint(body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                // The form body is short: the head and the body come before the client waits.
                while let Ok(n @ 1..) = client.read(&mut chunk).await {
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if rest.len() >= length {
                            break;
                        }
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(response.as_bytes()).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_in_a_malformed_response_is_stored_before_the_error_is_reported()
     {
        let token_url = fixed_token_endpoint(
            r#"{"refresh_token":"r2-new","token_type":"bearer","expires_in":"x"}"#,
        )
        .await;
        let store = Store::new(document("r1-old"));
        let state = StateKeeper::load(&store).await.unwrap();
        let http = http_client();
        let keeper = TokenKeeper::new(&http, &token_url, &state, RetryPolicy::default());

        let error = keeper.access_token(None).await.unwrap_err();
        assert!(matches!(error, SourceError::Malformed { .. }), "{error}");
        assert!(!format!("{error} {error:?}").contains("r2-new"));
        let saved = store.saved();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].refresh_token, Some(Secret::new("r2-new")));
        assert_eq!(saved[0].access_token, None);
        assert!(saved[0].refresh_token_rotated_at.is_some());
        assert!(!state.has_unstored_grant().await);
    }

    #[tokio::test]
    async fn no_refresh_starts_after_the_deadline_but_a_stored_access_token_is_still_used() {
        let zoom = Zoom::start();
        let store = Store::new(document(&zoom.sim.authorize()));
        let state = StateKeeper::load(&store).await.unwrap();
        let keeper = zoom.keeper(&state);
        let deadline = Some(Instant::now());

        let error = keeper.access_token(deadline).await.unwrap_err();
        assert!(matches!(error, SourceError::Deadline), "{error}");
        assert_eq!(zoom.sim.stats().token_requests, 0);

        let access = zoom.sim.issue_access_token(Duration::from_secs(3600));
        state
            .update(|doc| {
                doc.access_token = Some(Secret::new(access.clone()));
                doc.access_token_expires_at = Some(Utc::now() + chrono::Duration::hours(1));
            })
            .await;
        assert_eq!(
            keeper.access_token(deadline).await.unwrap(),
            Secret::new(access)
        );
        assert_eq!(zoom.sim.stats().token_requests, 0);
    }
}
