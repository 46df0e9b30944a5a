//! Settings, parsed once from the environment into a typed [`Config`].
//!
//! Parsing takes a lookup function rather than reading the process environment, so tests build a
//! config from a map without touching global state. Every error names the variable at fault.

use std::time::Duration;

use crate::log_type::LogType;

/// Zoom keeps report data for six months; a first run never looks further back than this.
pub const MAX_LOOKBACK_DAYS: u32 = 180;

/// `DEADLINE_MARGIN_SECONDS`'s default, from the worst case after the last start: a token refresh
/// that started just before the deadline ends within [`zoom::REFRESH_WORST_CASE`] (its request,
/// then storing the rotated refresh token; a page request needs only [`zoom::REQUEST_TIMEOUT`] and
/// the writes of its objects), and then the run's final save takes up to
/// [`state::SAVE_WORST_CASE`]. Rounded up to whole seconds, plus a few for the rest (S3 writes,
/// the summary). A smaller margin lets Lambda end a run after Zoom rotated its token but before
/// the new one is stored.
///
/// [`zoom::REFRESH_WORST_CASE`]: crate::zoom::REFRESH_WORST_CASE
/// [`zoom::REQUEST_TIMEOUT`]: crate::zoom::REQUEST_TIMEOUT
/// [`state::SAVE_WORST_CASE`]: crate::state::SAVE_WORST_CASE
pub const DEFAULT_DEADLINE_MARGIN: Duration = {
    let worst = crate::zoom::REFRESH_WORST_CASE.saturating_add(crate::state::SAVE_WORST_CASE);
    let whole_seconds = worst.as_secs() + (worst.subsec_nanos() > 0) as u64;
    Duration::from_secs(whole_seconds + 3)
};

/// Everything a run needs to know, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `ZOOM_SECRET_ID`: the Secrets Manager secret holding credentials and cursors.
    pub secret_id: Option<String>,
    /// `ZOOM_SECRET_PREFIX`: where the accounts' secrets live when one deployment serves many
    /// (`<prefix><account>`); never set beside `ZOOM_SECRET_ID`.
    pub secret_prefix: Option<String>,
    /// `LOG_BUCKET`: the output bucket (required by the Lambda).
    pub bucket: Option<String>,
    /// `LOG_PREFIX`: key prefix before the log-type folder, always empty or ending in `/`.
    pub prefix: String,
    /// `LOG_TYPES`: which reports to pull, without repeats.
    pub log_types: Vec<LogType>,
    /// `ZOOM_API_URL`, without a trailing slash.
    pub api_url: String,
    /// `ZOOM_OAUTH_URL`.
    pub oauth_url: String,
    /// `SETTLE_SECONDS`: events younger than this are left for the next run.
    pub settle: chrono::Duration,
    /// `INITIAL_LOOKBACK_DAYS`: where a log type with no cursor starts.
    pub initial_lookback_days: u32,
    /// `S3_FORCE_PATH_STYLE`.
    pub s3_force_path_style: bool,
    /// `DEADLINE_MARGIN_SECONDS`: stop starting work when the Lambda has less than this left
    /// (default [`DEFAULT_DEADLINE_MARGIN`]).
    pub deadline_margin: Duration,
    /// `ZOOM_MAX_REQUESTS_PER_SECOND`: this tool's own pace, leaving room for the account's other apps.
    pub max_requests_per_second: u32,
    /// `ZOOM_CONCURRENT_QUERIES`: slices of a log type's backlog pulled at once (1 turns it off).
    pub concurrent_queries: usize,
    /// `RECHECK_HOURS`: how far behind the cursor a run re-checks Zoom for late events (0 = off).
    pub recheck_hours: u32,
    /// `RECHECK_INTERVAL_MINUTES`: how often a log type's horizon is re-checked (0 = every run).
    pub recheck_interval: chrono::Duration,
    /// `BUFFER_BUDGET_MB`, in bytes: what a log type may hold in memory when Zoom's order is not
    /// newest first, shared by the slices it pulls at once.
    pub buffer_budget_bytes: usize,
    /// `OBJECT_MAX_EVENTS`: an output object is cut after this many events.
    pub object_max_events: usize,
}

/// The least memory one query may hold: a 300-event page is about 150 KB.
const MIN_QUERY_BUDGET_BYTES: usize = 512 << 10;

/// A setting that is missing or does not parse.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl Config {
    /// Reads the settings through `lookup` (for the process: `|name| std::env::var(name).ok()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let config = Config {
            secret_id: get("ZOOM_SECRET_ID"),
            secret_prefix: crate::accounts::parse_secret_prefix(
                get("ZOOM_SECRET_PREFIX"),
                get("ZOOM_SECRET_ID").is_some(),
            )?,
            bucket: get("LOG_BUCKET"),
            prefix: normalize_prefix(get("LOG_PREFIX").unwrap_or_else(|| "zoom/".into())),
            log_types: parse_log_types(get("LOG_TYPES").as_deref())?,
            api_url: parse_url(
                "ZOOM_API_URL",
                get("ZOOM_API_URL"),
                "https://api.zoom.us/v2",
            )?,
            oauth_url: parse_url(
                "ZOOM_OAUTH_URL",
                get("ZOOM_OAUTH_URL"),
                "https://zoom.us/oauth/token",
            )?,
            settle: chrono::Duration::seconds(i64::from(parse_number(
                "SETTLE_SECONDS",
                get("SETTLE_SECONDS"),
                600,
                0..=86_400,
            )?)),
            initial_lookback_days: parse_number(
                "INITIAL_LOOKBACK_DAYS",
                get("INITIAL_LOOKBACK_DAYS"),
                30,
                1..=MAX_LOOKBACK_DAYS,
            )?,
            s3_force_path_style: parse_bool("S3_FORCE_PATH_STYLE", get("S3_FORCE_PATH_STYLE"))?,
            deadline_margin: Duration::from_secs(u64::from(parse_number(
                "DEADLINE_MARGIN_SECONDS",
                get("DEADLINE_MARGIN_SECONDS"),
                DEFAULT_DEADLINE_MARGIN.as_secs() as u32,
                1..=600,
            )?)),
            max_requests_per_second: parse_number(
                "ZOOM_MAX_REQUESTS_PER_SECOND",
                get("ZOOM_MAX_REQUESTS_PER_SECOND"),
                5,
                1..=1000,
            )?,
            concurrent_queries: parse_number(
                "ZOOM_CONCURRENT_QUERIES",
                get("ZOOM_CONCURRENT_QUERIES"),
                4,
                1..=16,
            )? as usize,
            recheck_hours: parse_number("RECHECK_HOURS", get("RECHECK_HOURS"), 24, 0..=168)?,
            recheck_interval: chrono::Duration::minutes(i64::from(parse_number(
                "RECHECK_INTERVAL_MINUTES",
                get("RECHECK_INTERVAL_MINUTES"),
                960,
                0..=10_080,
            )?)),
            buffer_budget_bytes: parse_number(
                "BUFFER_BUDGET_MB",
                get("BUFFER_BUDGET_MB"),
                32,
                1..=4096,
            )? as usize
                * (1 << 20),
            object_max_events: parse_number(
                "OBJECT_MAX_EVENTS",
                get("OBJECT_MAX_EVENTS"),
                10_000,
                1..=1_000_000,
            )? as usize,
        };
        config.check_budget()?;
        Ok(config)
    }

    /// Each of a log type's queries gets `BUFFER_BUDGET_MB / ZOOM_CONCURRENT_QUERIES`; it must
    /// hold at least a page of Zoom's events and what the writer adds to it.
    fn check_budget(&self) -> Result<(), ConfigError> {
        let per_query = self.buffer_budget_bytes / self.concurrent_queries.max(1);
        if per_query < MIN_QUERY_BUDGET_BYTES {
            return Err(ConfigError {
                variable: "BUFFER_BUDGET_MB",
                message: format!(
                    "{} MB shared by ZOOM_CONCURRENT_QUERIES={} queries leaves {} KB a query; \
                     each needs at least {} KB (a page of events and a part): raise \
                     BUFFER_BUDGET_MB or lower ZOOM_CONCURRENT_QUERIES",
                    self.buffer_budget_bytes >> 20,
                    self.concurrent_queries,
                    per_query >> 10,
                    MIN_QUERY_BUDGET_BYTES >> 10,
                ),
            });
        }
        Ok(())
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }
}

fn normalize_prefix(prefix: String) -> String {
    let trimmed = prefix.trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

fn parse_log_types(value: Option<&str>) -> Result<Vec<LogType>, ConfigError> {
    let Some(value) = value else {
        return Ok(LogType::ALL.to_vec());
    };
    let mut types = Vec::new();
    for name in value.split(',').filter(|n| !n.trim().is_empty()) {
        let log_type = name.parse::<LogType>().map_err(|message| ConfigError {
            variable: "LOG_TYPES",
            message,
        })?;
        if !types.contains(&log_type) {
            types.push(log_type);
        }
    }
    if types.is_empty() {
        return Err(ConfigError {
            variable: "LOG_TYPES",
            message: "names no log type".into(),
        });
    }
    Ok(types)
}

fn parse_url(
    variable: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| default.to_owned());
    let parsed = reqwest::Url::parse(&url).map_err(|e| ConfigError {
        variable,
        message: format!("{url:?} is not a URL: {e}"),
    })?;
    match parsed.scheme() {
        "https" => {}
        // Plain HTTP would send the client secret and tokens in clear: only a local simulator or
        // proxy on this machine may be reached that way.
        "http" if is_loopback(&parsed) => {}
        "http" => {
            return Err(ConfigError {
                variable,
                message: format!(
                    "{url:?} is plain http: the client secret and tokens would travel in clear; \
                     use https (http is allowed only for 127.0.0.0/8, ::1 and localhost)"
                ),
            });
        }
        _ => {
            return Err(ConfigError {
                variable,
                message: format!("{url:?} is not an http(s) URL"),
            });
        }
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Whether the URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

fn parse_number(
    variable: &'static str,
    value: Option<String>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let out_of_range = || ConfigError {
        variable,
        message: format!(
            "{value:?} is not a whole number from {} to {}",
            range.start(),
            range.end()
        ),
    };
    let number = value.parse::<u32>().map_err(|_| out_of_range())?;
    if range.contains(&number) {
        Ok(number)
    } else {
        Err(out_of_range())
    }
}

fn parse_bool(variable: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ConfigError {
            variable,
            message: format!("{other:?} is not true or false"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.prefix, "zoom/");
        assert_eq!(c.log_types, vec![LogType::Activity, LogType::Operation]);
        assert_eq!(c.api_url, "https://api.zoom.us/v2");
        assert_eq!(c.oauth_url, "https://zoom.us/oauth/token");
        assert_eq!(c.settle, chrono::Duration::seconds(600));
        assert_eq!(c.initial_lookback_days, 30);
        assert!(!c.s3_force_path_style);
        assert_eq!(c.secret_id, None);
        assert_eq!(c.bucket, None);
        assert_eq!(c.deadline_margin, DEFAULT_DEADLINE_MARGIN);
    }

    #[test]
    fn the_default_deadline_margin_outlasts_a_refresh_started_at_the_deadline_and_the_final_save() {
        let refresh_then_store = crate::zoom::REQUEST_TIMEOUT + crate::state::SAVE_WORST_CASE;
        let final_save = crate::state::SAVE_WORST_CASE;
        assert!(DEFAULT_DEADLINE_MARGIN >= refresh_then_store + final_save);
        assert_eq!(DEFAULT_DEADLINE_MARGIN, Duration::from_secs(75));
    }

    #[test]
    fn many_accounts_take_a_secret_prefix_and_never_beside_a_secret_id() {
        let c = config(&[("ZOOM_SECRET_PREFIX", "zoom-log-puller/")]).unwrap();
        assert_eq!(c.secret_prefix.as_deref(), Some("zoom-log-puller/"));
        assert_eq!(c.secret_id, None);
        let err = config(&[
            ("ZOOM_SECRET_PREFIX", "zoom-log-puller/"),
            ("ZOOM_SECRET_ID", "zoom-log-puller/acme"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "ZOOM_SECRET_PREFIX");
        assert_eq!(crate::app::Failure::from(err).error_type(), "ConfigInvalid");
    }

    #[test]
    fn a_bad_number_names_its_variable() {
        let err = config(&[("SETTLE_SECONDS", "abc")]).unwrap_err();
        assert_eq!(err.variable, "SETTLE_SECONDS");
        assert!(err.to_string().contains("SETTLE_SECONDS"), "{err}");
    }

    #[test]
    fn lookback_beyond_zoom_retention_is_refused() {
        let err = config(&[("INITIAL_LOOKBACK_DAYS", "400")]).unwrap_err();
        assert_eq!(err.variable, "INITIAL_LOOKBACK_DAYS");
        assert!(config(&[("INITIAL_LOOKBACK_DAYS", "180")]).is_ok());
        assert!(config(&[("INITIAL_LOOKBACK_DAYS", "0")]).is_err());
    }

    #[test]
    fn an_unknown_log_type_is_refused_by_name() {
        let err = config(&[("LOG_TYPES", "Zoom.Activity,Zoom.Meetings")]).unwrap_err();
        assert_eq!(err.variable, "LOG_TYPES");
        assert!(err.message.contains("Zoom.Meetings"));
    }

    #[test]
    fn log_types_are_deduplicated_and_trimmed() {
        let c = config(&[("LOG_TYPES", " Zoom.Operation , Zoom.Operation")]).unwrap();
        assert_eq!(c.log_types, vec![LogType::Operation]);
    }

    #[test]
    fn the_prefix_always_ends_in_a_slash() {
        assert_eq!(config(&[("LOG_PREFIX", "audit")]).unwrap().prefix, "audit/");
        assert_eq!(config(&[("LOG_PREFIX", "/a/b/")]).unwrap().prefix, "a/b/");
    }

    #[test]
    fn urls_lose_their_trailing_slash_and_must_be_http() {
        let c = config(&[("ZOOM_API_URL", "https://api.zoomgov.com/v2/")]).unwrap();
        assert_eq!(c.api_url, "https://api.zoomgov.com/v2");
        assert_eq!(
            config(&[("ZOOM_OAUTH_URL", "ftp://x")])
                .unwrap_err()
                .variable,
            "ZOOM_OAUTH_URL"
        );
    }

    #[test]
    fn plain_http_zoom_urls_are_refused_by_variable_unless_the_host_is_loopback() {
        for variable in ["ZOOM_API_URL", "ZOOM_OAUTH_URL"] {
            for url in [
                "http://api.zoom.us/v2",
                "http://zoom.us/oauth/token",
                "HTTP://api.zoomgov.com/v2",
                "http://10.0.0.5:8080/v2",
                "http://128.0.0.1/v2",
                "http://[::2]/v2",
                "http://localhost.example.com/v2",
                "http://127.0.0.1.nip.io/v2",
            ] {
                let err = config(&[(variable, url)]).unwrap_err();
                assert_eq!(err.variable, variable, "{url}");
                assert!(err.message.contains("https"), "{url}: {err}");
            }
            for url in [
                "http://127.0.0.1:8080/v2",
                "http://127.1.2.3/v2",
                "http://localhost:9000/oauth/token",
                "http://LOCALHOST/v2",
                "http://[::1]:8080/v2",
                "https://api.zoom.us/v2",
            ] {
                assert!(config(&[(variable, url)]).is_ok(), "{variable}={url}");
            }
        }
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        assert!(
            config(&[("S3_FORCE_PATH_STYLE", "TRUE")])
                .unwrap()
                .s3_force_path_style
        );
        assert_eq!(
            config(&[("S3_FORCE_PATH_STYLE", "maybe")])
                .unwrap_err()
                .variable,
            "S3_FORCE_PATH_STYLE"
        );
    }

    #[test]
    fn a_budget_too_small_for_the_queries_that_share_it_names_both_settings() {
        let error =
            config(&[("BUFFER_BUDGET_MB", "4"), ("ZOOM_CONCURRENT_QUERIES", "16")]).unwrap_err();
        assert_eq!(error.variable, "BUFFER_BUDGET_MB");
        assert!(
            error.message.contains("ZOOM_CONCURRENT_QUERIES=16"),
            "{error}"
        );
        assert!(
            config(&[
                ("BUFFER_BUDGET_MB", "16"),
                ("ZOOM_CONCURRENT_QUERIES", "16")
            ])
            .is_ok()
        );
    }
}
