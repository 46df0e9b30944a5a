//! In-memory fakes of the three ports, for the use case's unit tests.
//!
//! [`FakeZoom`] answers report queries like Zoom does (whole days in a chosen zone, pages in a
//! chosen order, page tokens that can expire, a daily limit, a page latency on tokio's clock, so
//! that tests with paused time can place a deadline after any number of pages). [`Effects`] counts every side
//! effect (object written, state saved) and can "crash" the process at any one of them: from
//! that step on, every side effect fails, as if the process had died there.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::value::RawValue;

use crate::log_type::LogType;
use crate::ports::{
    ObjectSink, Page, PageRequest, Precondition, ReportSource, SourceError, StateStore, StoreError,
    StoredDocument, StoredObject,
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
    Shuffled,
    /// The days of Zoom's zone ascending, each day newest first.
    DaysAscending,
}

/// A query: its report and its `from`/`to` days.
type QueryDays = (LogType, NaiveDate, NaiveDate);

/// An event's time (read once; `None` for a malformed event) and its raw text.
pub type TimedEvent = (Option<DateTime<Utc>>, String);

pub struct FakeZoom {
    pub events: Mutex<BTreeMap<LogType, Vec<TimedEvent>>>,
    pub page_size: usize,
    pub order: Order,
    pub day_offset: Duration,
    /// Requests with these 1-based numbers fail: a page token expires, or the daily limit hits.
    pub expire_token_at: Mutex<Vec<u64>>,
    /// Every request with a page token whose number is a multiple of this fails as expired.
    pub expire_token_every: Option<u64>,
    pub daily_limit_after: Option<u64>,
    /// Requests after this many are refused as rate limited for good (the adapter's verdict).
    pub rate_limited_after: Option<u64>,
    /// Zoom's today, in its zone: a `to` after it is refused with HTTP 400 (`None`: accepted).
    pub refuse_to_after: Mutex<Option<NaiveDate>>,
    /// Requests refused for their `to`.
    pub refused: AtomicU64,
    /// Zoom's `to` is exclusive: a query lists the days `from <= day < to`.
    pub to_exclusive: bool,
    /// A query's last page comes back this many more times (its next page token leads to itself),
    /// then the query ends; `u64::MAX`: for ever.
    pub repeat_last_page: u64,
    /// Each repeat of the last page comes with a token of its own (the loop cannot be seen in the
    /// tokens).
    pub new_token_each_repeat: bool,
    /// Events are rendered with keys in another order and one more field.
    pub drift: std::sync::atomic::AtomicBool,
    /// Each request takes this long on tokio's clock.
    pub latency: std::time::Duration,
    pub requests: AtomicU64,
    /// How often each query's last page was served again.
    last_page_repeats: Mutex<HashMap<(LogType, NaiveDate, NaiveDate, usize), u64>>,
    /// Each query's matched events in report order, until events are added.
    answers: Mutex<HashMap<QueryDays, Arc<Vec<String>>>>,
}

impl FakeZoom {
    pub fn new(order: Order) -> Self {
        FakeZoom {
            events: Mutex::new(BTreeMap::new()),
            page_size: 5,
            order,
            day_offset: Duration::zero(),
            expire_token_at: Mutex::new(Vec::new()),
            expire_token_every: None,
            daily_limit_after: None,
            rate_limited_after: None,
            refuse_to_after: Mutex::new(None),
            refused: AtomicU64::new(0),
            to_exclusive: false,
            repeat_last_page: 0,
            new_token_each_repeat: false,
            drift: std::sync::atomic::AtomicBool::new(false),
            latency: std::time::Duration::ZERO,
            requests: AtomicU64::new(0),
            last_page_repeats: Mutex::default(),
            answers: Mutex::default(),
        }
    }

    pub fn add(&self, log_type: LogType, events: impl IntoIterator<Item = String>) {
        self.answers.lock().unwrap().clear();
        self.events
            .lock()
            .unwrap()
            .entry(log_type)
            .or_default()
            .extend(events.into_iter().map(|e| (time_of(&e), e)));
    }

    fn answer(&self, request: &PageRequest) -> Arc<Vec<String>> {
        let key = (request.log_type, request.from, request.to);
        let cached = self.answers.lock().unwrap().get(&key).cloned();
        cached.unwrap_or_else(|| {
            let answer = Arc::new(self.matching(request));
            self.answers
                .lock()
                .unwrap()
                .insert(key, Arc::clone(&answer));
            answer
        })
    }

    fn matching(&self, request: &PageRequest) -> Vec<String> {
        let events = self.events.lock().unwrap();
        let mut matched: Vec<(DateTime<Utc>, usize, String)> = events
            .get(&request.log_type)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, (time, e))| {
                // An event without a time (a malformed one), or with one outside the years Zoom
                // could mean, shows up in every query.
                let plausible = |t: &DateTime<Utc>| (2000..2200).contains(&t.year());
                let time = time.filter(plausible).unwrap_or(DateTime::UNIX_EPOCH);
                let day = (time + self.day_offset).date_naive();
                let before_to = if self.to_exclusive {
                    day < request.to
                } else {
                    day <= request.to
                };
                let matches = time == DateTime::UNIX_EPOCH || (request.from <= day && before_to);
                matches.then(|| (time, i, e.clone()))
            })
            .collect();
        match self.order {
            Order::NewestFirst => matched.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1))),
            Order::OldestFirst => matched.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1))),
            // A fixed scramble, the same for every query: stable like a real server's order.
            Order::Shuffled => {
                matched.sort_by_key(|(t, i, _)| (t.timestamp() * 7919 + *i as i64 * 104_729) % 1009)
            }
            Order::DaysAscending => matched.sort_by(|a, b| {
                let day = |t: DateTime<Utc>| (t + self.day_offset).date_naive();
                day(a.0)
                    .cmp(&day(b.0))
                    .then(b.0.cmp(&a.0))
                    .then(a.1.cmp(&b.1))
            }),
        }
        matched.into_iter().map(|(_, _, e)| e).collect()
    }
}

/// The event as a Zoom that changed its serialization renders it: keys in reverse order, and a
/// new field.
fn drifted(event: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(event).unwrap();
    let Some(object) = value.as_object() else {
        return event.to_owned();
    };
    let mut fields: Vec<String> = object
        .iter()
        .rev()
        .map(|(k, v)| format!("{}: {v}", serde_json::Value::String(k.clone())))
        .collect();
    fields.push("\"added_by_zoom\": true".to_owned());
    format!("{{{}}}", fields.join(", "))
}

pub fn time_of(event: &str) -> Option<DateTime<Utc>> {
    let value: serde_json::Value = serde_json::from_str(event).unwrap();
    value["time"].as_str()?.parse().ok()
}

impl ReportSource for FakeZoom {
    async fn fetch_page(&self, request: PageRequest) -> Result<Page, SourceError> {
        if let Some(deadline) = request.deadline
            && tokio::time::Instant::now() + self.latency > deadline
        {
            return Err(SourceError::Deadline);
        }
        // No timer at all without latency: a zero sleep still waits for the timer driver, whose
        // turn depends on the real clock, and the order of concurrent queries' requests with it.
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let number = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if self.daily_limit_after.is_some_and(|limit| number > limit) {
            return Err(SourceError::DailyLimit { retry_after: None });
        }
        if self.rate_limited_after.is_some_and(|limit| number > limit) {
            return Err(SourceError::RateLimited { attempts: 20 });
        }
        let expires = self.expire_token_at.lock().unwrap().contains(&number)
            || self
                .expire_token_every
                .is_some_and(|every| number.is_multiple_of(every));
        if request.page_token.is_some() && expires {
            return Err(SourceError::PageTokenExpired);
        }
        if self
            .refuse_to_after
            .lock()
            .unwrap()
            .is_some_and(|today| request.to > today)
        {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(SourceError::Rejected {
                status: 400,
                detail: "The to date cannot be later than today.".into(),
            });
        }
        let matched = self.answer(&request);
        // A token is `<offset>`, or `<offset>r` for the last page's token that leads to itself.
        let offset: usize = match request.page_token.as_deref() {
            None => 0,
            Some(token) => token.split('r').next().unwrap().parse().unwrap(),
        };
        let end = (offset + self.page_size).min(matched.len());
        let next_page_token = if end < matched.len() {
            Some(end.to_string())
        } else {
            let query = (request.log_type, request.from, request.to, offset);
            let mut served = self.last_page_repeats.lock().unwrap();
            let repeats = served.entry(query).or_default();
            (*repeats < self.repeat_last_page).then(|| {
                *repeats += 1;
                if self.new_token_each_repeat {
                    format!("{offset}r{repeats}")
                } else {
                    format!("{offset}r")
                }
            })
        };
        let drift = self.drift.load(Ordering::SeqCst);
        Ok(Page {
            events: matched[offset..end]
                .iter()
                .map(|e| RawValue::from_string(if drift { drifted(e) } else { e.clone() }).unwrap())
                .collect(),
            next_page_token,
        })
    }
}

/// Side effects, counted; after `crash_at` of them, the process is considered dead.
#[derive(Default)]
pub struct Effects {
    pub count: AtomicU64,
    pub crash_at: Mutex<Option<u64>>,
}

impl Effects {
    fn happen(&self, what: &str) -> Result<(), StoreError> {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        match *self.crash_at.lock().unwrap() {
            Some(limit) if n >= limit => {
                Err(StoreError::new(what.to_owned(), "the process crashed"))
            }
            _ => Ok(()),
        }
    }
}

/// A state document in memory, without versions: every save replaces it, and a test can change
/// it behind a keeper's back.
pub struct UnversionedStore(pub Mutex<String>);

impl StateStore for UnversionedStore {
    async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
        Ok(StoredDocument {
            text: self.0.lock().unwrap().clone(),
            version: None,
        })
    }

    async fn save_versioned(
        &self,
        document: &str,
        _expected: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        *self.0.lock().unwrap() = document.to_owned();
        Ok(None)
    }
}

/// A state store with versions and compare-and-swap, as Secrets Manager: another writer can put
/// a version behind the run's back, and reads can lag (return the version before the current one).
pub struct MemoryStore<'a> {
    /// The current document.
    pub document: Mutex<String>,
    pub saves: AtomicU64,
    pub effects: &'a Effects,
    /// The current version's id, and the previous version (what a lagging read returns).
    version: Mutex<(u64, Option<(u64, String)>)>,
    /// How many of the next reads return the previous version.
    pub lagging_reads: AtomicU64,
}

impl<'a> MemoryStore<'a> {
    pub fn new(document: &str, effects: &'a Effects) -> Self {
        MemoryStore {
            document: document.to_owned().into(),
            saves: AtomicU64::new(0),
            effects,
            version: Mutex::new((1, None)),
            lagging_reads: AtomicU64::new(0),
        }
    }

    /// Another writer (an operator, `zoomlogs check`) changes the document.
    pub fn put_behind(&self, change: impl FnOnce(&mut serde_json::Value)) {
        let mut document = self.document.lock().unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&document).unwrap();
        change(&mut value);
        let mut version = self.version.lock().unwrap();
        let previous = std::mem::replace(&mut *document, value.to_string());
        *version = (version.0 + 1, Some((version.0, previous)));
    }
}

impl StateStore for MemoryStore<'_> {
    async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
        let document = self.document.lock().unwrap();
        let version = self.version.lock().unwrap();
        let lag = self
            .lagging_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Ok(match (&version.1, lag) {
            (Some((id, text)), true) => StoredDocument {
                text: text.clone(),
                version: Some(id.to_string()),
            },
            _ => StoredDocument {
                text: document.clone(),
                version: Some(version.0.to_string()),
            },
        })
    }

    async fn save_versioned(
        &self,
        document: &str,
        expected: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        self.effects.happen("save state")?;
        let mut current = self.document.lock().unwrap();
        let mut version = self.version.lock().unwrap();
        if expected.is_some_and(|e| e != version.0.to_string()) {
            return Err(StoreError::conflict("save state"));
        }
        self.saves.fetch_add(1, Ordering::SeqCst);
        let previous = std::mem::replace(&mut *current, document.to_owned());
        *version = (version.0 + 1, Some((version.0, previous)));
        Ok(Some(version.0.to_string()))
    }
}

pub struct MemorySink<'a> {
    pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Every key put, in order: what a consumer of S3's object-created notifications sees.
    pub puts: Mutex<Vec<String>>,
    /// The key and body of every put of a log object, in order: what a consumer of S3's
    /// object-created notifications ingests.
    pub put_bodies: Mutex<Vec<(String, Vec<u8>)>>,
    pub effects: &'a Effects,
}

impl<'a> MemorySink<'a> {
    pub fn new(effects: &'a Effects) -> Self {
        MemorySink {
            objects: Mutex::default(),
            puts: Mutex::default(),
            put_bodies: Mutex::default(),
            effects,
        }
    }
}

/// A fake object's ETag: its content's hash, as S3's is for a single-part object.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", &crate::keys::sha256_hex(body)[..32])
}

impl ObjectSink for MemorySink<'_> {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        _: &'static str,
        precondition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        self.effects.happen(key)?;
        let mut objects = self.objects.lock().unwrap();
        let current = objects.get(key).map(|b| etag_of(b));
        let holds = match &precondition {
            Precondition::Absent => current.is_none(),
            Precondition::Matches(etag) => current.as_ref() == Some(etag),
        };
        if !holds {
            return Err(StoreError::conflict(format!("put {key}")));
        }
        self.puts.lock().unwrap().push(key.to_owned());
        if key.ends_with(".json.gz") {
            let put = (key.to_owned(), body.clone());
            self.put_bodies.lock().unwrap().push(put);
        }
        let etag = etag_of(&body);
        objects.insert(key.to_owned(), body);
        Ok(Some(etag))
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(key)
            .map(|body| StoredObject {
                etag: Some(etag_of(body)),
                body: body.clone(),
            }))
    }

    async fn etag(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.objects.lock().unwrap().get(key).map(|b| etag_of(b)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}
