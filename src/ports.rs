//! The three side effects the pull use case needs, as narrow traits.
//!
//! A [`ReportSource`] yields pages of raw events, a [`StateStore`] loads and saves the state
//! document with the store's version of it, an [`ObjectSink`] reads and writes objects. Zoom, Secrets Manager and S3 implement
//! them for the Lambda; a state file and a directory implement them for a laptop; in-memory fakes
//! implement them for the use case's unit tests.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::log_type::LogType;

/// One request for one page of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRequest {
    pub log_type: LogType,
    /// First day of the query (Zoom's `from`), inclusive.
    pub from: NaiveDate,
    /// Last day of the query (Zoom's `to`), inclusive.
    pub to: NaiveDate,
    /// `None` for the first page.
    pub page_token: Option<String>,
    /// No wait (rate limit, backoff) may run past this instant.
    pub deadline: Option<Instant>,
}

/// One page of a report: the events exactly as Zoom sent them.
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<Box<RawValue>>,
    /// `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Why a page could not be had. The first three stop a log type cleanly; the rest fail the run.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the next page token is invalid or expired")]
    PageTokenExpired,
    #[error("Zoom's daily request limit is reached{}", until(.retry_after))]
    DailyLimit { retry_after: Option<DateTime<Utc>> },
    #[error("too little time is left before the run's deadline")]
    Deadline,
    #[error("Zoom's per-second rate limit held through {attempts} attempts")]
    RateLimited { attempts: u32 },
    #[error("the Zoom authorization is revoked or invalid; re-authorize the app ({detail})")]
    AuthRevoked { detail: String },
    #[error("the Zoom app lacks a required scope: {detail}")]
    MissingScope { detail: String },
    #[error("the authorizing Zoom user lacks the role permission to view reports: {detail}")]
    NoPermission { detail: String },
    #[error("Zoom is unavailable: {detail}")]
    Unavailable { detail: String },
    #[error("Zoom refused the request with HTTP {status}: {detail}")]
    Rejected { status: u16, detail: String },
    #[error("Zoom sent a malformed response: {detail}")]
    Malformed { detail: String },
    #[error(
        "a rotated Zoom refresh token could not be stored, so it is lost: re-authorize the app"
    )]
    TokenNotStored(#[source] StoreError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

fn until(retry_after: &Option<DateTime<Utc>>) -> String {
    retry_after
        .map(|t| format!(" until {}", t.to_rfc3339()))
        .unwrap_or_default()
}

/// A storage backend (Secrets Manager, S3, a file) failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {source}")]
pub struct StoreError {
    /// What was attempted, e.g. `PutObject s3://bucket/key`.
    pub operation: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
    /// The thing read does not exist (as opposed to: could not be read).
    pub not_found: bool,
    /// A conditional write found the thing changed (an object that exists, an ETag or a version
    /// that moved): another writer got there first. Nothing was written.
    pub conflict: bool,
}

impl StoreError {
    pub fn new(
        operation: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError {
            operation: operation.into(),
            source: source.into(),
            not_found: false,
            conflict: false,
        }
    }

    /// A conditional write refused: another writer changed the thing first.
    pub fn conflict(operation: impl Into<String>) -> Self {
        StoreError {
            conflict: true,
            ..StoreError::new(operation, "another writer changed it first")
        }
    }

    /// The thing read does not exist.
    pub fn not_found(operation: impl Into<String>) -> Self {
        StoreError {
            not_found: true,
            ..StoreError::new(operation, "it does not exist")
        }
    }
}

/// Where report pages come from.
pub trait ReportSource: Sync {
    fn fetch_page(
        &self,
        request: PageRequest,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send;
}

/// The state document as a store holds it: its JSON text and the version it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDocument {
    pub text: String,
    /// The store's id of this version (Secrets Manager's `VersionId`); `None` for a store that
    /// keeps no versions. Two reads of one version give the same id; a new write gives a new one.
    pub version: Option<String>,
}

/// Where the state document (credentials, tokens, cursors) lives, as JSON text.
///
/// A store implements the versioned pair; `load` and `save` are the same without the version.
/// Writes are compare-and-swap: a store with versions writes only if its current version is still
/// the one the writer names, so no writer overwrites a change it has not seen.
pub trait StateStore: Sync {
    /// The current document and its version.
    fn load_versioned(&self) -> impl Future<Output = Result<StoredDocument, StoreError>> + Send;
    /// Writes `document` as the current version if the current version is still `expected` (the
    /// version the writer last read or wrote); returns the new version's id, if the store has
    /// versions. `expected: None` writes unconditionally (the first write of a new document, or a
    /// store without versions). A current version other than `expected` writes nothing and is a
    /// [`StoreError`] with `conflict` set.
    fn save_versioned(
        &self,
        document: &str,
        expected: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The current document's text.
    fn load(&self) -> impl Future<Output = Result<String, StoreError>> + Send {
        async move { self.load_versioned().await.map(|stored| stored.text) }
    }

    /// Writes `document` as the current version, unconditionally (no compare-and-swap).
    fn save(&self, document: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.save_versioned(document, None).await.map(drop) }
    }
}

/// The condition a write puts on the object it replaces: every write is conditional, so no writer
/// ever overwrites what another wrote without knowing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Only if no object has the key (`If-None-Match: *`): log objects are written once, ever.
    Absent,
    /// Only if the object still is the version with this ETag (`If-Match`).
    Matches(String),
}

/// An object's bytes and the store's tag for this version of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub etag: Option<String>,
}

/// Where output objects (and the small checkpoint markers) are written.
pub trait ObjectSink: Sync {
    /// Writes the object if `precondition` holds, and returns its new ETag (if the store has
    /// them); a failed precondition is a [`StoreError`] with `conflict` set, and writes nothing.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        precondition: Precondition,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The object and its ETag, or `None` if there is no such object.
    fn get_tagged(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send;
    /// The keys of every object whose key starts with `prefix`, in no particular order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// The ETag of an object that exists (`None` if it does not), without its bytes.
    fn etag(&self, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The object's bytes, or `None` if there is no such object.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send {
        async move { Ok(self.get_tagged(key).await?.map(|object| object.body)) }
    }
}

/// A store borrowed for one run (the Lambda keeps its store across invocations).
impl<T: StateStore> StateStore for &T {
    fn load_versioned(&self) -> impl Future<Output = Result<StoredDocument, StoreError>> + Send {
        (**self).load_versioned()
    }

    fn save_versioned(
        &self,
        document: &str,
        expected: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        (**self).save_versioned(document, expected)
    }
}
