//! The `zoom-sim` binary with the Zoom-variant flags: `--to-exclusive`, `--repeat-last-page N` and
//! `--drift-serialization` reach its report endpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::{Days, Utc};
use serde_json::Value;
use zoom_sim::LogType;

use crate::client::Page;

/// The running binary; killed when dropped.
struct Binary {
    child: Child,
    base_url: String,
    refresh_token: String,
}

impl Binary {
    fn start(flags: &[&str]) -> Binary {
        let token_file = std::env::temp_dir().join(format!(
            "zoom-sim-binary-test-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_zoom-sim"))
            .args(["--activity-events", "200", "--operation-events", "0"])
            .args(["--minutes-back", "60", "--refresh-token-file"])
            .arg(&token_file)
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("zoom-sim starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("a line");
        let base_url = line
            .trim()
            .strip_prefix("zoom-sim listening on ")
            .expect(&line)
            .to_owned();
        let refresh_token = std::fs::read_to_string(&token_file).expect("token file");
        let _ = std::fs::remove_file(&token_file);
        Binary {
            child,
            base_url,
            refresh_token,
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_variant_flags_reach_the_report() {
    let sim = Binary::start(&[
        "--to-exclusive",
        "--repeat-last-page",
        "1",
        "--drift-serialization",
    ]);
    let http = reqwest::Client::new();
    let grant = http
        .post(format!("{}/oauth/token", sim.base_url))
        .basic_auth("sim-client-id", Some("sim-client-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", sim.refresh_token.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    let grant: Value = grant.json().await.expect("token JSON");
    let access = grant["access_token"].as_str().expect("access token");
    let page = |from: String, to: String, next: Option<String>| {
        let mut query = vec![("from", from), ("to", to), ("page_size", "300".into())];
        query.extend(next.map(|token| ("next_page_token", token)));
        let request = http
            .get(format!("{}/v2/report/activities", sim.base_url))
            .bearer_auth(access)
            .query(&query);
        async move {
            let response = request.send().await.expect("report request");
            assert_eq!(response.status(), 200);
            response.text().await.expect("body")
        }
    };
    let today = Utc::now().date_naive();
    let (yesterday, tomorrow) = (today - Days::new(1), today + Days::new(1));

    let same_day = page(today.to_string(), today.to_string(), None).await;
    let same_day = Page::parse(&same_day, LogType::Activity);
    assert!(
        same_day.events.is_empty(),
        "exclusive to: from == to lists nothing"
    );

    let range = || (yesterday.to_string(), tomorrow.to_string());
    let (from, to) = range();
    let first = page(from, to, None).await;
    let last = Page::parse(&first, LogType::Activity);
    assert_eq!(last.events.len(), 200, "the last 60 minutes, on one page");
    assert!(
        last.events
            .iter()
            .all(|e| e.ends_with(r#","drift_field":true}"#)),
        "drifted"
    );
    let token = last.next_page_token.clone().filter(|t| !t.is_empty());
    let (from, to) = range();
    assert_eq!(page(from, to, token.clone()).await, first, "repeated once");
    let (from, to) = range();
    let end = Page::parse(&page(from, to, token).await, LogType::Activity);
    assert_eq!(end.next_page_token.as_deref(), Some(""));
    assert!(end.events.is_empty());
}
