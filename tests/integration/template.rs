//! The stack, checked against the code it deploys.
//!
//! CloudWatch accepts an alarm or a dashboard on any metric name, so a typo, a renamed metric or
//! a dimension the function does not send makes a graph that stays empty and an alarm that never
//! fires, and nothing fails. These tests read `template.yaml` and `src/metrics.rs` as text and
//! check every metric the template names against the names, namespace and dimension the function
//! emits; likewise the environment variables against `src/config.rs`. The parameter patterns
//! that keep a partial secret ARN and a too-fast schedule out are tried on samples with Python's
//! `re` (the only tool these tests need).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The units an EMF metric definition in `src/metrics.rs` may carry.
const UNITS: [&str; 6] = [
    "Count",
    "Seconds",
    "Milliseconds",
    "Bytes",
    "Percent",
    "None",
];

/// The string literal at the start of `text` (after blanks) and what follows it.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start().strip_prefix('"')?;
    let end = text.find('"')?;
    Some((&text[..end], &text[end + 1..]))
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the function emits: its namespace, its dimension names and its metric names.
struct Emitted {
    namespace: String,
    dimensions: Vec<String>,
    names: BTreeSet<String>,
}

impl Emitted {
    /// Read from `src/metrics.rs`: the `NAMESPACE` and `DIMENSION` constants and every
    /// `("Name", "Unit", value)` metric outside the tests.
    fn from_source() -> Emitted {
        let source = read("src/metrics.rs");
        let code = source.split("#[cfg(test)]").next().unwrap();
        let constant = |name: &str| {
            let start = code
                .find(&format!("pub const {name}: &str = \""))
                .unwrap_or_else(|| panic!("src/metrics.rs has no {name} constant"));
            let rest = &code[start..];
            rest.split('"').nth(1).unwrap().to_owned()
        };
        let mut names = BTreeSet::new();
        for (i, _) in code.match_indices('(') {
            let Some((name, rest)) = quoted(&code[i + 1..]) else {
                continue;
            };
            let Some((unit, _)) = rest.trim_start().strip_prefix(',').and_then(quoted) else {
                continue;
            };
            if UNITS.contains(&unit) {
                names.insert(name.to_owned());
            }
        }
        assert!(
            names.contains("EventsWritten"),
            "no metric found in src/metrics.rs: {names:?}"
        );
        Emitted {
            namespace: constant("NAMESPACE"),
            dimensions: vec![constant("DIMENSION")],
            names,
        }
    }

    fn knows(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// One metric the template refers to: namespace, name and dimension names, and where.
#[derive(Debug)]
struct Reference {
    namespace: String,
    name: String,
    dimensions: Vec<String>,
    place: String,
}

/// The alarms' metrics: each `Namespace:` line with the `MetricName:` and dimension `- Name:`
/// lines that follow it, up to the next `Namespace:`, `Period:` or `Statistic:`.
fn alarm_references(template: &str) -> Vec<Reference> {
    let lines: Vec<&str> = template.lines().collect();
    let value = |line: &str| line.split_once(':').unwrap().1.trim().to_owned();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if !trimmed.starts_with("Namespace:") {
            continue;
        }
        let mut reference = Reference {
            namespace: value(trimmed),
            name: String::new(),
            dimensions: Vec::new(),
            place: format!("template.yaml:{}", i + 1),
        };
        for next in lines[i + 1..].iter().map(|l| l.trim()) {
            if ["Namespace:", "Period:", "Statistic:"]
                .iter()
                .any(|end| next.starts_with(end))
            {
                break;
            }
            if next.starts_with("MetricName:") {
                reference.name = value(next);
            } else if next.starts_with("- Name:") {
                reference.dimensions.push(value(next));
            }
        }
        assert!(
            !reference.name.is_empty(),
            "no MetricName after {}",
            reference.place
        );
        found.push(reference);
    }
    found
}

/// The dashboard's body: the block scalar under `DashboardBody: !Sub`, as text.
fn dashboard_body(template: &str) -> String {
    let start = template
        .find("DashboardBody: !Sub")
        .expect("template.yaml has a dashboard");
    let mut lines = template[start..].lines().skip(1);
    let first = lines.next().unwrap();
    assert_eq!(first.trim(), "- |", "the body is a block scalar");
    let indent = first.len() - first.trim_start().len() + 2;
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body as JSON, as CloudFormation's `!Sub` would make it: a `${...}` inside a JSON string
/// becomes text, an optional list entry (`${...Entry}`) becomes nothing, any other a number.
fn substituted(body: &str) -> Value {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if c == '$' && rest.starts_with("${") {
            let end = rest.find('}').expect("a closed ${...}");
            let name = &rest[2..end];
            out.push_str(if in_string {
                "sub"
            } else if name.ends_with("Entry") {
                ""
            } else {
                "0"
            });
            rest = &rest[end + 1..];
            continue;
        }
        if in_string && !escaped && c == '"' {
            in_string = false;
        } else if !in_string && c == '"' {
            in_string = true;
        }
        escaped = in_string && !escaped && c == '\\';
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}"))
}

/// The dashboard's metrics: every array of a widget's `metrics`, in the full form
/// `[namespace, name, dimension, value, ..., {options}]`.
fn dashboard_references(dashboard: &Value) -> Vec<Reference> {
    let mut found = Vec::new();
    for (w, widget) in dashboard["widgets"].as_array().unwrap().iter().enumerate() {
        let Some(metrics) = widget["properties"]["metrics"].as_array() else {
            continue;
        };
        for (m, metric) in metrics.iter().enumerate() {
            let place = format!("dashboard widget {w} metric {m}");
            let strings: Vec<&str> = metric
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                strings.len() >= 2 && !strings.contains(&"..."),
                "{place}: write every metric in full, without \"...\": {metric}"
            );
            found.push(Reference {
                namespace: strings[0].to_owned(),
                name: strings[1].to_owned(),
                dimensions: strings[2..]
                    .iter()
                    .step_by(2)
                    .map(|s| s.to_string())
                    .collect(),
                place,
            });
        }
    }
    found
}

fn check(references: &[Reference], emitted: &Emitted) {
    for reference in references {
        if reference.namespace.starts_with("AWS/") {
            continue;
        }
        assert_eq!(
            reference.namespace, emitted.namespace,
            "{}: {} is not the function's namespace",
            reference.place, reference.namespace
        );
        assert!(
            emitted.knows(&reference.name),
            "{}: the function emits no metric {} (it emits {:?})",
            reference.place,
            reference.name,
            emitted.names
        );
        assert_eq!(
            reference.dimensions, emitted.dimensions,
            "{}: {} has other dimensions than the function sends",
            reference.place, reference.name
        );
    }
}

#[test]
fn the_alarms_watch_metrics_the_function_emits() {
    let template = read("template.yaml");
    let emitted = Emitted::from_source();
    let references = alarm_references(&template);
    let own: Vec<&str> = references
        .iter()
        .filter(|r| r.namespace == emitted.namespace)
        .map(|r| r.name.as_str())
        .collect();
    for name in [
        "EventsWritten",
        "CursorLagSeconds",
        "QuarantinedEvents",
        "LateEvents",
    ] {
        assert!(own.contains(&name), "no alarm watches {name}: {own:?}");
    }
    check(&references, &emitted);
}

#[test]
fn the_dashboard_shows_metrics_the_function_emits() {
    let template = read("template.yaml");
    let emitted = Emitted::from_source();
    let dashboard = substituted(&dashboard_body(&template));
    let references = dashboard_references(&dashboard);
    let shown: BTreeSet<(&str, &str)> = references
        .iter()
        .map(|r| (r.namespace.as_str(), r.name.as_str()))
        .collect();
    for name in [
        "EventsWritten",
        "PagesFetched",
        "CursorLagSeconds",
        "StoppedEarly",
        "LateEvents",
        "LateEventMaxAgeSeconds",
        "QuarantinedEvents",
    ] {
        assert!(
            shown.contains(&(emitted.namespace.as_str(), name)),
            "the dashboard does not show {name}"
        );
    }
    for name in ["Errors", "Duration"] {
        assert!(
            shown.contains(&("AWS/Lambda", name)),
            "the dashboard does not show the function's {name}"
        );
    }
    check(&references, &emitted);
}

#[test]
fn the_dashboard_shows_every_alarm_of_the_stack() {
    let template = read("template.yaml");
    // The body and its `!Sub` variables (an optional alarm's ARN is one), up to the next resource.
    let start = template.find("DashboardBody: !Sub").unwrap();
    let rest = &template[start..];
    let end = rest
        .match_indices("\n  ")
        .map(|(i, _)| i)
        .find(|&i| !rest[i + 3..].starts_with(' '))
        .unwrap_or(rest.len());
    let dashboard = &rest[..end];
    let lines: Vec<&str> = template.lines().collect();
    let alarms: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[1].trim() == "Type: AWS::CloudWatch::Alarm")
        .map(|pair| pair[0].trim().trim_end_matches(':'))
        .collect();
    assert!(alarms.len() >= 6, "{alarms:?}");
    for alarm in alarms {
        assert!(
            dashboard.contains(&format!("${{{alarm}.Arn}}")),
            "the dashboard's alarm widget does not show {alarm}"
        );
    }
}

/// The stops-by-reason widget queries the logs, because the metric says only that a run stopped:
/// the message and fields it filters on must be the ones the use case logs.
#[test]
fn the_stops_by_reason_query_reads_fields_the_function_logs() {
    let dashboard = substituted(&dashboard_body(&read("template.yaml")));
    let query = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|w| w["properties"]["query"].as_str())
        .expect("a log widget");
    let logging = read("src/pull/mod.rs");
    for (in_query, in_code) in [
        ("fields.message = 'log type pulled'", "\"log type pulled\""),
        ("fields.stopped_early", "stopped_early = ?s.stopped_early"),
        ("fields.log_type", "log_type = %s.log_type"),
    ] {
        assert!(query.contains(in_query), "{query}");
        assert!(
            logging.contains(in_code),
            "src/pull/mod.rs no longer logs {in_code}; update the dashboard's query"
        );
    }
}

/// A variable the template sets but the function does not read is a setting that silently does
/// nothing.
#[test]
fn the_function_reads_every_variable_the_template_sets() {
    let template = read("template.yaml");
    let config = read("src/config.rs");
    let start = template
        .find("        Variables:\n")
        .expect("the function's environment");
    let variables: Vec<&str> = template[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("          "))
        .map(|l| l.trim().split(':').next().unwrap())
        .collect();
    assert!(variables.contains(&"ZOOM_SECRET_ID"), "{variables:?}");
    for variable in variables {
        assert!(
            config.contains(&format!("get(\"{variable}\")")),
            "template.yaml sets {variable}, which src/config.rs does not read"
        );
    }
}

/// A parameter's `AllowedPattern`, as written in the template.
fn allowed_pattern(template: &str, parameter: &str) -> String {
    let start = template
        .find(&format!("\n  {parameter}:\n"))
        .unwrap_or_else(|| panic!("no parameter {parameter}"));
    let line = template[start..]
        .lines()
        .find(|l| l.trim_start().starts_with("AllowedPattern:"))
        .unwrap();
    let quoted = line.split_once(':').unwrap().1.trim();
    quoted
        .strip_prefix('\'')
        .and_then(|q| q.strip_suffix('\''))
        .expect("a single-quoted pattern")
        .replace("''", "'")
}

/// Which of `samples` match `pattern` as a whole. CloudFormation's patterns are Java regular
/// expressions; these use only what Python's `re` reads the same way, and the tests already need
/// Python.
fn full_matches(pattern: &str, samples: &[&str]) -> Vec<bool> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import re, sys\nfor s in sys.argv[2:]: print(bool(re.fullmatch(sys.argv[1], s)))",
            pattern,
        ])
        .args(samples)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l == "True")
        .collect()
}

fn assert_pattern(parameter: &str, accepted: &[&str], refused: &[&str]) {
    let pattern = allowed_pattern(&read("template.yaml"), parameter);
    for (sample, matched) in accepted.iter().zip(full_matches(&pattern, accepted)) {
        assert!(matched, "{parameter} refuses {sample}");
    }
    for (sample, matched) in refused.iter().zip(full_matches(&pattern, refused)) {
        assert!(!matched, "{parameter} accepts {sample}");
    }
}

#[test]
fn the_secret_arn_must_be_the_full_arn() {
    assert_pattern(
        "SecretArn",
        &[
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:zoom-log-puller-state-AbCdEf",
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:team/zoom_state-a1B2c3",
        ],
        &[
            // Partial ARNs: IAM would match no secret and every run would be denied.
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:zoom-log-puller-state",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:zoom-log-puller-state-*",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:zoom-log-puller-state-AbCdE",
            "zoom-log-puller-state",
        ],
    );
}

#[test]
fn the_schedule_is_never_faster_than_every_10_minutes() {
    assert_pattern(
        "ScheduleExpression",
        &[
            "rate(15 minutes)",
            "rate(10 minutes)",
            "rate(90 minutes)",
            "rate(1 hour)",
            "rate(6 hours)",
            "rate(1 day)",
            "cron(0/15 * * * ? *)",
            "cron(*/10 * * * ? *)",
            "cron(5/20 * ? * MON-FRI *)",
            "cron(0/30 8-18 * * ? *)",
            "cron(5 * * * ? *)",
            "cron(0 8 * * ? *)",
        ],
        &[
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(9 minutes)",
            "rate(010 minutes)",
            "cron(* * * * ? *)",
            "cron(*/5 * * * ? *)",
            // 0 and 55: five minutes apart across the hour.
            "cron(0/55 * * * ? *)",
            "cron(0/11 * * * ? *)",
            "cron(0,5 * * * ? *)",
            "cron(0-59/10 * * * ? *)",
            "cron(0/15 * * * ?)",
            "cron(60 * * * ? *)",
            "rate(15 minutes) ",
        ],
    );
}

/// The `Action` list of the policy statement `sid` (the lines after `Action:` that start with `- `).
fn statement_actions(template: &str, sid: &str) -> Vec<String> {
    let start = template
        .find(&format!("- Sid: {sid}"))
        .unwrap_or_else(|| panic!("no statement {sid}"));
    let actions = &template[start..];
    let actions = &actions[actions.find("Action:").expect("an Action list") + "Action:".len()..];
    actions
        .lines()
        .skip(1)
        .map(str::trim)
        .map_while(|line| line.strip_prefix("- "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_function_may_call_every_secrets_manager_action_its_state_store_calls_on_the_one_secret() {
    let template = read("template.yaml");
    let allowed = statement_actions(&template, "ReadAndWriteTheOneSecret");
    let store = read("src/aws/secrets.rs");
    // CreateSecret is the first `zoomlogs authorize`'s, never the function's: its secret exists.
    for (call, action) in [
        (".get_secret_value()", "secretsmanager:GetSecretValue"),
        (".put_secret_value()", "secretsmanager:PutSecretValue"),
        (
            ".update_secret_version_stage()",
            "secretsmanager:UpdateSecretVersionStage",
        ),
    ] {
        assert!(store.contains(call), "the store no longer calls {call}");
        assert!(
            allowed.iter().any(|a| a == action),
            "{action} is not allowed: {allowed:?}"
        );
    }
}

/// The NoEvents alarm's metric math, evaluated for one hour in which Zoom.Activity wrote
/// `activity` events and Zoom.Operation `operation`: the value compared with the threshold.
fn no_events_alarm_value(template: &str, activity: f64, operation: f64) -> f64 {
    let start = template
        .find("\n  NoEventsAlarm:")
        .expect("a NoEvents alarm");
    let block = &template[start..];
    // Up to the next resource: a line indented by exactly two spaces.
    let end = block[1..]
        .match_indices("\n  ")
        .map(|(i, _)| i + 1)
        .find(|&i| !block[i + 3..].starts_with(' '))
        .unwrap_or(block.len());
    let block = &block[..end];
    let expressions: Vec<&str> = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Expression:"))
        .map(str::trim)
        .collect();
    assert_eq!(expressions.len(), 1, "{block}");
    let (function, args) = expressions[0]
        .trim_end_matches(')')
        .split_once('(')
        .expect("FUNCTION([ids])");
    let values: Vec<f64> = args
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|id| match id.trim() {
            "activity" => activity,
            "operation" => operation,
            other => panic!("unknown id {other}"),
        })
        .collect();
    match function {
        "SUM" => values.iter().sum(),
        "MIN" => values.iter().copied().fold(f64::INFINITY, f64::min),
        "MAX" => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "AVG" => values.iter().sum::<f64>() / values.len() as f64,
        other => panic!("unknown function {other}"),
    }
}

#[test]
fn the_no_events_alarm_fires_when_one_log_type_is_silent_while_the_other_writes() {
    let template = read("template.yaml");
    let block = &template[template.find("\n  NoEventsAlarm:").unwrap()..];
    assert!(block.contains("ComparisonOperator: LessThanThreshold"));
    assert!(block.contains("Threshold: 1\n"));
    // Below the threshold of 1 is an alarm.
    assert!(no_events_alarm_value(&template, 500.0, 0.0) < 1.0);
    assert!(no_events_alarm_value(&template, 0.0, 500.0) < 1.0);
    assert!(no_events_alarm_value(&template, 0.0, 0.0) < 1.0);
    assert!(no_events_alarm_value(&template, 3.0, 1.0) >= 1.0);
}

#[test]
fn the_log_prefix_is_never_empty_and_holds_no_wildcard() {
    // The role's S3 grants are `${LogPrefix}*`: an empty prefix grants a shared bucket whole, and
    // `*` or `?` in it would widen the grant beyond the folder.
    assert_pattern(
        "LogPrefix",
        &[
            "zoom/",
            "audit/zoom/",
            "Zoom_Logs-2026/",
            "a.b/c!d/(e)/it's/",
        ],
        &[
            "",
            "/",
            "zoom",
            "/zoom/",
            "zoom//",
            "a//b/",
            "*",
            "*/",
            "zoom/*/",
            "zo?m/",
            "zoom /",
            "zoom/\n",
            "${AWS::AccountId}/",
        ],
    );
}

/// The lines of the statement `sid`, up to the next statement.
fn statement(template: &str, sid: &str) -> String {
    let start = template
        .find(&format!("- Sid: {sid}"))
        .unwrap_or_else(|| panic!("no statement {sid}"));
    let rest = &template[start..];
    let end = rest[1..]
        .find("- Sid: ")
        .map_or(rest.len(), |i| i + 1)
        .min(rest.find("\n\n").unwrap_or(rest.len()));
    rest[..end].to_owned()
}

/// Many accounts: the function's role reaches only the secrets under the stack's prefix (and, for
/// one account, only its secret), writes only under the log prefix, and the prefix can name no
/// other secrets than the accounts'.
#[test]
fn the_function_may_touch_only_the_secrets_under_the_prefix_and_the_objects_under_the_log_prefix() {
    let template = read("template.yaml");
    let secrets = statement(&template, "ReadAndWriteTheOneSecret");
    assert!(
        secrets.contains(
            "Resource: !If\n                - ManyAccounts\n                - !Sub 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}*'\n                - !Ref SecretArn"
        ),
        "the secrets statement is not confined to the prefix: {secrets}"
    );
    // No other statement of the function's policy grants a Secrets Manager action.
    let policies = &template[template.find("      Policies:\n").unwrap()..];
    let policies = &policies[..policies.find("\n\n").unwrap()];
    assert_eq!(
        policies.matches("secretsmanager:").count(),
        3 + 1,
        "only the three actions of ReadAndWriteTheOneSecret (and its resource ARN): {policies}"
    );
    assert!(!policies.contains("Resource: '*'"), "{policies}");
    let objects = statement(&template, "WriteAndReadUnderThePrefix");
    assert!(
        objects.contains("arn:${AWS::Partition}:s3:::${Bucket}/${LogPrefix}*"),
        "{objects}"
    );
    // The function reads its accounts' secrets where the statement allows them.
    assert!(
        template.contains(
            "ZOOM_SECRET_PREFIX: !If [ManyAccounts, !Ref SecretPrefix, !Ref AWS::NoValue]"
        )
    );
    assert!(
        template.contains("ZOOM_SECRET_ID: !If [ManyAccounts, !Ref AWS::NoValue, !Ref SecretArn]")
    );
    // A prefix is whole folders: no wildcard, no stem of other secrets' names.
    assert_pattern(
        "SecretPrefix",
        &["", "zoom-log-puller/", "team/zoom/"],
        &[
            "zoom",
            "zoom-log-puller",
            "*",
            "zoom/*",
            "zoom/?/",
            "/",
            "zoom//",
        ],
    );
}

/// Scheduler may only invoke the function, and only for schedules of the stack's group.
#[test]
fn the_accounts_schedules_may_only_invoke_the_function() {
    let template = read("template.yaml");
    let start = template
        .find("  SchedulerInvokeRole:\n")
        .expect("a scheduler role");
    let role = &template[start..];
    let role = &role[..role.find("\n\n").unwrap()];
    assert!(
        role.contains("Principal: { Service: scheduler.amazonaws.com }"),
        "{role}"
    );
    assert!(
        role.contains(":schedule/${AWS::StackName}-accounts/*"),
        "{role}"
    );
    assert!(role.contains("Action: lambda:InvokeFunction"), "{role}");
    assert!(
        role.contains("Resource: !GetAtt ZoomLogPullerFunction.Arn"),
        "{role}"
    );
    assert_eq!(
        role.matches("Action:").count(),
        2,
        "assume and invoke only: {role}"
    );
    assert!(template.contains("Name: !Sub '${AWS::StackName}-accounts'"));
}
