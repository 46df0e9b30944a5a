//! The state document: credentials, tokens and cursors, kept in one secret (or a local file).
//!
//! [`StateDoc`] is the JSON of DESIGN.md with every unknown field kept. [`StateKeeper`] owns the
//! loaded document for one run, hands out what the token keeper and the use case need, and saves
//! it through a [`StateStore`] only when something changed, merged with what another writer stored
//! meanwhile by the rule on [`StateKeeper`]: this run's rotated refresh token always wins unless the
//! other writer re-authorized the app, and this run never undoes a change it did not make. Every
//! store call is bounded in time, so a save has a worst case ([`SAVE_WORST_CASE`]) that the run's
//! deadline margin is sized from. A document that does not parse or lacks what a run needs is an
//! error and is never written back.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

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
/// How often a save is tried, and the pause before each retry (times the retry's number).
const SAVE_ATTEMPTS: u32 = 3;
const SAVE_RETRY_DELAY: Duration = Duration::from_millis(300);
/// The longest [`StateKeeper::save`] can take: the read that looks for another writer's change,
/// every attempt, and the pauses between them.
pub const SAVE_WORST_CASE: Duration = STORE_CALL_TIMEOUT
    .saturating_mul(1 + SAVE_ATTEMPTS)
    .saturating_add(SAVE_RETRY_DELAY.saturating_mul(SAVE_ATTEMPTS * (SAVE_ATTEMPTS - 1) / 2));

/// The document of one run, and the store it came from.
///
/// Saving merges with what another writer stored meanwhile (an operator editing the secret, a
/// person running `zoomlogs authorize`). The rule:
/// - A stored version this run has already read or written is nothing new, whatever its content:
///   a `GetSecretValue` that returns the version before this run's own write is a stale read.
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
        let kept = Kept {
            stored_json: doc.to_json(),
            found_cursors: doc.cursors.clone(),
            seen: vec![Revision::of(stored.version, &stored.text)],
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
        let kept = self.inner.lock().await;
        let stored = StateDoc::parse(&kept.stored_json).expect("what was stored parses");
        Grant::of(&kept.doc) != Grant::of(&stored)
    }

    /// Writes the document if it differs from what is stored, merged with any change another
    /// writer made meanwhile, retrying briefly; takes at most [`SAVE_WORST_CASE`].
    /// Returns whether a write happened.
    pub async fn save(&self) -> Result<bool, StoreError> {
        let mut kept = self.inner.lock().await;
        if kept.doc.to_json() == kept.stored_json {
            return Ok(false);
        }
        self.adopt_concurrent_change(&mut kept).await;
        let json = kept.doc.to_json();
        if json == kept.stored_json {
            return Ok(false);
        }
        let mut attempt = 1;
        let version = loop {
            let result = tokio::time::timeout(STORE_CALL_TIMEOUT, self.store.save_versioned(&json))
                .await
                .unwrap_or_else(|_| Err(StoreError::new("saving the state document", "timed out")));
            match result {
                Ok(version) => break version,
                Err(e) if attempt >= SAVE_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "saving the state document failed; retrying");
                    tokio::time::sleep(SAVE_RETRY_DELAY * attempt).await;
                    attempt += 1;
                }
            }
        };
        kept.see(Revision::of(version, &json));
        kept.stored_json = json;
        tracing::info!("state document saved");
        Ok(true)
    }

    /// Reads the stored document and, if another writer changed it since this run last read or
    /// wrote it, merges that change in (see [`StateKeeper`]). A store that cannot be read, or a
    /// document that does not parse, changes nothing: the save reports an unreachable store, and an
    /// unusable document is replaced.
    async fn adopt_concurrent_change(&self, kept: &mut Kept) {
        let Ok(Ok(stored)) =
            tokio::time::timeout(STORE_CALL_TIMEOUT, self.store.load_versioned()).await
        else {
            return;
        };
        let revision = Revision::of(stored.version, &stored.text);
        if kept.seen.contains(&revision) {
            return;
        }
        let Ok(theirs) = StateDoc::parse(&stored.text) else {
            return;
        };
        kept.see(revision);
        if theirs.to_json() != kept.stored_json {
            kept.adopt(theirs);
        }
    }

    /// Reads the stored document again (another writer may have rotated the token), merges it in
    /// as a save would, and returns the result.
    pub async fn reload(&self) -> Result<StateDoc, StateError> {
        let stored = tokio::time::timeout(STORE_CALL_TIMEOUT, self.store.load_versioned())
            .await
            .unwrap_or_else(|_| Err(StoreError::new("reading the state document", "timed out")))?;
        let theirs = StateDoc::parse(&stored.text)?;
        let mut kept = self.inner.lock().await;
        let revision = Revision::of(stored.version, &stored.text);
        if !kept.seen.contains(&revision) {
            kept.see(revision);
            if theirs.to_json() != kept.stored_json {
                kept.adopt(theirs);
            }
        }
        Ok(kept.doc.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoredDocument;

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

    /// A store without versions whose document a test can change behind the keeper's back.
    struct Shared(std::sync::Mutex<String>);

    impl StateStore for Shared {
        async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
            Ok(StoredDocument {
                text: self.0.lock().unwrap().clone(),
                version: None,
            })
        }
        async fn save_versioned(&self, document: &str) -> Result<Option<String>, StoreError> {
            *self.0.lock().unwrap() = document.to_owned();
            Ok(None)
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

        async fn save_versioned(&self, document: &str) -> Result<Option<String>, StoreError> {
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
        let store = Shared(std::sync::Mutex::new(FULL.to_owned()));
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
        let store = Shared(std::sync::Mutex::new(FULL.to_owned()));
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
        let store = Shared(std::sync::Mutex::new(FULL.to_owned()));
        let keeper = StateKeeper::load(&store).await.unwrap();
        keeper
            .update(|doc| doc.access_token = Some(Secret::new("mine")))
            .await;
        assert!(keeper.save().await.unwrap());
        let saved = StateDoc::parse(&store.0.lock().unwrap()).unwrap();
        assert_eq!(saved.access_token, Some(Secret::new("mine")));
        assert!(!keeper.save().await.unwrap(), "nothing changed since");
    }

    #[test]
    fn not_json_is_malformed() {
        let err = StateDoc::parse("client_id=abc").unwrap_err();
        assert!(matches!(err, StateError::Malformed(_)));
    }
}
