//! The state document: credentials, tokens and cursors, kept in one secret (or a local file).
//!
//! [`StateDoc`] is the JSON of DESIGN.md with every unknown field kept. [`StateKeeper`] owns the
//! loaded document for one run, hands out what the token keeper and the use case need, and saves
//! it through a [`StateStore`] only when something changed. A document that does not parse or lacks
//! what a run needs is an error and is never written back.

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

/// How often and how long a save is retried before the run gives up.
const SAVE_ATTEMPTS: u32 = 3;
const SAVE_RETRY_DELAY: Duration = Duration::from_millis(300);

/// The document of one run, and the store it came from.
pub struct StateKeeper<S> {
    store: S,
    inner: Mutex<Kept>,
}

struct Kept {
    doc: StateDoc,
    /// The JSON last loaded or saved, to skip writes that change nothing.
    stored_json: String,
}

impl<S: StateStore> StateKeeper<S> {
    /// Loads and validates the document.
    pub async fn load(store: S) -> Result<StateKeeper<S>, StateError> {
        let doc = StateDoc::parse(&store.load().await?)?;
        let stored_json = doc.to_json();
        Ok(StateKeeper {
            store,
            inner: Mutex::new(Kept { doc, stored_json }),
        })
    }

    /// A copy of the document as it stands in this run.
    pub async fn snapshot(&self) -> StateDoc {
        self.inner.lock().await.doc.clone()
    }

    /// Changes the document in memory; [`StateKeeper::save`] makes it durable.
    pub async fn update(&self, change: impl FnOnce(&mut StateDoc)) {
        change(&mut self.inner.lock().await.doc);
    }

    /// Writes the document if it differs from what is stored, retrying briefly.
    /// Returns whether a write happened.
    pub async fn save(&self) -> Result<bool, StoreError> {
        let mut kept = self.inner.lock().await;
        if kept.doc.to_json() == kept.stored_json {
            return Ok(false);
        }
        self.adopt_concurrent_change(&mut kept).await;
        let json = kept.doc.to_json();
        let mut attempt = 1;
        loop {
            match self.store.save(&json).await {
                Ok(()) => break,
                Err(e) if attempt >= SAVE_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "saving the state document failed; retrying");
                    tokio::time::sleep(SAVE_RETRY_DELAY * attempt).await;
                    attempt += 1;
                }
            }
        }
        kept.stored_json = json;
        tracing::info!("state document saved");
        Ok(true)
    }

    /// If someone else wrote the document since this run last read or wrote it (a person running
    /// `zoomlogs authorize` while a run is under way), their credentials and unknown fields win, so
    /// a fresh authorization is never overwritten with the revoked one; this run adds its cursors.
    async fn adopt_concurrent_change(&self, kept: &mut Kept) {
        let Ok(stored) = self
            .store
            .load()
            .await
            .map_err(StateError::from)
            .and_then(|t| StateDoc::parse(&t))
        else {
            return; // The save itself reports an unreachable store; an unusable document is replaced.
        };
        if stored.to_json() == kept.stored_json {
            return;
        }
        let last = StateDoc::parse(&kept.stored_json).expect("what was stored parses");
        let credentials = |d: &StateDoc| {
            (
                d.client_id.clone(),
                d.client_secret.clone(),
                d.account_id.clone(),
                d.refresh_token.clone(),
            )
        };
        let ours = std::mem::replace(&mut kept.doc, stored);
        if credentials(&kept.doc) == credentials(&last) {
            kept.doc.access_token = ours.access_token;
            kept.doc.access_token_expires_at = ours.access_token_expires_at;
        } else {
            tracing::warn!("the credentials were changed during this run; keeping the new ones");
        }
        kept.doc.cursors.extend(ours.cursors);
    }

    /// Reads the stored document again (another writer may have rotated the token) and adopts it.
    pub async fn reload(&self) -> Result<StateDoc, StateError> {
        let doc = StateDoc::parse(&self.store.load().await?)?;
        let mut kept = self.inner.lock().await;
        kept.stored_json = doc.to_json();
        kept.doc = doc.clone();
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A store whose document a test can change behind the keeper's back.
    struct Shared(std::sync::Mutex<String>);

    impl StateStore for Shared {
        async fn load(&self) -> Result<String, StoreError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn save(&self, document: &str) -> Result<(), StoreError> {
            *self.0.lock().unwrap() = document.to_owned();
            Ok(())
        }
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
