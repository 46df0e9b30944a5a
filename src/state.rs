//! The state document: credentials, tokens and cursors, kept in one secret (or a local file).
//!
//! [`StateDoc`] is the JSON of DESIGN.md with every unknown field kept. [`StateKeeper`] owns the
//! loaded document for one run, hands out what the token keeper and the use case need, and saves
//! it through a [`StateStore`] only when something changed. A save is a compare-and-swap on the
//! version this run last read or wrote: if another writer (another run, `zoomlogs check`, an
//! operator) stored a version meanwhile, the swap is lost, the keeper reads the new version, merges
//! it by the rule on [`StateKeeper`] (this run's rotated refresh token always wins unless the other
//! writer re-authorized the app, and this run never undoes a change it did not make) and swaps
//! again. A read that returns a version this run has already seen lags the write that moved the
//! store on; it is read again, a few times, and never taken for the current document, so a stale
//! copy can never overwrite a newer one (a refresh token another writer rotated, and Zoom has
//! already killed the old one of). A save that cannot see the new version in time is skipped
//! with a warning when it holds only cursors and access tokens (the cursors are recovered from the
//! checkpoint markers' `written_through` on the next run), and fails when it holds a rotated
//! refresh token that is not stored yet, which the token keeper reports as `TokenNotStored`. A
//! store without versions (the unit tests' fakes) cannot swap: the keeper reads and merges just
//! before it writes. Every store call, and the whole save, is bounded in time ([`SAVE_WORST_CASE`])
//! and the run's deadline margin is sized from it. A document that does not parse or lacks what a
//! run needs is an error and is never written back.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::ports::{StateStore, StoreError};
use crate::secret::Secret;

/// The secret's JSON, as the user creates it and this tool maintains it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateDoc {
    pub client_id: String,
    pub client_secret: Secret,
    /// Present for a Server-to-Server OAuth app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Present for a user-authorized app; rotates on every refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// When the refresh token was last issued (a rotation, or `zoomlogs authorize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_rotated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// Per log type: every event with `time <= cursor` has been written.
    #[serde(default)]
    pub cursors: BTreeMap<String, DateTime<Utc>>,
    /// Fields this tool does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The state document could not be read, was unusable, or could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state document is malformed: {0}")]
    Malformed(String),
    #[error("the state document is incomplete: {0}")]
    Incomplete(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StateDoc {
    /// Parses and validates a document. Error messages never quote the document's values.
    pub fn parse(text: &str) -> Result<StateDoc, StateError> {
        let doc: StateDoc = serde_json::from_str(text).map_err(describe_parse_error)?;
        doc.validate()?;
        Ok(doc)
    }

    /// The document as pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a state document always serializes")
    }

    fn validate(&self) -> Result<(), StateError> {
        if self.client_id.trim().is_empty() {
            return Err(StateError::Incomplete("client_id is empty".into()));
        }
        if self.client_secret.is_empty() {
            return Err(StateError::Incomplete("client_secret is empty".into()));
        }
        let has_refresh = self.refresh_token.as_ref().is_some_and(|t| !t.is_empty());
        let has_account = self
            .account_id
            .as_ref()
            .is_some_and(|a| !a.trim().is_empty());
        if !has_refresh && !has_account {
            return Err(StateError::Incomplete(
                "needs refresh_token (user-authorized app) or account_id (Server-to-Server app)"
                    .into(),
            ));
        }
        Ok(())
    }
}

fn describe_parse_error(e: serde_json::Error) -> StateError {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    let text = e.to_string();
    let detail = match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("not valid JSON ({at})"),
        // serde names missing fields itself; other data errors may quote a value, so say less.
        Category::Data if text.starts_with("missing field") => {
            text.split(" at line").next().unwrap_or(&text).to_owned()
        }
        Category::Data => format!("a field has the wrong type or format ({at})"),
    };
    StateError::Malformed(detail)
}

/// One call to the store (a read or a write) counts as failed after this long.
pub const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a write that fails (not a lost swap) is tried, and the pause before each retry (times
/// the retry's number).
const SAVE_ATTEMPTS: u32 = 3;
const SAVE_RETRY_DELAY: Duration = Duration::from_millis(300);
/// How many lost swaps a save merges and retries before it gives up (a save that holds a rotated
/// refresh token not yet stored keeps going until [`SAVE_WORST_CASE`]).
const SWAP_ATTEMPTS: u32 = 4;
/// How often a read that lags is repeated, and the pause before each repeat (times its number).
const STALE_READ_ATTEMPTS: u32 = 4;
const STALE_READ_DELAY: Duration = Duration::from_millis(200);
/// The longest [`StateKeeper::save`] can take, whatever happens: the save keeps this budget by its
/// own clock (every store call and pause ends by it). It fits, for example, a read before the
/// write and every write attempt timing out, with the pauses between them.
pub const SAVE_WORST_CASE: Duration = STORE_CALL_TIMEOUT
    .saturating_mul(1 + SAVE_ATTEMPTS)
    .saturating_add(SAVE_RETRY_DELAY.saturating_mul(SAVE_ATTEMPTS * (SAVE_ATTEMPTS - 1) / 2));

/// The document of one run, and the store it came from.
///
/// Saving is a compare-and-swap on the version this run last read or wrote. A lost swap merges
/// what another writer stored meanwhile (another run, `zoomlogs check` rotating the token, an
/// operator editing the secret, a person running `zoomlogs authorize`) and swaps again. The rule:
/// - A stored version this run has already read or written is nothing new, whatever its content:
///   a `GetSecretValue` that returns it after a lost swap is a stale read, and is read again. A
///   document that no fresh read confirmed is never written: if the run holds a rotated refresh
///   token not yet stored, the save fails (`TokenNotStored`); otherwise it is skipped.
/// - Another writer's version is the base, so its unknown fields and edits are kept.
/// - The grant (refresh token, or account id) and access token: this run's win, a rotated refresh
///   token included, unless the stored grant is one this run never held, neither at its start nor
///   after a rotation: that is a re-authorization, and it wins with its access token.
/// - Client id and secret: as stored (this run never changes them; an operator may).
/// - Cursors: the ones this run changed win; every other cursor is as the other writer left it.
pub struct StateKeeper<S> {
    store: S,
    inner: Mutex<Kept>,
}

struct Kept {
    doc: StateDoc,
    /// The JSON of the document as the store holds it, as far as this run knows: what it last
    /// read and adopted, or last wrote. A save that would write it again is skipped.
    stored_json: String,
    /// The cursors as this run found them in the store; a cursor that differs is this run's own.
    found_cursors: BTreeMap<String, DateTime<Utc>>,
    /// Every version of the stored document this run has read or written.
    seen: Vec<Revision>,
    /// The version of `stored_json` in the store: the one a save expects to replace.
    current: Revision,
    /// Every grant this run has held: at its start, after rotations, adopted ones.
    held: Vec<Grant>,
}

/// One version of the stored document: its id where the store has versions, else its text.
#[derive(Clone, PartialEq)]
enum Revision {
    Version(String),
    Text(String),
}

impl Revision {
    fn of(version: Option<String>, text: &str) -> Revision {
        version.map_or_else(|| Revision::Text(text.to_owned()), Revision::Version)
    }

    /// The version a compare-and-swap expects; `None` for a store without versions.
    fn expected(&self) -> Option<&str> {
        match self {
            Revision::Version(id) => Some(id),
            Revision::Text(_) => None,
        }
    }
}

/// What a run exchanges for access tokens: a refresh token rotates, a new one is a re-authorization.
#[derive(Clone, PartialEq)]
struct Grant {
    account_id: Option<String>,
    refresh_token: Option<Secret>,
}

impl Grant {
    fn of(doc: &StateDoc) -> Grant {
        Grant {
            account_id: doc.account_id.clone(),
            refresh_token: doc.refresh_token.clone(),
        }
    }

    fn put_into(self, doc: &mut StateDoc) {
        doc.account_id = self.account_id;
        doc.refresh_token = self.refresh_token;
    }
}

impl Kept {
    fn hold(&mut self, grant: Grant) {
        if !self.held.contains(&grant) {
            self.held.push(grant);
        }
    }

    fn see(&mut self, revision: Revision) {
        if !self.seen.contains(&revision) {
            self.seen.push(revision);
        }
    }

    /// Takes a version of the stored document this run had not seen: it is the one the next save
    /// replaces, and it is merged in if it parses and differs. One that does not parse is replaced
    /// by this run's document.
    fn take(&mut self, revision: Revision, text: &str) {
        self.see(revision.clone());
        self.current = revision;
        match StateDoc::parse(text) {
            Ok(theirs) if theirs.to_json() != self.stored_json => self.adopt(theirs),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the stored state document is unusable; this run's replaces it");
            }
        }
    }

    /// Whether the document holds a grant (a rotated refresh token) that no save has stored.
    fn has_unstored_grant(&self) -> bool {
        let stored = StateDoc::parse(&self.stored_json).expect("what was stored parses");
        Grant::of(&self.doc) != Grant::of(&stored)
    }

    /// Merges another writer's document into this run's, by the rule on [`StateKeeper`].
    fn adopt(&mut self, theirs: StateDoc) {
        let advanced: Vec<(String, DateTime<Utc>)> = self
            .doc
            .cursors
            .iter()
            .filter(|&(name, cursor)| self.found_cursors.get(name) != Some(cursor))
            .map(|(name, cursor)| (name.clone(), *cursor))
            .collect();
        self.stored_json = theirs.to_json();
        self.found_cursors = theirs.cursors.clone();
        let ours = std::mem::replace(&mut self.doc, theirs);
        if self.held.contains(&Grant::of(&self.doc)) {
            Grant::of(&ours).put_into(&mut self.doc);
            self.doc.refresh_token_rotated_at = ours.refresh_token_rotated_at;
            self.doc.access_token = ours.access_token;
            self.doc.access_token_expires_at = ours.access_token_expires_at;
        } else {
            tracing::warn!(
                "the stored grant was replaced during this run (a re-authorization); keeping it"
            );
            self.hold(Grant::of(&self.doc));
        }
        self.doc.cursors.extend(advanced);
    }
}

impl<S: StateStore> StateKeeper<S> {
    /// Loads and validates the document.
    pub async fn load(store: S) -> Result<StateKeeper<S>, StateError> {
        let stored = store.load_versioned().await?;
        let doc = StateDoc::parse(&stored.text)?;
        let revision = Revision::of(stored.version, &stored.text);
        let kept = Kept {
            stored_json: doc.to_json(),
            found_cursors: doc.cursors.clone(),
            seen: vec![revision.clone()],
            current: revision,
            held: vec![Grant::of(&doc)],
            doc,
        };
        Ok(StateKeeper {
            store,
            inner: Mutex::new(kept),
        })
    }

    /// A copy of the document as it stands in this run.
    pub async fn snapshot(&self) -> StateDoc {
        self.inner.lock().await.doc.clone()
    }

    /// Changes the document in memory; [`StateKeeper::save`] makes it durable.
    pub async fn update(&self, change: impl FnOnce(&mut StateDoc)) {
        let mut kept = self.inner.lock().await;
        change(&mut kept.doc);
        let grant = Grant::of(&kept.doc);
        kept.hold(grant);
    }

    /// Whether the document holds a grant (a rotated refresh token) that no save has stored.
    pub async fn has_unstored_grant(&self) -> bool {
        self.inner.lock().await.has_unstored_grant()
    }

    /// Writes the document if it differs from what is stored, as a compare-and-swap on the version
    /// this run last read or wrote; a lost swap is merged (see [`StateKeeper`]) and tried again, a
    /// failed write retried briefly. Takes at most [`SAVE_WORST_CASE`].
    ///
    /// Returns whether a write happened. `Ok(false)` also when another writer changed the document
    /// and no read returned the new version in time while this run held nothing that must be
    /// stored now (cursors, access tokens): the save is skipped with a warning, and the stored
    /// document stays as the other writer left it. A rotated refresh token in that case fails the
    /// save with a `conflict` error and stays unstored ([`StateKeeper::has_unstored_grant`]).
    pub async fn save(&self) -> Result<bool, StoreError> {
        let mut kept = self.inner.lock().await;
        if kept.doc.to_json() == kept.stored_json {
            return Ok(false);
        }
        let deadline = Instant::now() + SAVE_WORST_CASE;
        if kept.current.expected().is_none() {
            self.adopt_concurrent_change(&mut kept, deadline).await;
        }
        let mut failures = 0;
        let mut lost_swaps = 0;
        loop {
            let json = kept.doc.to_json();
            if json == kept.stored_json {
                return Ok(false);
            }
            let expected = kept.current.expected().map(str::to_owned);
            let write = self.store.save_versioned(&json, expected.as_deref());
            match bounded(deadline, "saving the state document", write).await {
                Ok(version) => {
                    let revision = Revision::of(version, &json);
                    kept.see(revision.clone());
                    kept.current = revision;
                    kept.stored_json = json;
                    tracing::info!("state document saved");
                    return Ok(true);
                }
                Err(e) if e.conflict => {
                    lost_swaps += 1;
                    let must_store = kept.has_unstored_grant();
                    tracing::info!(
                        lost_swaps,
                        "another writer changed the state document; reading it to merge"
                    );
                    let fresh = self.read_fresh(&mut kept, deadline, must_store).await;
                    if !fresh || (!must_store && lost_swaps >= SWAP_ATTEMPTS) {
                        return give_up(&kept, e);
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failures >= SAVE_ATTEMPTS || Instant::now() >= deadline {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, attempt = failures, "saving the state document failed; retrying");
                    pause(SAVE_RETRY_DELAY * failures, deadline).await;
                }
            }
        }
    }

    /// After a lost swap: reads the stored document until a read returns a version this run has
    /// not seen (one it has seen lags the write that moved the store on) and takes it. Gives up
    /// after [`STALE_READ_ATTEMPTS`] reads, or, when `patient` (a rotated refresh token waits to be
    /// stored), at `deadline`. Returns whether a fresh version was taken.
    async fn read_fresh(&self, kept: &mut Kept, deadline: Instant, patient: bool) -> bool {
        let mut attempt = 1;
        loop {
            let read = self.store.load_versioned();
            match bounded(deadline, "reading the state document", read).await {
                Ok(stored) => {
                    let revision = Revision::of(stored.version, &stored.text);
                    if !kept.seen.contains(&revision) {
                        kept.take(revision, &stored.text);
                        return true;
                    }
                    tracing::info!(
                        attempt,
                        "the state document read lags another writer's write"
                    );
                }
                Err(e) => tracing::warn!(error = %e, attempt, "reading the state document failed"),
            }
            if Instant::now() >= deadline || (!patient && attempt >= STALE_READ_ATTEMPTS) {
                return false;
            }
            pause(STALE_READ_DELAY * attempt, deadline).await;
            attempt += 1;
        }
    }

    /// For a store without versions, which cannot compare-and-swap: reads the stored document and,
    /// if another writer changed it since this run last read or wrote it, merges that change in.
    /// A store that cannot be read changes nothing: the write reports an unreachable store.
    async fn adopt_concurrent_change(&self, kept: &mut Kept, deadline: Instant) {
        let read = self.store.load_versioned();
        let Ok(stored) = bounded(deadline, "reading the state document", read).await else {
            return;
        };
        let revision = Revision::of(stored.version, &stored.text);
        if !kept.seen.contains(&revision) {
            kept.take(revision, &stored.text);
        }
    }

    /// Reads the stored document again after Zoom refused this run's refresh token (another
    /// writer may have rotated it), merges it in as a save would, and returns the result. The
    /// refusal says the store has moved on, so a read that returns any version this run has seen,
    /// the one it last read or wrote included, lags, and is repeated briefly; if it keeps lagging,
    /// the run's own document is returned unchanged. Takes at most [`STORE_CALL_TIMEOUT`].
    pub async fn reload(&self) -> Result<StateDoc, StateError> {
        let deadline = Instant::now() + STORE_CALL_TIMEOUT;
        let mut kept = self.inner.lock().await;
        let mut attempt = 1;
        loop {
            let read = self.store.load_versioned();
            let stored = bounded(deadline, "reading the state document", read).await?;
            let revision = Revision::of(stored.version, &stored.text);
            if !kept.seen.contains(&revision) {
                StateDoc::parse(&stored.text)?;
                kept.take(revision, &stored.text);
                break;
            }
            if attempt >= STALE_READ_ATTEMPTS || Instant::now() >= deadline {
                break;
            }
            tracing::info!(
                attempt,
                "the state document read lags a write this run has seen"
            );
            pause(STALE_READ_DELAY * attempt, deadline).await;
            attempt += 1;
        }
        Ok(kept.doc.clone())
    }
}

/// A store call that fails at `deadline` or after [`STORE_CALL_TIMEOUT`], whichever comes first.
async fn bounded<T>(
    deadline: Instant,
    operation: &str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let until = deadline.min(Instant::now() + STORE_CALL_TIMEOUT);
    tokio::time::timeout_at(until, call)
        .await
        .unwrap_or_else(|_| Err(StoreError::new(operation, "timed out")))
}

/// Sleeps for `delay`, but not past `deadline`.
async fn pause(delay: Duration, deadline: Instant) {
    tokio::time::sleep_until(deadline.min(Instant::now() + delay)).await;
}

/// A save that lost its swap and could not read the new version: a rotated refresh token not yet
/// stored fails it (it must be stored, and is never written over a document this run has not
/// seen); anything else is skipped.
fn give_up(kept: &Kept, conflict: StoreError) -> Result<bool, StoreError> {
    if kept.has_unstored_grant() {
        tracing::error!(
            "another writer changed the state document and no fresh copy could be read; the rotated refresh token is not stored"
        );
        return Err(conflict);
    }
    tracing::warn!(
        "another writer changed the state document and no fresh copy could be read; this save is skipped (the cursors are recovered from the checkpoint markers)"
    );
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoredDocument;
    use crate::pull::fakes::UnversionedStore;

    const FULL: &str = r#"{
        "client_id": "cid", "client_secret": "csecret",
        "refresh_token": "rt", "access_token": "at",
        "access_token_expires_at": "2026-11-29T21:04:05Z",
        "cursors": { "Zoom.Activity": "2026-11-29T20:40:00Z" },
        "note": {"kept": [1, 2]}, "zzz": true
    }"#;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let doc = StateDoc::parse(FULL).unwrap();
        let again: Value = serde_json::from_str(&doc.to_json()).unwrap();
        let original: Value = serde_json::from_str(FULL).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn cursors_are_written_as_rfc3339_with_z() {
        let doc = StateDoc::parse(FULL).unwrap();
        assert!(
            doc.to_json()
                .contains("\"Zoom.Activity\": \"2026-11-29T20:40:00Z\"")
        );
    }

    #[test]
    fn a_server_to_server_app_needs_no_refresh_token() {
        let doc = StateDoc::parse(r#"{"client_id":"c","client_secret":"s","account_id":"a"}"#);
        assert!(doc.is_ok());
    }

    #[test]
    fn a_document_without_any_grant_is_incomplete() {
        let err = StateDoc::parse(r#"{"client_id":"c","client_secret":"s"}"#).unwrap_err();
        assert!(matches!(err, StateError::Incomplete(_)), "{err}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = StateDoc::parse(r#"{"client_secret":"s","account_id":"a"}"#).unwrap_err();
        assert!(err.to_string().contains("client_id"), "{err}");
    }

    #[test]
    fn errors_never_quote_secret_values() {
        for text in [
            r#"{"client_id":"c","client_secret":12345678,"account_id":"a"}"#,
            r#"{"client_id":"c","client_secret":"s","refresh_token":["12345678"]}"#,
            r#"{"client_id":"c","client_secret":"s","account_id":"a","access_token_expires_at":"12345678"}"#,
            r#"{"client_id":"c","client_secret":"12345678"#,
        ] {
            let err = StateDoc::parse(text).unwrap_err().to_string();
            assert!(!err.contains("12345678"), "{err}");
        }
    }

    /// A store with versions, as Secrets Manager: another writer can add one, a read can be stale
    /// (return the version before the current one), and saves can fail or hang.
    #[derive(Default)]
    struct Versions(std::sync::Mutex<VersionsInner>);

    #[derive(Default)]
    struct VersionsInner {
        texts: Vec<String>,
        stale_reads: usize,
        failing_saves: usize,
        hang: bool,
        lost_swaps: usize,
    }

    impl Versions {
        fn new(text: &str) -> Versions {
            let store = Versions::default();
            store.0.lock().unwrap().texts.push(text.to_owned());
            store
        }

        /// Another writer puts a new version.
        fn put(&self, change: impl FnOnce(&mut StateDoc)) {
            let mut doc = self.current();
            change(&mut doc);
            self.0.lock().unwrap().texts.push(doc.to_json());
        }

        fn current(&self) -> StateDoc {
            StateDoc::parse(self.0.lock().unwrap().texts.last().unwrap()).unwrap()
        }

        fn versions(&self) -> usize {
            self.0.lock().unwrap().texts.len()
        }

        /// Every version's refresh token, oldest first.
        fn refresh_tokens(&self) -> Vec<Option<Secret>> {
            let inner = self.0.lock().unwrap();
            let docs = inner.texts.iter().map(|t| StateDoc::parse(t).unwrap());
            docs.map(|doc| doc.refresh_token).collect()
        }

        /// From now on, `reads` reads return the version before the current one.
        fn lag(&self, reads: usize) {
            self.0.lock().unwrap().stale_reads = reads;
        }
    }

    impl StateStore for Versions {
        async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
            let mut inner = self.0.lock().unwrap();
            let mut index = inner.texts.len() - 1;
            if inner.stale_reads > 0 && index > 0 {
                inner.stale_reads -= 1;
                index -= 1;
            }
            Ok(StoredDocument {
                text: inner.texts[index].clone(),
                version: Some(format!("v{index}")),
            })
        }

        /// A compare-and-swap, as Secrets Manager's stage move.
        async fn save_versioned(
            &self,
            document: &str,
            expected: Option<&str>,
        ) -> Result<Option<String>, StoreError> {
            let hang = {
                let mut inner = self.0.lock().unwrap();
                if inner.failing_saves > 0 {
                    inner.failing_saves -= 1;
                    return Err(StoreError::new("PutSecretValue", "injected"));
                }
                inner.hang
            };
            if hang {
                std::future::pending::<()>().await;
            }
            let mut inner = self.0.lock().unwrap();
            let current = format!("v{}", inner.texts.len() - 1);
            if expected.is_some_and(|expected| expected != current) {
                inner.lost_swaps += 1;
                return Err(StoreError::conflict("UpdateSecretVersionStage"));
            }
            inner.texts.push(document.to_owned());
            Ok(Some(format!("v{}", inner.texts.len() - 1)))
        }
    }

    fn time(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// What the token keeper does on a refresh: the rotated pair goes into the document, saved.
    async fn rotate<S: StateStore>(keeper: &StateKeeper<S>, refresh: &str, access: &str) {
        keeper
            .update(|doc| {
                doc.refresh_token = Some(Secret::new(refresh));
                doc.access_token = Some(Secret::new(access));
            })
            .await;
        assert!(keeper.save().await.unwrap());
    }

    /// What the use case does at the end of a run: the cursor it advanced, saved.
    async fn advance<S: StateStore>(keeper: &StateKeeper<S>, log_type: &str, cursor: &str) {
        keeper
            .update(|doc| {
                doc.cursors.insert(log_type.into(), time(cursor));
            })
            .await;
        keeper.save().await.unwrap();
    }

    #[tokio::test]
    async fn an_operators_edit_during_a_rotation_keeps_the_rotated_token_and_the_edit() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        store.put(|doc| {
            doc.cursors
                .insert("Zoom.Operation".into(), time("2026-11-01T00:00:00Z"));
            doc.extra.insert("owner".into(), "secops".into());
        });

        rotate(&keeper, "r2", "a2").await;
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.access_token, Some(Secret::new("a2")));
        assert_eq!(
            saved.cursors["Zoom.Operation"],
            time("2026-11-01T00:00:00Z")
        );
        assert_eq!(saved.extra["owner"], "secops");

        advance(&keeper, "Zoom.Activity", "2026-11-29T21:30:00Z").await;
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.cursors["Zoom.Activity"], time("2026-11-29T21:30:00Z"));
        assert_eq!(
            saved.cursors["Zoom.Operation"],
            time("2026-11-01T00:00:00Z")
        );
        assert_eq!(saved.extra["owner"], "secops");
    }

    #[tokio::test]
    async fn a_stale_read_after_the_runs_own_rotation_save_does_not_bring_back_the_old_token() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        rotate(&keeper, "r2", "a2").await;
        store.0.lock().unwrap().stale_reads = 1;

        advance(&keeper, "Zoom.Activity", "2026-11-29T21:30:00Z").await;
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.access_token, Some(Secret::new("a2")));
        assert_eq!(saved.cursors["Zoom.Activity"], time("2026-11-29T21:30:00Z"));
    }

    #[tokio::test]
    async fn a_re_authorization_after_the_runs_rotation_keeps_the_new_grant() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        rotate(&keeper, "r2", "a2").await;
        store.put(|doc| {
            doc.refresh_token = Some(Secret::new("reauthorized"));
            doc.access_token = Some(Secret::new("a-reauthorized"));
        });

        advance(&keeper, "Zoom.Activity", "2026-11-29T21:30:00Z").await;
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("reauthorized")));
        assert_eq!(saved.access_token, Some(Secret::new("a-reauthorized")));
        assert_eq!(saved.cursors["Zoom.Activity"], time("2026-11-29T21:30:00Z"));
        // The adopted grant is this run's from now on: a later rotation of it wins again.
        rotate(&keeper, "r3", "a3").await;
        assert_eq!(store.current().refresh_token, Some(Secret::new("r3")));
    }

    #[tokio::test]
    async fn a_cursor_edited_during_the_run_for_a_log_type_the_run_did_not_advance_is_kept() {
        let store = UnversionedStore(std::sync::Mutex::new(FULL.to_owned()));
        let keeper = StateKeeper::load(&store).await.unwrap();
        let mut edited = StateDoc::parse(FULL).unwrap();
        edited
            .cursors
            .insert("Zoom.Activity".into(), time("2026-11-20T00:00:00Z"));
        *store.0.lock().unwrap() = edited.to_json();

        advance(&keeper, "Zoom.Operation", "2026-11-29T21:30:00Z").await;
        let saved = StateDoc::parse(&store.0.lock().unwrap()).unwrap();
        assert_eq!(saved.cursors["Zoom.Activity"], time("2026-11-20T00:00:00Z"));
        assert_eq!(
            saved.cursors["Zoom.Operation"],
            time("2026-11-29T21:30:00Z")
        );
    }

    #[tokio::test]
    async fn a_client_secret_changed_during_a_rotation_is_kept_beside_the_rotated_token() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        store.put(|doc| doc.client_secret = Secret::new("new-client-secret"));
        rotate(&keeper, "r2", "a2").await;
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.client_secret, Secret::new("new-client-secret"));
    }

    #[tokio::test]
    async fn a_rotation_stays_unstored_until_a_save_succeeds() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        assert!(!keeper.has_unstored_grant().await);
        store.0.lock().unwrap().failing_saves = SAVE_ATTEMPTS as usize;
        keeper
            .update(|doc| doc.refresh_token = Some(Secret::new("r2")))
            .await;
        assert!(keeper.save().await.is_err());
        assert!(keeper.has_unstored_grant().await);
        assert!(keeper.save().await.unwrap());
        assert!(!keeper.has_unstored_grant().await);
        assert_eq!(store.current().refresh_token, Some(Secret::new("r2")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_store_fails_the_save_within_its_worst_case() {
        let store = Versions::new(FULL);
        store.0.lock().unwrap().hang = true;
        let keeper = StateKeeper::load(&store).await.unwrap();
        keeper
            .update(|doc| doc.refresh_token = Some(Secret::new("r2")))
            .await;
        let started = tokio::time::Instant::now();
        assert!(keeper.save().await.is_err());
        assert!(
            started.elapsed() <= SAVE_WORST_CASE,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(store.versions(), 1);
    }

    #[tokio::test]
    async fn a_re_authorization_during_a_run_keeps_its_credentials_and_gains_the_cursors() {
        let store = UnversionedStore(std::sync::Mutex::new(FULL.to_owned()));
        let keeper = StateKeeper::load(&store).await.unwrap();
        let reauthorized = FULL
            .replace("\"rt\"", "\"fresh\"")
            .replace("\"at\"", "\"new-at\"");
        *store.0.lock().unwrap() = reauthorized;
        let cursor: DateTime<Utc> = "2026-11-29T21:05:00Z".parse().unwrap();
        keeper
            .update(|doc| {
                doc.cursors.insert("Zoom.Activity".into(), cursor);
            })
            .await;
        assert!(keeper.save().await.unwrap());
        let saved = StateDoc::parse(&store.0.lock().unwrap()).unwrap();
        assert_eq!(saved.refresh_token, Some(Secret::new("fresh")));
        assert_eq!(saved.access_token, Some(Secret::new("new-at")));
        assert_eq!(saved.cursors["Zoom.Activity"], cursor);
        assert_eq!(saved.extra["zzz"], Value::Bool(true));
    }

    #[tokio::test]
    async fn without_a_concurrent_change_the_runs_own_tokens_are_saved() {
        let store = UnversionedStore(std::sync::Mutex::new(FULL.to_owned()));
        let keeper = StateKeeper::load(&store).await.unwrap();
        keeper
            .update(|doc| doc.access_token = Some(Secret::new("mine")))
            .await;
        assert!(keeper.save().await.unwrap());
        let saved = StateDoc::parse(&store.0.lock().unwrap()).unwrap();
        assert_eq!(saved.access_token, Some(Secret::new("mine")));
        assert!(!keeper.save().await.unwrap(), "nothing changed since");
    }

    #[tokio::test(start_paused = true)]
    async fn a_save_whose_reads_lag_another_writers_rotation_never_stores_the_killed_refresh_token()
    {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        // `zoomlogs check` rotates rt to r2 and stores it; Zoom has killed rt.
        store.put(|doc| {
            doc.refresh_token = Some(Secret::new("r2"));
            doc.access_token = Some(Secret::new("a2"));
        });
        store.lag(usize::MAX);
        keeper
            .update(|doc| {
                doc.cursors
                    .insert("Zoom.Activity".into(), time("2026-11-29T21:30:00Z"));
            })
            .await;

        let started = tokio::time::Instant::now();
        assert!(!keeper.save().await.unwrap(), "the save is skipped");
        assert!(started.elapsed() <= SAVE_WORST_CASE);
        assert_eq!(store.versions(), 2, "nothing was written");
        assert_eq!(store.current().refresh_token, Some(Secret::new("r2")));

        // A later save whose read is fresh merges: the other writer's token, this run's cursor.
        store.lag(1);
        assert!(keeper.save().await.unwrap());
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.access_token, Some(Secret::new("a2")));
        assert_eq!(saved.cursors["Zoom.Activity"], time("2026-11-29T21:30:00Z"));
        assert!(
            !store.refresh_tokens()[1..].contains(&Some(Secret::new("rt"))),
            "the killed token was never written back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_rotated_while_another_writer_changed_the_document_keeps_its_own_rotation() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        store.put(|doc| {
            doc.extra.insert("owner".into(), "secops".into());
            doc.cursors
                .insert("Zoom.Operation".into(), time("2026-11-01T00:00:00Z"));
        });
        store.lag(2);

        rotate(&keeper, "r2", "a2").await;
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.access_token, Some(Secret::new("a2")));
        assert_eq!(saved.extra["owner"], "secops");
        assert_eq!(
            saved.cursors["Zoom.Operation"],
            time("2026-11-01T00:00:00Z")
        );
        assert_eq!(store.0.lock().unwrap().lost_swaps, 1);
        assert_eq!(store.versions(), 3);
        assert!(!keeper.has_unstored_grant().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_swap_is_merged_and_swapped_again() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        advance(&keeper, "Zoom.Activity", "2026-11-29T21:00:00Z").await;
        store.put(|doc| {
            doc.cursors
                .insert("Zoom.Operation".into(), time("2026-11-01T00:00:00Z"));
        });

        advance(&keeper, "Zoom.Activity", "2026-11-29T22:00:00Z").await;
        let saved = store.current();
        assert_eq!(saved.cursors["Zoom.Activity"], time("2026-11-29T22:00:00Z"));
        assert_eq!(
            saved.cursors["Zoom.Operation"],
            time("2026-11-01T00:00:00Z")
        );
        assert_eq!(store.0.lock().unwrap().lost_swaps, 1);
        assert_eq!(store.versions(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotated_token_that_no_fresh_read_confirms_fails_the_save_and_overwrites_nothing() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        store.put(|doc| {
            doc.extra
                .insert("owner".into(), "secops".into())
                .map(drop)
                .unwrap_or(())
        });
        store.lag(usize::MAX);
        keeper
            .update(|doc| doc.refresh_token = Some(Secret::new("r2")))
            .await;

        let started = tokio::time::Instant::now();
        let error = keeper.save().await.unwrap_err();
        assert!(error.conflict, "{error}");
        assert!(started.elapsed() <= SAVE_WORST_CASE);
        assert!(keeper.has_unstored_grant().await);
        assert_eq!(store.versions(), 2);

        store.lag(0);
        assert!(keeper.save().await.unwrap());
        let saved = store.current();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.extra["owner"], "secops");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_whose_read_lags_the_runs_own_write_reads_again_and_keeps_the_rotation() {
        let store = Versions::new(FULL);
        let keeper = StateKeeper::load(&store).await.unwrap();
        rotate(&keeper, "r2", "a2").await;
        store.lag(2);
        let reloaded = keeper.reload().await.unwrap();
        assert_eq!(reloaded.refresh_token, Some(Secret::new("r2")));
        assert_eq!(store.0.lock().unwrap().stale_reads, 0, "read until fresh");

        store.put(|doc| doc.refresh_token = Some(Secret::new("reauthorized")));
        let reloaded = keeper.reload().await.unwrap();
        assert_eq!(reloaded.refresh_token, Some(Secret::new("reauthorized")));
    }

    #[test]
    fn not_json_is_malformed() {
        let err = StateDoc::parse("client_id=abc").unwrap_err();
        assert!(matches!(err, StateError::Malformed(_)));
    }
}
