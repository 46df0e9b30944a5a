//! A run's numbers as CloudWatch metrics, in the Embedded Metric Format (EMF).
//!
//! [`emf_lines`] turns a [`RunSummary`] into one JSON object per log type. Printed as one line on
//! the Lambda's standard output, each becomes, in namespace [`NAMESPACE`] with the dimension
//! `LogType`: `EventsWritten`, `ObjectsWritten`, `PagesFetched`, `QuarantinedEvents` (events
//! without a valid `time`), `LateEvents` and `LateEventMaxAgeSeconds` (what a re-check of recent
//! hours found Zoom had reported late, and the oldest one's age; only in runs that re-checked),
//! `ReportDrift` (events the re-check found Zoom now renders differently; only in runs that
//! re-checked), `PageLoops` (queries ended because Zoom's page token looped),
//! `StoppedEarly` (1 when the run stopped early, else 0) and `CursorLagSeconds` (how far the cursor trails `now`; left out when
//! the log type has no cursor yet, because EMF requires every declared metric to have a value).
//! The template's alarms watch these. The function is pure: it prints nothing.
//!
//! A run for one of many accounts also files [`PER_ACCOUNT`] under the dimensions `LogType` and
//! [`ACCOUNT_DIMENSION`] (a second EMF directive in the same document): the dashboard's worst
//! accounts. The `LogType` metrics stay the fleet's aggregate, so one alarm on the maximum cursor
//! lag watches every account. Only a few metrics are per account, because CloudWatch bills each
//! metric and dimension pair.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::pull::{LogTypeSummary, RunSummary};

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "ZoomLogPuller";

/// The one dimension of every metric: the log type's name (`Zoom.Activity`, `Zoom.Operation`).
pub const DIMENSION: &str = "LogType";

/// The dimension naming the account, beside `LogType`, in a run for one of many accounts.
pub const ACCOUNT_DIMENSION: &str = "Account";

/// The metrics filed per account as well.
pub const PER_ACCOUNT: [&str; 3] = ["CursorLagSeconds", "EventsWritten", "StoppedEarly"];

/// One EMF document per log type of `summary`, each a single line of JSON, stamped with `now`.
pub fn emf_lines(summary: &RunSummary, now: DateTime<Utc>) -> Vec<String> {
    summary
        .log_types
        .iter()
        .map(|log_type| {
            let mut document = emf_document(log_type, now);
            if let Some(account) = &summary.account {
                add_account(&mut document, account);
            }
            document.to_string()
        })
        .collect()
}

/// Files the document's [`PER_ACCOUNT`] metrics under `LogType` and `Account` as well.
fn add_account(document: &mut Value, account: &str) {
    let declared = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let per_account: Vec<Value> = declared
        .into_iter()
        .filter(|m| PER_ACCOUNT.iter().any(|name| m["Name"] == *name))
        .collect();
    if let Some(directives) = document["_aws"]["CloudWatchMetrics"].as_array_mut() {
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [[DIMENSION, ACCOUNT_DIMENSION]],
            "Metrics": per_account,
        }));
    }
    document[ACCOUNT_DIMENSION] = json!(account);
}

fn emf_document(summary: &LogTypeSummary, now: DateTime<Utc>) -> Value {
    let mut metrics: Vec<(&str, &str, Value)> = vec![
        ("EventsWritten", "Count", json!(summary.events_written)),
        ("ObjectsWritten", "Count", json!(summary.objects_written)),
        ("PagesFetched", "Count", json!(summary.pages_fetched)),
        (
            "QuarantinedEvents",
            "Count",
            json!(summary.quarantined_events),
        ),
        ("PageLoops", "Count", json!(summary.page_loops)),
    ];
    if let Some(cursor) = summary.cursor_after {
        // A cursor is never meant to be ahead of the clock; if it is, the lag is none, not negative.
        let lag = (now - cursor).num_seconds().max(0);
        metrics.push(("CursorLagSeconds", "Seconds", json!(lag)));
    }
    if let Some(recheck) = &summary.recheck {
        metrics.push(("LateEvents", "Count", json!(recheck.late_events)));
        metrics.push(("ReportDrift", "Count", json!(recheck.drifted_events)));
        if let Some(age) = recheck.late_event_max_age_seconds {
            metrics.push(("LateEventMaxAgeSeconds", "Seconds", json!(age)));
        }
    }
    metrics.push((
        "StoppedEarly",
        "Count",
        json!(u8::from(summary.stopped_early.is_some())),
    ));

    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert(DIMENSION.to_owned(), json!(summary.log_type.name()));
    for (name, _, value) in metrics {
        root.insert(name.to_owned(), value);
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_type::LogType;
    use crate::pull::StopReason;
    use crate::window::Window;

    fn time(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn log_type_summary(log_type: LogType) -> LogTypeSummary {
        LogTypeSummary::new(log_type, None)
    }

    fn run_summary(log_types: Vec<LogTypeSummary>) -> RunSummary {
        RunSummary {
            reference_time: time("2026-11-29T21:15:00Z"),
            log_types,
            state_saved: true,
            account: None,
        }
    }

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "an EMF document is one line: {line}");
        serde_json::from_str(line).unwrap()
    }

    /// The metric names declared in the document's directive, in order.
    fn declared(doc: &Value) -> Vec<(String, String)> {
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap().to_owned(),
                    m["Unit"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn one_document_per_log_type_with_its_counts() {
        let now = time("2026-11-29T21:15:07.250Z");
        let mut activity = log_type_summary(LogType::Activity);
        activity.events_written = 12;
        activity.objects_written = 2;
        activity.pages_fetched = 3;
        activity.cursor_before = Some(time("2026-11-29T20:50:00Z"));
        activity.cursor_after = Some(time("2026-11-29T21:05:00Z"));
        activity.window = Some(Window {
            start: time("2026-11-29T20:50:00Z"),
            end: time("2026-11-29T21:05:00Z"),
        });
        let operation = log_type_summary(LogType::Operation);

        let lines = emf_lines(&run_summary(vec![activity, operation]), now);
        assert_eq!(lines.len(), 2);

        let doc = parse(&lines[0]);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], json!(now.timestamp_millis()));
        assert_eq!(directive["Namespace"], "ZoomLogPuller");
        assert_eq!(directive["Dimensions"], json!([["LogType"]]));
        assert_eq!(doc["LogType"], "Zoom.Activity");
        assert_eq!(doc["EventsWritten"], 12);
        assert_eq!(doc["ObjectsWritten"], 2);
        assert_eq!(doc["PagesFetched"], 3);
        assert_eq!(doc["CursorLagSeconds"], 607);
        assert_eq!(doc["StoppedEarly"], 0);
        let expected: Vec<(String, String)> = [
            ("EventsWritten", "Count"),
            ("ObjectsWritten", "Count"),
            ("PagesFetched", "Count"),
            ("QuarantinedEvents", "Count"),
            ("PageLoops", "Count"),
            ("CursorLagSeconds", "Seconds"),
            ("StoppedEarly", "Count"),
        ]
        .iter()
        .map(|(n, u)| (n.to_string(), u.to_string()))
        .collect();
        assert_eq!(declared(&doc), expected);

        let doc = parse(&lines[1]);
        assert_eq!(doc["LogType"], "Zoom.Operation");
        assert_eq!(doc["EventsWritten"], 0);
    }

    #[test]
    fn a_log_type_without_a_cursor_declares_no_lag() {
        let lines = emf_lines(
            &run_summary(vec![log_type_summary(LogType::Operation)]),
            time("2026-11-29T21:15:00Z"),
        );
        let doc = parse(&lines[0]);
        assert!(doc.get("CursorLagSeconds").is_none(), "{doc}");
        assert!(
            declared(&doc)
                .iter()
                .all(|(name, _)| name != "CursorLagSeconds"),
            "{doc}"
        );
    }

    #[test]
    fn every_declared_metric_has_a_numeric_value_and_nothing_else_is_declared() {
        let mut stopped = log_type_summary(LogType::Activity);
        stopped.cursor_after = Some(time("2026-11-29T20:00:00Z"));
        stopped.stopped_early = Some(StopReason::DailyLimit);
        for summary in [stopped, log_type_summary(LogType::Operation)] {
            let lines = emf_lines(&run_summary(vec![summary]), time("2026-11-29T21:15:00Z"));
            let doc = parse(&lines[0]);
            for (name, _) in declared(&doc) {
                assert!(doc[&name].is_u64(), "{name} has no count in {doc}");
            }
            let members: Vec<&String> = doc.as_object().unwrap().keys().collect();
            assert_eq!(members.len(), declared(&doc).len() + 2, "{doc}");
        }
    }

    #[test]
    fn a_stop_counts_one_whatever_its_reason() {
        for reason in [StopReason::DailyLimit, StopReason::Deadline] {
            let mut summary = log_type_summary(LogType::Operation);
            summary.stopped_early = Some(reason);
            let lines = emf_lines(&run_summary(vec![summary]), time("2026-11-29T21:15:00Z"));
            assert_eq!(parse(&lines[0])["StoppedEarly"], 1);
        }
    }

    #[test]
    fn a_cursor_ahead_of_the_clock_has_no_lag() {
        let mut summary = log_type_summary(LogType::Activity);
        summary.cursor_after = Some(time("2026-11-29T21:20:00Z"));
        let lines = emf_lines(&run_summary(vec![summary]), time("2026-11-29T21:15:00Z"));
        assert_eq!(parse(&lines[0])["CursorLagSeconds"], 0);
    }

    #[test]
    fn a_recheck_reports_late_events_and_drift_and_a_looping_token_counts() {
        let mut summary = log_type_summary(LogType::Activity);
        summary.page_loops = 2;
        summary.recheck = Some(crate::pull::Recheck {
            late_events: 3,
            drifted_events: 40,
            ..Default::default()
        });
        let lines = emf_lines(&run_summary(vec![summary]), time("2026-11-29T21:15:00Z"));
        let doc = parse(&lines[0]);
        assert_eq!(doc["LateEvents"], 3);
        assert_eq!(doc["ReportDrift"], 40);
        assert_eq!(doc["PageLoops"], 2);
    }

    #[test]
    fn a_run_without_log_types_has_no_lines() {
        assert!(emf_lines(&run_summary(Vec::new()), time("2026-11-29T21:15:00Z")).is_empty());
    }

    #[test]
    fn a_run_for_an_account_files_its_lag_events_and_stops_under_the_account_too() {
        let now = time("2026-11-29T21:15:00Z");
        let mut activity = log_type_summary(LogType::Activity);
        activity.cursor_after = Some(time("2026-11-29T21:05:00Z"));
        let mut summary = run_summary(vec![activity]);
        summary.account = Some("acme".into());
        let doc = parse(&emf_lines(&summary, now)[0]);
        assert_eq!(doc["Account"], "acme");
        assert_eq!(doc["LogType"], "Zoom.Activity");
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0]["Dimensions"], json!([["LogType"]]));
        assert_eq!(directives[1]["Dimensions"], json!([["LogType", "Account"]]));
        let per_account: Vec<&str> = directives[1]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            per_account,
            ["EventsWritten", "CursorLagSeconds", "StoppedEarly"]
        );
        assert_eq!(doc["CursorLagSeconds"], 600);

        summary.account = None;
        let doc = parse(&emf_lines(&summary, now)[0]);
        assert!(doc.get("Account").is_none());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
            1
        );
    }
}
