//! Reads a report response: a page of raw events, or what kind of failure it is.
//!
//! Zoom's errors are told apart by status, then by Zoom's `code`, then by message text, because
//! headers and codes are not always present. Events are kept as raw JSON so each one is written
//! exactly as Zoom sent it. An unexpected body is described by its shape (length, JSON type, the
//! key at fault), never quoted: it may hold e-mail and IP addresses, and errors reach logs and the
//! dead-letter queue.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::MAX_RATE_LIMIT_WAIT;
use super::retry::parse_retry_after;
use crate::log_type::LogType;
use crate::ports::{Page, SourceError};

/// The most of a report response that is read: a full page of 300 events is about 150 KB, so
/// this leaves two hundred times the room and still bounds the function's memory.
pub const MAX_REPORT_BODY_BYTES: usize = 32 << 20;

/// Why a body was not read whole.
#[derive(Debug)]
pub enum BodyError {
    /// The body is longer than the cap (by its `Content-Length`, or as it streamed in).
    TooLarge { cap: usize },
    /// The connection failed while reading.
    Read(reqwest::Error),
}

impl BodyError {
    /// The body's size against the cap: the only thing said about an oversized body.
    pub fn too_large(status: u16, cap: usize) -> String {
        format!(
            "HTTP {status} with a body of more than {cap} bytes ({} MiB, the most read)",
            cap >> 20
        )
    }
}

/// Reads `response`'s body as it streams in, refusing at once one that would pass `cap` bytes:
/// memory never holds more than `cap` of it, whatever the server sends.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|length| length > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A report call that did not yield a page.
#[derive(Debug)]
pub enum Failure {
    /// 401: the access token is expired or invalid; renew it once and retry.
    AccessTokenRejected,
    /// Per-second rate limit: retry after the given wait, or after a backoff.
    Throttled { retry_after: Option<Duration> },
    /// 5xx, timeouts, dropped connections: retry with backoff.
    Transient(String),
    /// Anything else, already typed.
    Final(SourceError),
}

#[derive(Deserialize, Default)]
struct ZoomError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct PageBody<'a> {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(borrow, default)]
    activity_logs: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    operation_logs: Option<Vec<&'a RawValue>>,
}

/// Classifies one response.
pub fn read_response(
    log_type: LogType,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Page, Failure> {
    if status.is_success() {
        return parse_page(log_type, body).map_err(Failure::Final);
    }
    let error: ZoomError = serde_json::from_slice(body).unwrap_or_default();
    let message = error.message.clone().unwrap_or_else(|| shape(body));
    let detail = match error.code {
        Some(code) => format!("HTTP {}, code {code}: {message}", status.as_u16()),
        None => format!("HTTP {}: {message}", status.as_u16()),
    };
    let lower = message.to_ascii_lowercase();
    match status.as_u16() {
        401 => Err(Failure::AccessTokenRejected),
        429 => Err(rate_limit(headers, &lower, detail, now)),
        400 if lower.contains("next page token") => {
            Err(Failure::Final(SourceError::PageTokenExpired))
        }
        400 | 403 if error.code == Some(4711) || lower.contains("does not contain scopes") => {
            Err(Failure::Final(SourceError::MissingScope { detail }))
        }
        400 | 403 if error.code == Some(200) || lower.contains("no permission") => {
            Err(Failure::Final(SourceError::NoPermission { detail }))
        }
        500..=599 => Err(Failure::Transient(detail)),
        status => Err(Failure::Final(SourceError::Rejected { status, detail })),
    }
}

fn rate_limit(
    headers: &HeaderMap,
    lower_message: &str,
    detail: String,
    now: DateTime<Utc>,
) -> Failure {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(v, now));
    let wait = retry_after.map(|t| (t - now).to_std().unwrap_or_default());
    let kind = header("x-ratelimit-type").map(str::to_ascii_lowercase);
    let said_daily = kind.as_deref().is_some_and(|k| k.contains("daily"));
    let said_qps =
        kind.as_deref().is_some_and(|k| k.contains("qps")) || lower_message.contains("per-second");
    // Without a word either way, a wait longer than any per-second wait is the daily limit.
    let daily = said_daily
        || (!said_qps
            && (lower_message.contains("daily") || wait.is_some_and(|w| w > MAX_RATE_LIMIT_WAIT)));
    if daily {
        tracing::warn!(%detail, "Zoom's daily rate limit is reached");
        return Failure::Final(SourceError::DailyLimit { retry_after });
    }
    Failure::Throttled {
        retry_after: wait.map(|w| w.min(MAX_RATE_LIMIT_WAIT)),
    }
}

fn parse_page(log_type: LogType, body: &[u8]) -> Result<Page, SourceError> {
    let malformed = |what: String| SourceError::Malformed {
        detail: format!("HTTP 200 with {what}, not a report page"),
    };
    let page: PageBody = serde_json::from_slice(body)
        .map_err(|e| malformed(describe_unreadable(log_type, body, &e)))?;
    let events = match log_type {
        LogType::Activity => page.activity_logs,
        LogType::Operation => page.operation_logs,
    }
    .ok_or_else(|| {
        malformed(format!(
            "{} without an \"{}\" array",
            shape(body),
            log_type.array_key()
        ))
    })?;
    Ok(Page {
        events: events.into_iter().map(ToOwned::to_owned).collect(),
        next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
    })
}

/// A body's shape for an error message: its length and what kind of text it is, not a byte of it.
fn shape(body: &[u8]) -> String {
    let kind = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => "empty body".to_owned(),
        Some(_) => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => format!("JSON {}", json_type(&value)),
            Err(_) => match body.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{' | b'[') => "body that is not valid JSON".to_owned(),
                Some(b'<') => "HTML or XML body".to_owned(),
                _ => "non-JSON body".to_owned(),
            },
        },
    };
    format!("a {}-byte {kind}", body.len())
}

/// Why a body is not a report page, by shape: where its JSON breaks, or which key has which type.
fn describe_unreadable(log_type: LogType, body: &[u8], error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let shape = shape(body);
    let at = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Eof => format!("{shape} that ends early ({at})"),
        Category::Syntax | Category::Io => format!("{shape} ({at})"),
        // serde's own message would quote the value; name the key and the types instead.
        Category::Data => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(fields)) => {
                let key = log_type.array_key();
                let wrong = |name: &str, expected: &str| {
                    fields.get(name).and_then(|v| {
                        (!v.is_null() && json_type(v) != expected).then(|| {
                            format!(
                                "{shape} whose \"{name}\" is {}, not {}",
                                with_article(json_type(v)),
                                with_article(expected)
                            )
                        })
                    })
                };
                wrong(key, "array")
                    .or_else(|| wrong("next_page_token", "string"))
                    .unwrap_or_else(|| format!("{shape} with a field of the wrong type ({at})"))
            }
            _ => shape,
        },
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn with_article(json_type: &str) -> String {
    match json_type.as_bytes().first() {
        Some(b'a' | b'o') => format!("an {json_type}"),
        _ => format!("a {json_type}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn now() -> DateTime<Utc> {
        "2026-11-29T21:00:00Z".parse().unwrap()
    }

    fn read(status: u16, headers: &[(&'static str, &str)], body: &str) -> Result<Page, Failure> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        read_response(
            LogType::Activity,
            StatusCode::from_u16(status).unwrap(),
            &map,
            body.as_bytes(),
            now(),
        )
    }

    #[test]
    fn a_page_keeps_each_event_byte_for_byte() {
        let body = r#"{"next_page_token":"","page_size":300,"activity_logs":[{"time":"2026-11-29T20:00:00Z",  "x":"é"},{"b":1}]}"#;
        let page = read(200, &[], body).unwrap();
        assert_eq!(
            page.events[0].get(),
            r#"{"time":"2026-11-29T20:00:00Z",  "x":"é"}"#
        );
        assert_eq!(page.events[1].get(), r#"{"b":1}"#);
        assert_eq!(page.next_page_token, None);
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        for body in [
            r#"{"activity_logs":[{"time""#,
            "<html><body>502 Bad Gateway</body></html>",
            r#"{"next_page_token":"","operation_logs":[]}"#,
        ] {
            assert!(matches!(
                read(200, &[], body),
                Err(Failure::Final(SourceError::Malformed { .. }))
            ));
        }
    }

    fn malformed_detail(status: u16, body: &str) -> String {
        match read(status, &[], body) {
            Err(Failure::Final(SourceError::Malformed { detail })) => detail,
            Err(Failure::Final(error)) => error.to_string(),
            Err(Failure::Transient(detail)) => detail,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_malformed_body_is_described_by_its_shape_never_by_its_content() {
        let email = "alice.admin@example.com";
        let event = format!(
            r#"{{"email":"{email}","time":"2026-11-29T20:00:00Z","ip_address":"203.0.113.9"}}"#
        );
        let cases = [
            (
                200,
                format!(r#"{{"activity_logs":[{event},{event}"#),
                "ends early",
            ),
            (
                200,
                format!(r#"{{"activity_logs":[{event}]}} trailing {email}"#),
                "line 1",
            ),
            (
                200,
                format!(r#"{{"activity_logs":"{email}"}}"#),
                r#""activity_logs" is a string, not an array"#,
            ),
            (
                200,
                format!(r#"{{"activity_logs":[],"next_page_token":["{email}"]}}"#),
                r#""next_page_token" is an array"#,
            ),
            (200, format!(r#"["{email}"]"#), "JSON array"),
            (
                200,
                format!(r#"{{"operation_logs":[{event}]}}"#),
                r#"without an "activity_logs" array"#,
            ),
            (200, format!("<html>{email}</html>"), "HTML or XML"),
            (200, format!("{email} 203.0.113.9"), "non-JSON"),
            (
                502,
                format!("<html><body>Bad Gateway for {email}</body></html>"),
                "HTML or XML",
            ),
        ];
        for (status, body, expected) in cases {
            let detail = malformed_detail(status, &body);
            assert!(!detail.contains("alice"), "{body}: {detail}");
            assert!(!detail.contains("example.com"), "{body}: {detail}");
            assert!(!detail.contains("203.0.113"), "{body}: {detail}");
            assert!(
                detail.contains(expected),
                "{body}: {detail} lacks {expected}"
            );
            assert!(detail.contains(&format!("{}-byte", body.len())), "{detail}");
        }
    }

    #[test]
    fn daily_limit_by_header_with_a_date_time() {
        let result = read(
            429,
            &[
                ("x-ratelimit-type", "Daily-limit"),
                ("retry-after", "2026-11-30T00:00:00Z"),
            ],
            r#"{"code":429,"message":"You have reached the maximum daily rate limit for this API."}"#,
        );
        match result {
            Err(Failure::Final(SourceError::DailyLimit { retry_after })) => {
                assert_eq!(retry_after, Some("2026-11-30T00:00:00Z".parse().unwrap()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn daily_limit_by_message_when_headers_are_missing() {
        let result = read(
            429,
            &[],
            r#"{"code":429,"message":"You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."}"#,
        );
        assert!(matches!(
            result,
            Err(Failure::Final(SourceError::DailyLimit {
                retry_after: None
            }))
        ));
    }

    #[test]
    fn per_second_limit_waits_for_retry_after_seconds() {
        let result = read(
            429,
            &[("x-ratelimit-type", "QPS"), ("retry-after", "2")],
            r#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#,
        );
        assert!(matches!(
            result,
            Err(Failure::Throttled { retry_after: Some(d) }) if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            read(429, &[], "{}"),
            Err(Failure::Throttled { retry_after: None })
        ));
    }

    #[test]
    fn a_per_second_wait_is_capped_whatever_retry_after_says() {
        let qps = r#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#;
        for (headers, body) in [
            (
                &[("x-ratelimit-type", "QPS"), ("retry-after", "86400")][..],
                "{}",
            ),
            (&[("retry-after", "2026-11-30T00:00:00Z")][..], qps),
        ] {
            match read(429, headers, body) {
                Err(Failure::Throttled {
                    retry_after: Some(wait),
                }) => assert_eq!(wait, MAX_RATE_LIMIT_WAIT),
                other => panic!("{headers:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_429_that_names_no_limit_but_asks_for_a_long_wait_is_the_daily_limit() {
        for retry_after in ["2026-11-30T00:00:00Z", "3600"] {
            let result = read(
                429,
                &[("retry-after", retry_after)],
                r#"{"code":429,"message":"Too many requests."}"#,
            );
            assert!(
                matches!(
                    result,
                    Err(Failure::Final(SourceError::DailyLimit {
                        retry_after: Some(_)
                    }))
                ),
                "{retry_after}: {result:?}"
            );
        }
        assert!(matches!(
            read(429, &[("retry-after", "5")], "{}"),
            Err(Failure::Throttled { retry_after: Some(d) }) if d == Duration::from_secs(5)
        ));
    }

    #[test]
    fn errors_are_classified_by_status_code_and_message() {
        assert!(matches!(
            read(
                401,
                &[],
                r#"{"code":124,"message":"Invalid access token."}"#
            ),
            Err(Failure::AccessTokenRejected)
        ));
        assert!(matches!(
            read(
                400,
                &[],
                r#"{"code":300,"message":"The next page token is invalid or expired."}"#
            ),
            Err(Failure::Final(SourceError::PageTokenExpired))
        ));
        assert!(matches!(
            read(
                400,
                &[],
                r#"{"code":4711,"message":"Invalid access token, does not contain scopes:[report:read:admin]."}"#
            ),
            Err(Failure::Final(SourceError::MissingScope { .. }))
        ));
        assert!(matches!(
            read(400, &[], r#"{"code":200,"message":"No permission."}"#),
            Err(Failure::Final(SourceError::NoPermission { .. }))
        ));
        assert!(matches!(
            read(503, &[], "<html>down</html>"),
            Err(Failure::Transient(_))
        ));
        assert!(matches!(
            read(
                400,
                &[],
                r#"{"code":300,"message":"Only provide report in recent 6 months."}"#
            ),
            Err(Failure::Final(SourceError::Rejected { status: 400, .. }))
        ));
    }
}
