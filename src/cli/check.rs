//! `zoomlogs check`: a preflight of a setup that changes nothing the next run depends on. It
//! checks, in order, that the state document parses; that the OAuth grant works (the stored access
//! token while it is valid; otherwise a refresh through the run's own [`TokenKeeper`], which stores
//! a rotated refresh token before anything else, exactly as a run does); that each configured
//! report answers for today, which proves the scope and *View reports*; that the output accepts a
//! write and a read of a probe object outside the log-type folders (removed if the role may
//! delete, else left and named); and that each checkpoint marker agrees with its cursor. Each
//! line passes or fails with the fix; a line whose prerequisite failed is skipped.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::backends::Output;
use super::facts::{self, Fact};
use super::status::in_the_future;
use super::{load_marker, rfc3339};
use crate::app::source_error_type;
use crate::config::Config;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, PageRequest, Precondition, SourceError, StateStore};
use crate::state::{StateDoc, StateError, StateKeeper};
use crate::zoom::{RetryPolicy, TokenKeeper, ZoomReports};

/// How a check came out.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    Fail {
        fix: String,
    },
    /// Not tried, because a check it needs failed.
    Skip,
}

/// One line of the checklist.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub outcome: Outcome,
    /// What was seen (for a failure, the error).
    pub detail: String,
}

/// Every check's line, in order, and what was measured of Zoom's behaviour on this account.
#[derive(Clone, Debug, Default)]
pub struct Checklist {
    pub lines: Vec<Line>,
    /// Facts, not checks: they pass or fail nothing (see [`super::facts`]).
    pub facts: Vec<Fact>,
}

impl Checklist {
    pub fn all_passed(&self) -> bool {
        self.lines.iter().all(|l| l.outcome == Outcome::Pass)
    }

    /// One sentence on how many checks failed or were skipped.
    pub fn verdict(&self) -> String {
        let count =
            |pred: fn(&Outcome) -> bool| self.lines.iter().filter(|l| pred(&l.outcome)).count();
        let failed = count(|o| matches!(o, Outcome::Fail { .. }));
        let skipped = count(|o| *o == Outcome::Skip);
        format!(
            "{failed} of {} checks failed, {skipped} skipped",
            self.lines.len()
        )
    }

    /// The whole result for a machine (`zoomlogs check --json`): every line with its outcome
    /// (`pass`, `fail` with its fix, `skip`), the facts with their evidence, and the verdict.
    pub fn to_json(&self) -> serde_json::Value {
        let lines: Vec<_> = self
            .lines
            .iter()
            .map(|l| {
                let (outcome, fix) = match &l.outcome {
                    Outcome::Pass => ("pass", None),
                    Outcome::Fail { fix } => ("fail", Some(fix.as_str())),
                    Outcome::Skip => ("skip", None),
                };
                serde_json::json!({
                    "name": l.name, "outcome": outcome, "detail": l.detail, "fix": fix,
                })
            })
            .collect();
        serde_json::json!({
            "all_passed": self.all_passed(),
            "verdict": self.verdict(),
            "checks": lines,
            "zoom_facts": self.facts,
        })
    }

    /// The checklist as printed: `ok`/`FAIL`/`skip`, the check, what was seen, and the fix; then
    /// each fact about Zoom, its value and its evidence.
    pub fn render(&self) -> String {
        let width = self.lines.iter().map(|l| l.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for line in &self.lines {
            let mark = match line.outcome {
                Outcome::Pass => "ok  ",
                Outcome::Fail { .. } => "FAIL",
                Outcome::Skip => "skip",
            };
            let _ = writeln!(out, "{mark}  {:width$}  {}", line.name, line.detail);
            if let Outcome::Fail { fix } = &line.outcome {
                let _ = writeln!(out, "      {:width$}  fix: {fix}", "");
            }
        }
        if !self.facts.is_empty() {
            let _ = writeln!(out, "What Zoom does on this account, as measured:");
            let width = self.facts.iter().map(|f| f.name.len()).max().unwrap_or(0);
            for fact in &self.facts {
                let _ = writeln!(out, "fact  {:width$}  {}", fact.name, fact.value);
                let _ = writeln!(out, "      {:width$}  evidence: {}", "", fact.evidence);
            }
        }
        out
    }

    fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Outcome::Pass, detail);
    }

    fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Outcome::Fail { fix: fix.into() }, detail);
    }

    fn skip(&mut self, name: impl Into<String>, because: &str) {
        self.push(name, Outcome::Skip, format!("not checked: {because}"));
    }

    fn push(&mut self, name: impl Into<String>, outcome: Outcome, detail: impl Into<String>) {
        self.lines.push(Line {
            name: name.into(),
            outcome,
            detail: detail.into(),
        });
    }
}

/// Retries for the preflight: a check should answer in seconds, not wait out an outage.
fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_transient_retries: 1,
        max_rate_limit_retries: 3,
        ..RetryPolicy::default()
    }
}

/// The longest a report check may wait for Zoom.
const REPORT_PATIENCE: Duration = Duration::from_secs(60);

/// Runs every check. `store_name` names the state's location in the lines.
pub async fn run<S: StateStore>(
    config: &Config,
    http: &reqwest::Client,
    store: S,
    store_name: &str,
    output: &Output,
    now: DateTime<Utc>,
) -> Checklist {
    let mut list = Checklist::default();
    let state = check_state(&mut list, store, store_name).await;
    let cursors = match &state {
        Some(state) => {
            if check_oauth(&mut list, config, http, state, store_name).await {
                check_reports(&mut list, config, http, state, now).await;
                list.facts = measure_facts(config, http, state, now).await;
            } else {
                for &log_type in &config.log_types {
                    list.skip(report_name(log_type), "the OAuth grant failed");
                }
            }
            Some(state.snapshot().await.cursors)
        }
        None => {
            list.skip("Zoom OAuth", "the state document failed");
            for &log_type in &config.log_types {
                list.skip(report_name(log_type), "the state document failed");
            }
            None
        }
    };
    check_output(&mut list, config, output, now).await;
    for &log_type in &config.log_types {
        let name = format!("{log_type} checkpoint");
        match &cursors {
            Some(cursors) => {
                let cursor = cursors.get(log_type.name()).copied();
                check_marker(&mut list, name, config, output, log_type, cursor, now).await;
            }
            None => list.skip(name, "the state document failed"),
        }
    }
    list
}

fn report_name(log_type: LogType) -> String {
    format!("{log_type} report")
}

async fn check_state<S: StateStore>(
    list: &mut Checklist,
    store: S,
    store_name: &str,
) -> Option<StateKeeper<S>> {
    let name = "state document";
    match StateKeeper::load(store).await {
        Ok(state) => {
            let doc = state.snapshot().await;
            list.pass(
                name,
                format!("the {store_name} parses: {}", describe_doc(&doc)),
            );
            Some(state)
        }
        Err(StateError::Store(e)) if e.not_found => {
            list.fail(
                name,
                format!("the {store_name} does not exist"),
                "create it: `zoomlogs authorize --client-id ID` with the same --state-file or \
                 --secret-id (a Server-to-Server app: write it by hand, see docs/deploy.md step 2)",
            );
            None
        }
        Err(StateError::Store(e)) => {
            list.fail(
                name,
                format!("StorageFailed: {e}"),
                "check that these credentials may read it (secretsmanager:GetSecretValue, and \
                 kms:Decrypt for a customer-managed key) and the region",
            );
            None
        }
        Err(e) => {
            list.fail(
                name,
                format!("StateInvalid: {e}"),
                "fix the document by hand, or run `zoomlogs authorize` again",
            );
            None
        }
    }
}

fn describe_doc(doc: &StateDoc) -> String {
    let app = if doc.account_id.is_some() {
        "Server-to-Server app"
    } else {
        "user-authorized app"
    };
    let cursors: Vec<&str> = doc.cursors.keys().map(String::as_str).collect();
    if cursors.is_empty() {
        format!("{app}, no cursor yet")
    } else {
        format!("{app}, cursors for {}", cursors.join(", "))
    }
}

/// Gets an access token as a run would; true if one was had.
async fn check_oauth<S: StateStore>(
    list: &mut Checklist,
    config: &Config,
    http: &reqwest::Client,
    state: &StateKeeper<S>,
    store_name: &str,
) -> bool {
    let name = "Zoom OAuth";
    let before = state.snapshot().await;
    let tokens = TokenKeeper::new(http, &config.oauth_url, state, retry_policy());
    match tokens.access_token(None).await {
        Ok(_) => {
            let after = state.snapshot().await;
            let until = after
                .access_token_expires_at
                .map(rfc3339)
                .unwrap_or_else(|| "an unknown time".into());
            let detail = if after.access_token == before.access_token {
                format!(
                    "the stored access token is valid until {until}; not refreshed (the client \
                     secret and refresh token are next used when it expires)"
                )
            } else if after.refresh_token != before.refresh_token {
                format!(
                    "refreshed: Zoom rotated the refresh token and the new one is stored in the \
                     {store_name}; access token valid until {until}"
                )
            } else {
                format!("Zoom granted an access token valid until {until}")
            };
            list.pass(name, detail);
            true
        }
        Err(e) => {
            let fix = match &e {
                SourceError::AuthRevoked { detail } if detail.contains("invalid_client") => {
                    "Zoom refused the client id or client secret: correct client_id and \
                     client_secret in the state document (was the secret regenerated?)"
                        .to_owned()
                }
                SourceError::AuthRevoked { .. } if before.account_id.is_some() => {
                    "check client_id, client_secret and account_id, and that the \
                     Server-to-Server app is activated"
                        .to_owned()
                }
                other => fix_for(other, None),
            };
            list.fail(name, format!("{}: {e}", source_error_type(&e)), fix);
            false
        }
    }
}

async fn check_reports<S: StateStore>(
    list: &mut Checklist,
    config: &Config,
    http: &reqwest::Client,
    state: &StateKeeper<S>,
    now: DateTime<Utc>,
) {
    let reports = ZoomReports::new(http, config, state, retry_policy());
    let today = now.date_naive();
    for &log_type in &config.log_types {
        let request = PageRequest {
            log_type,
            from: today,
            to: today,
            page_token: None,
            deadline: Some(tokio::time::Instant::now() + REPORT_PATIENCE),
        };
        match reports.fetch_one_event(request).await {
            Ok(page) => list.pass(
                report_name(log_type),
                format!(
                    "Zoom answers for {today} ({}): the scope and View reports are in place",
                    if page.events.is_empty() {
                        "no events yet"
                    } else {
                        "events listed"
                    }
                ),
            ),
            Err(e) => list.fail(
                report_name(log_type),
                format!("{}: {e}", source_error_type(&e)),
                fix_for(&e, Some(log_type)),
            ),
        }
    }
}

/// Zoom's behaviour on this account, measured with the first configured report in at most
/// [`facts::MAX_CALLS`] requests: none is retried, so each is one call.
async fn measure_facts<S: StateStore>(
    config: &Config,
    http: &reqwest::Client,
    state: &StateKeeper<S>,
    now: DateTime<Utc>,
) -> Vec<Fact> {
    let Some(&log_type) = config.log_types.first() else {
        return Vec::new();
    };
    let once = RetryPolicy {
        max_transient_retries: 0,
        max_rate_limit_retries: 0,
        ..RetryPolicy::default()
    };
    let reports = ZoomReports::new(http, config, state, once);
    let deadline = Some(tokio::time::Instant::now() + REPORT_PATIENCE);
    facts::measure(&reports, log_type, now, deadline).await
}

fn granular_scope(log_type: LogType) -> &'static str {
    match log_type {
        LogType::Activity => "report:read:user_activities:admin",
        LogType::Operation => "report:read:operation_logs:admin",
    }
}

fn fix_for(error: &SourceError, log_type: Option<LogType>) -> String {
    match error {
        SourceError::AuthRevoked { .. } => "authorize the app again: `zoomlogs authorize \
             --client-id ID` with the same --state-file or --secret-id (docs/deploy.md, \
             \"When the authorization is revoked\")"
            .into(),
        SourceError::MissingScope { .. } => format!(
            "add the scope {} (or the classic report:read:admin) to the Zoom app; a \
             user-managed app must then be authorized again",
            log_type.map_or("of this report", granular_scope)
        ),
        SourceError::NoPermission { .. } => "give the authorizing user's Zoom role the View \
             reports permission, or authorize again as a user who has it"
            .into(),
        SourceError::TokenNotStored(_) => "the rotated refresh token could not be stored and \
             is lost: fix write access to the state (secretsmanager:PutSecretValue, KMS), then \
             authorize again"
            .into(),
        SourceError::DailyLimit { retry_after } => format!(
            "Zoom's daily request quota is used up; check again after {}",
            retry_after
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|| "00:00 UTC".into())
        ),
        SourceError::RateLimited { .. } => "Zoom's per-second limit, shared with the account's \
             other apps, held: lower ZOOM_MAX_REQUESTS_PER_SECOND or ZOOM_CONCURRENT_QUERIES, or \
             check again later"
            .into(),
        SourceError::Deadline | SourceError::Unavailable { .. } | SourceError::PageTokenExpired => {
            "Zoom did not answer: check ZOOM_API_URL / ZOOM_OAUTH_URL and the network, then check \
             again"
                .into()
        }
        SourceError::Rejected { .. } => "check ZOOM_API_URL (ZoomGov or zoom.us) and that the \
             account's plan has reports (a free account has none)"
            .into(),
        SourceError::Malformed { .. } => {
            "check ZOOM_API_URL and ZOOM_OAUTH_URL: a proxy or a wrong host answers this".into()
        }
        SourceError::State(_) => {
            "check that these credentials may read and write the state document".into()
        }
    }
}

/// Writes, reads back and (if allowed) removes a probe object under the prefix.
async fn check_output(list: &mut Checklist, config: &Config, output: &Output, now: DateTime<Utc>) {
    let name = "output";
    let key = format!(
        "{}_check/probe-{}.txt",
        config.prefix,
        now.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let probe = format!(
        "written by `zoomlogs check` at {}; not a log, safe to delete\n",
        now.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
    .into_bytes();
    let at = output.describe(&key);
    let written = output
        .put(&key, probe.clone(), "text/plain", Precondition::Absent)
        .await;
    if let Err(e) = written {
        list.fail(
            name,
            format!("StorageFailed: {e}"),
            format!(
                "check that the bucket (or directory) exists and that these credentials may \
                 write under {:?} (s3:PutObject, and kms:GenerateDataKey for an SSE-KMS bucket)",
                config.prefix
            ),
        );
        return;
    }
    match output.get(&key).await {
        Ok(Some(read)) if read == probe => {}
        Ok(_) => {
            list.fail(
                name,
                format!("the probe {at} did not read back as written"),
                "check that nothing else rewrites keys under the prefix, and the endpoint \
                 (AWS_ENDPOINT_URL, S3_FORCE_PATH_STYLE)",
            );
            return;
        }
        Err(e) => {
            list.fail(
                name,
                format!("StorageFailed: {e} (the probe {at} was written and is left)"),
                format!(
                    "let these credentials read under {:?} (s3:GetObject, s3:ListBucket, and \
                     kms:Decrypt for an SSE-KMS bucket)",
                    config.prefix
                ),
            );
            return;
        }
    }
    let conditional = conditional_writes_honoured(output, &key, &probe).await;
    let detail = match output.delete(&key).await {
        Ok(()) => format!("wrote, read back and removed the probe {at}"),
        Err(e) => format!(
            "wrote and read back the probe {at}; it is left in place because it could not be \
             removed ({e}); delete it by hand whenever convenient"
        ),
    };
    match conditional {
        Ok(()) => list.pass(
            name,
            format!("{detail}; the store honours conditional writes"),
        ),
        Err(why) => list.fail(
            name,
            format!("{detail}; but the store does not honour conditional writes: {why}"),
            "log objects are written with If-None-Match: * and checkpoint markers with \
             If-Match; without them a retried or overlapping run can overwrite objects (a \
             duplicate for every consumer of S3 notifications) and interleave checkpoints: use \
             S3, or an S3-compatible store that supports conditional PutObject",
        ),
    }
}

/// Whether the store refuses a second write-once put of `key` and a replacement against an
/// ETag that is not the object's; `Err` says which it accepted.
async fn conditional_writes_honoured(
    output: &Output,
    key: &str,
    probe: &[u8],
) -> Result<(), String> {
    let refused = |result: Result<Option<String>, crate::ports::StoreError>| match result {
        Err(e) if e.conflict => Ok(()),
        Err(e) => Err(format!("it failed otherwise ({e})")),
        Ok(_) => Err("it accepted it".to_owned()),
    };
    let again = output
        .put(key, probe.to_vec(), "text/plain", Precondition::Absent)
        .await;
    refused(again).map_err(|e| format!("a second If-None-Match: * write of the probe: {e}"))?;
    let stale = Precondition::Matches("\"not-the-probes-etag\"".to_owned());
    let replaced = output.put(key, probe.to_vec(), "text/plain", stale).await;
    refused(replaced).map_err(|e| format!("an If-Match write with a wrong ETag: {e}"))
}

/// The fix for a cursor or `written_through` later than the clock.
fn future_fix(log_type: LogType, key: &str) -> String {
    format!(
        "a cursor is a time every event up to which is written, so it cannot be later than the \
         clock: set the cursor of {log_type} in the state document back to the newest event time \
         written (or to now minus SETTLE_SECONDS), and set `written_through` in {key} to the same \
         time or remove the marker if it has no open slice; hours already written are reconciled \
         with the bucket, not written twice"
    )
}

async fn check_marker<K: ObjectSink>(
    list: &mut Checklist,
    name: String,
    config: &Config,
    sink: &K,
    log_type: LogType,
    cursor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let key = crate::keys::marker_key(&config.prefix, log_type);
    let cursor_text = cursor.map_or_else(
        || "no cursor yet".to_owned(),
        |c| format!("cursor {}", rfc3339(c)),
    );
    if let Some(problem) = cursor.and_then(|c| in_the_future("the cursor", c, now)) {
        list.fail(name, problem, future_fix(log_type, &key));
        return;
    }
    let marker = match load_marker(sink, &config.prefix, log_type).await {
        Ok(None) => {
            list.pass(name, format!("no checkpoint marker yet ({cursor_text})"));
            return;
        }
        Ok(Some((_, Ok(marker)))) => marker,
        Ok(Some((key, Err(why)))) => {
            list.fail(
                name,
                format!("the marker {key} is not a checkpoint marker: {why}"),
                "make sure no other tool writes under the prefix's _checkpoints/ folder; restore \
                 the marker from the bucket's versions if it has them",
            );
            return;
        }
        Err(e) => {
            list.fail(
                name,
                format!("StorageFailed: {e}"),
                "let these credentials read under the prefix (s3:GetObject, s3:ListBucket)",
            );
            return;
        }
    };
    let ledger = &marker.ledger;
    if let Some(problem) = ledger
        .written_through
        .and_then(|w| in_the_future(&format!("the marker's written_through in {key}"), w, now))
    {
        list.fail(name, problem, future_fix(log_type, &key));
        return;
    }
    let written = ledger.written_through.map_or_else(
        || "nothing written yet".to_owned(),
        |w| format!("written through {}", rfc3339(w)),
    );
    let open = ledger.open_slices(cursor);
    let window = match (open.first(), open.last()) {
        (Some(first), Some(last)) => format!(
            "open window ({}, {}] in {} slice{}",
            rfc3339(first.window.start),
            rfc3339(last.window.end),
            open.len(),
            if open.len() == 1 { "" } else { "s" }
        ),
        _ => "no open slice".to_owned(),
    };
    match ledger.agrees_with(cursor) {
        Ok(()) => list.pass(
            name,
            format!("{cursor_text} agrees with the marker: {written}, {window}"),
        ),
        Err(why) => {
            let start = ledger.slices.first().map_or_else(
                || "its first slice's start".to_owned(),
                |s| rfc3339(s.window.start),
            );
            list.fail(
                name,
                format!(
                    "CheckpointInconsistent: {cursor_text} and the marker {key} disagree: {why}"
                ),
                format!(
                    "give each deployment its own LOG_PREFIX; set the cursor of {log_type} in the \
                     state document to the marker's start {start}: the next run then replays the \
                     marker's window exactly"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checklist_renders_each_line_with_its_fix_and_passes_only_if_all_pass() {
        let mut list = Checklist::default();
        list.pass("state document", "parses");
        assert!(list.all_passed());
        list.fail("Zoom.Activity report", "MissingScope: …", "add the scope");
        list.skip("output", "no reason");
        assert!(!list.all_passed());
        assert_eq!(
            list.render(),
            "ok    state document        parses\n\
             FAIL  Zoom.Activity report  MissingScope: …\n\
             \x20                           fix: add the scope\n\
             skip  output                not checked: no reason\n"
        );
        assert_eq!(list.verdict(), "1 of 3 checks failed, 1 skipped");
    }
}
