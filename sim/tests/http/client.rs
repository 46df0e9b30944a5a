//! A small report and OAuth client for the tests, and helpers to read Zoom's replies.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use serde_json::Value;
use serde_json::value::RawValue;
use zoom_sim::{LogType, SimConfig, Simulator};

/// A report client holding a valid access token.
pub struct Api<'a> {
    pub sim: &'a Simulator,
    pub http: reqwest::Client,
    pub token: String,
}

impl<'a> Api<'a> {
    pub fn new(sim: &'a Simulator) -> Api<'a> {
        Api {
            sim,
            http: reqwest::Client::new(),
            token: sim.issue_access_token(Duration::from_secs(3600)),
        }
    }

    /// `GET {api}/report/{log_type}` with these query parameters.
    pub async fn get(&self, log_type: LogType, query: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}/report/{}", self.sim.api_url(), log_type.path());
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .expect("request sent")
    }

    /// One page of [from, to] with this page size, after `next` if given.
    pub async fn page(
        &self,
        log_type: LogType,
        (from, to): (&str, &str),
        page_size: usize,
        next: Option<&str>,
    ) -> reqwest::Response {
        let page_size = page_size.to_string();
        let mut query = vec![("from", from), ("to", to), ("page_size", &page_size)];
        query.extend(next.map(|token| ("next_page_token", token)));
        self.get(log_type, &query).await
    }

    /// Every event of [from, to], page by page, as raw text.
    pub async fn fetch_all(
        &self,
        log_type: LogType,
        range: (&str, &str),
        page_size: usize,
    ) -> Vec<String> {
        let mut events = Vec::new();
        let mut next = None;
        loop {
            let response = self.page(log_type, range, page_size, next.as_deref()).await;
            assert_eq!(response.status(), 200);
            let page = Page::parse(&response.text().await.expect("body"), log_type);
            events.extend(page.events);
            next = page.next_page_token.filter(|t| !t.is_empty());
            if next.is_none() {
                return events;
            }
        }
    }
}

/// A report page with its events as raw text.
pub struct Page {
    pub next_page_token: Option<String>,
    pub events: Vec<String>,
    pub fields: HashMap<String, Box<RawValue>>,
}

impl Page {
    pub fn parse(body: &str, log_type: LogType) -> Page {
        let fields: HashMap<String, Box<RawValue>> = serde_json::from_str(body).expect(body);
        let array = fields.get(log_type.array_key()).expect("event array");
        let events: Vec<Box<RawValue>> = serde_json::from_str(array.get()).expect("array");
        let next_page_token = fields
            .get("next_page_token")
            .map(|t| serde_json::from_str(t.get()).expect("string token"));
        Page {
            next_page_token,
            events: events.iter().map(|e| e.get().to_owned()).collect(),
            fields,
        }
    }
}

/// A JSON reply's status and body.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (status, serde_json::from_str(&body).expect(&body))
}

/// The UTC date `n` days ago, as `yyyy-mm-dd`.
pub fn days_ago(n: u64) -> String {
    date_days_ago(n).to_string()
}

pub fn date_days_ago(n: u64) -> NaiveDate {
    Utc::now().date_naive() - Days::new(n)
}

/// A simulator with default knobs.
pub fn simulator() -> Simulator {
    Simulator::start(SimConfig::default())
}

/// The `time` of a raw event.
pub fn time_of(raw: &str) -> String {
    let value: Value = serde_json::from_str(raw).expect(raw);
    value["time"].as_str().expect("time").to_owned()
}
