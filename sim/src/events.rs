//! Realistic raw Zoom audit events for tests, the demo and benchmarks: whole-second RFC 3339
//! times with many same-second ties, identical duplicate rows, unknown extra fields, varied key
//! order, non-ASCII text both raw and `\u`-escaped, `\"` and `\/` escapes, double spaces, and
//! insignificant whitespace inside rows (never a newline). Deterministic for a seed.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};

use crate::log_type::LogType;

const EMAILS: &[&str] = &[
    "ann.lee@example.com",
    "bob.okafor@example.com",
    "renée.dubois@example.fr",
    "li.wei@example.cn",
    "admin@example.com",
    "svc-sync@example.com",
    "j.o'brien@example.ie",
];
const NAMES: &[&str] = &[
    "Ann Lee",
    "Renée Dubois",
    "José Álvarez",
    "Zoë Ångström",
    "李伟",
    "Søren Kierkegaard",
    "Bob \"Bobby\" Okafor",
];
const CLIENT_TYPES: &[&str] = &[
    "Browser",
    "Windows",
    "Mac",
    "iOS",
    "Android",
    "Linux",
    "Zoom Rooms",
];
const VERSIONS: &[&str] = &["6.2.11.53781", "6.1.5.41263", "5.17.11.34827", "-"];
const CATEGORIES: &[&str] = &[
    "User",
    "User Settings",
    "Account",
    "Billing",
    "IM",
    "Recording",
    "Phone Contacts",
    "Webinar",
    "Sub Account",
    "Role",
    "Zoom Rooms",
];
const ACTIONS: &[&str] = &[
    "Add",
    "Update",
    "Delete",
    "Activate",
    "Deactivate",
    "Assign",
];
/// Fields Zoom might add one day; the puller must carry them through untouched.
const EXTRAS: &[(&str, &str)] = &[
    ("account_id", r#""Xq3vB9sLQe2dS0-kzT1w""#),
    ("location", r#"{"city":"Z\u00fcrich","country":"CH"}"#),
    ("is_mobile", "false"),
    ("login_attempts", "1"),
    ("device", "null"),
    ("tags", r#"["sso", "saml"]"#),
    ("display_name", r#""Bob \"Bobby\" Okafor""#),
    ("profile_url", r#""https:\/\/example.zoom.us\/profile""#),
];

/// `count` raw JSON objects of `log_type` with times spread over (`start`, `end`].
pub fn generate_events(
    log_type: LogType,
    count: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    seed: u64,
) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let first = start.timestamp() + 1;
    let last = end.timestamp().max(first);
    let mut times = Vec::with_capacity(count);
    while times.len() < count {
        let second = rng.random_range(first..=last);
        let burst = if rng.random_bool(0.3) {
            rng.random_range(2..=5)
        } else {
            1
        };
        times.extend(std::iter::repeat_n(second, burst.min(count - times.len())));
    }
    times.sort_unstable();
    let mut rows: Vec<String> = Vec::with_capacity(count);
    for second in times {
        let row = match rows.last() {
            Some(previous) if rng.random_ratio(1, 50) => previous.clone(),
            _ => row(log_type, second, &mut rng),
        };
        rows.push(row);
    }
    rows
}

/// One row: fields in Zoom's order or shuffled, maybe extras, maybe loose whitespace.
fn row(log_type: LogType, second: i64, rng: &mut StdRng) -> String {
    let escape_all = rng.random_ratio(1, 5);
    let text = |s: &str| json_string(s, escape_all);
    let time = DateTime::from_timestamp(second, 0)
        .expect("time in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let pick = |rng: &mut StdRng, list: &[&'static str]| *list.choose(rng).expect("non-empty");
    let mut fields: Vec<(&str, String)> = match log_type {
        LogType::Activity => vec![
            ("email", text(pick(rng, EMAILS))),
            ("time", text(&time)),
            ("type", text(pick(rng, &["Sign in", "Sign out"]))),
            ("ip_address", text(&ip_address(rng))),
            ("client_type", text(pick(rng, CLIENT_TYPES))),
            ("version", text(pick(rng, VERSIONS))),
        ],
        LogType::Operation => {
            let detail = operation_detail(rng);
            vec![
                ("time", text(&time)),
                ("operator", text(pick(rng, EMAILS))),
                ("category_type", text(pick(rng, CATEGORIES))),
                ("action", text(pick(rng, ACTIONS))),
                ("operation_detail", text(&detail)),
            ]
        }
    };
    if rng.random_ratio(1, 8) {
        let (key, value) = *EXTRAS.choose(rng).expect("non-empty");
        fields.push((key, value.to_owned()));
    }
    if rng.random_ratio(1, 4) {
        fields.shuffle(rng);
    }
    render(&fields, rng.random_ratio(1, 6).then_some(rng))
}

fn ip_address(rng: &mut StdRng) -> String {
    if rng.random_ratio(1, 10) {
        format!("2001:db8::{:x}", rng.random::<u16>())
    } else {
        let [a, b, c, d] = rng.random::<[u8; 4]>();
        format!("{}.{b}.{c}.{d}", a.max(1))
    }
}

fn operation_detail(rng: &mut StdRng) -> String {
    let email = *EMAILS.choose(rng).expect("non-empty");
    let name = *NAMES.choose(rng).expect("non-empty");
    let other = *NAMES.choose(rng).expect("non-empty");
    match rng.random_range(0..6) {
        0 => format!("Update User {email}  - Display Name: from '{other}' to '{name}'"),
        1 => format!("Add User {email}  - User Type: Licensed"),
        2 => format!("Update Meeting Settings: \"Waiting room\" from \"off\" to \"on\" for {name}"),
        3 => format!(
            "Delete Recording  https://example.zoom.us/rec/share/{:08x}",
            rng.random::<u32>()
        ),
        4 => format!("Assign Role  Admin to {name} ({email})"),
        _ => format!("Update Account Settings - Security: Sign in with SSO  C:\\sso\\{name}"),
    }
}

/// A JSON string literal; `escape_all` writes non-ASCII as `\uXXXX` and `/` as `\/`.
fn json_string(text: &str, escape_all: bool) -> String {
    let plain = serde_json::to_string(text).expect("a string serializes");
    if !escape_all {
        return plain;
    }
    let mut out = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(out, "\\u{unit:04x}").expect("String write");
                }
            }
        }
    }
    out
}

/// `{"key":value,…}`, or with random spaces around the punctuation when `loose` gives an rng.
fn render(fields: &[(&str, String)], mut loose: Option<&mut StdRng>) -> String {
    let mut space = |options: &[&'static str]| match loose.as_deref_mut() {
        Some(rng) => *options.choose(rng).expect("non-empty"),
        None => options[0],
    };
    let mut out = String::with_capacity(256);
    out.push('{');
    out.push_str(space(&["", " ", "  "]));
    for (n, (key, value)) in fields.iter().enumerate() {
        if n > 0 {
            out.push_str(space(&[",", ", ", " , ", " ,"]));
        }
        out.push('"');
        out.push_str(key);
        out.push('"');
        out.push_str(space(&[":", ": ", " : ", " :"]));
        out.push_str(value);
    }
    out.push_str(space(&["", " "]));
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn sample(log_type: LogType, seed: u64) -> (Vec<String>, DateTime<Utc>, DateTime<Utc>) {
        let end = DateTime::parse_from_rfc3339("2026-11-29T16:48:05Z")
            .expect("time")
            .to_utc();
        let start = end - TimeDelta::hours(2);
        (
            generate_events(log_type, 3000, start, end, seed),
            start,
            end,
        )
    }

    #[test]
    fn deterministic_for_a_seed() {
        for log_type in LogType::ALL {
            assert_eq!(sample(log_type, 7).0, sample(log_type, 7).0);
            assert_ne!(sample(log_type, 7).0, sample(log_type, 8).0);
        }
    }

    #[test]
    fn rows_are_valid_objects_with_whole_second_times_in_range() {
        for log_type in LogType::ALL {
            let (rows, start, end) = sample(log_type, 1);
            assert_eq!(rows.len(), 3000);
            for raw in &rows {
                assert!(!raw.contains('\n') && !raw.contains('\r'), "{raw}");
                let value: serde_json::Value = serde_json::from_str(raw).expect(raw);
                let time = value["time"].as_str().expect("time");
                assert!(time.ends_with('Z') && time.len() == 20, "{time}");
                let time = DateTime::parse_from_rfc3339(time).expect("RFC 3339");
                assert!(start < time && time <= end);
            }
        }
    }

    #[test]
    fn rows_carry_the_awkward_cases() {
        for log_type in LogType::ALL {
            let (rows, _, _) = sample(log_type, 3);
            let times: Vec<serde_json::Value> =
                rows.iter().map(|r| object(r)["time"].clone()).collect();
            let ties = times.windows(2).filter(|w| w[0] == w[1]).count();
            let duplicates = rows.windows(2).filter(|w| w[0] == w[1]).count();
            assert!(ties > 300, "{ties} ties");
            assert!((20..=120).contains(&duplicates), "{duplicates} duplicates");
            let all = rows.concat();
            for needle in ["\\u00e9", "é", "\\\"", "\\/", " , ", "\": "] {
                assert!(all.contains(needle), "{log_type:?} lacks {needle}");
            }
            let first_keys: std::collections::HashSet<&str> = rows
                .iter()
                .map(|r| &r[..r.find(':').expect("key")])
                .collect();
            assert!(first_keys.len() > 2, "key order never varies");
            let known = match log_type {
                LogType::Activity => 6,
                LogType::Operation => 5,
            };
            let extended = rows.iter().filter(|r| object(r).len() > known).count();
            assert!(extended > 100, "{extended} rows with extra fields");
        }
        let (operations, _, _) = sample(LogType::Operation, 3);
        assert!(operations.concat().contains("  "));
    }

    fn object(raw: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(raw).expect("a JSON object")
    }
}
