//! The page-token loop fault knob: a last page whose `next_page_token` leads back to the
//! byte-identical last page, N times or forever.

use chrono::Utc;
use zoom_sim::{LogType, PageLoop, SimConfig, Simulator};

use crate::client::{Api, Page, days_ago};

/// A simulator with 70 activity events today under this loop knob: pages of 30 make the last
/// page the third, with 10 events.
fn seeded(page_loop: PageLoop) -> Simulator {
    let sim = Simulator::start(SimConfig {
        page_loop,
        ..SimConfig::default()
    });
    let time = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let events = (0..70)
        .map(|n| format!(r#"{{"email":"u{n}@example.com","time":"{time}"}}"#))
        .collect();
    sim.add_events(LogType::Activity, events);
    sim
}

/// One page of today's report, as its raw body.
async fn body(api: &Api<'_>, next: Option<&str>) -> String {
    let today = days_ago(0);
    let response = api
        .page(LogType::Activity, (&today, &today), 30, next)
        .await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

/// Pages until the last page (the first with fewer than 30 events): the bodies seen.
async fn to_the_last_page(api: &Api<'_>) -> (Vec<String>, Page) {
    let mut bodies = Vec::new();
    let mut next = None;
    loop {
        let body = body(api, next.as_deref()).await;
        let page = Page::parse(&body, LogType::Activity);
        bodies.push(body);
        if page.events.len() < 30 {
            return (bodies, page);
        }
        next = page.next_page_token;
    }
}

#[tokio::test]
async fn repeat_last_page_serves_it_byte_identical_n_more_times_then_ends() {
    let sim = seeded(PageLoop::Repeat(3));
    let api = Api::new(&sim);
    let (bodies, last) = to_the_last_page(&api).await;
    assert_eq!((bodies.len(), last.events.len()), (3, 10));
    let token = last
        .next_page_token
        .clone()
        .expect("a token on the last page");
    assert!(!token.is_empty());
    let last_body = bodies.last().expect("a last page");
    for repeat in 1..=3 {
        assert_eq!(
            &body(&api, Some(&token)).await,
            last_body,
            "repeat {repeat}"
        );
    }
    let end = Page::parse(&body(&api, Some(&token)).await, LogType::Activity);
    assert_eq!(end.next_page_token.as_deref(), Some(""));
    assert!(end.events.is_empty(), "the query ends with no more events");

    let mut seen: Vec<String> = bodies
        .iter()
        .flat_map(|b| Page::parse(b, LogType::Activity).events)
        .collect();
    seen.sort();
    let mut stored = sim.events(LogType::Activity);
    stored.sort();
    assert_eq!(seen, stored, "the pages before the loop are untouched");

    sim.set_config(|c| c.page_loop = PageLoop::Repeat(1));
    let (_, last) = to_the_last_page(&api).await;
    let token = last.next_page_token.expect("a token");
    body(&api, Some(&token)).await;
    let end = Page::parse(&body(&api, Some(&token)).await, LogType::Activity);
    assert!(end.events.is_empty(), "a new query takes the new count");
}

#[tokio::test]
async fn loop_page_token_leads_to_itself_forever() {
    let sim = seeded(PageLoop::Forever);
    let api = Api::new(&sim);
    let (bodies, last) = to_the_last_page(&api).await;
    let token = last.next_page_token.expect("a token on the last page");
    let last_body = bodies.last().expect("a last page");
    for _ in 0..20 {
        assert_eq!(&body(&api, Some(&token)).await, last_body);
    }

    sim.set_config(|c| c.page_loop = PageLoop::Off);
    assert_eq!(
        &body(&api, Some(&token)).await,
        last_body,
        "an issued loop token keeps looping"
    );
    let (_, last) = to_the_last_page(&api).await;
    assert_eq!(
        last.next_page_token.as_deref(),
        Some(""),
        "off: the last page ends"
    );
}

#[tokio::test]
async fn an_empty_query_loops_too() {
    let sim = seeded(PageLoop::Repeat(1));
    let api = Api::new(&sim);
    let day = days_ago(5);
    let first = api.page(LogType::Activity, (&day, &day), 30, None).await;
    let first = first.text().await.expect("body");
    let page = Page::parse(&first, LogType::Activity);
    assert!(page.events.is_empty());
    let token = page.next_page_token.expect("a token");
    let again = api
        .page(LogType::Activity, (&day, &day), 30, Some(&token))
        .await;
    assert_eq!(again.text().await.expect("body"), first);
    let end = api
        .page(LogType::Activity, (&day, &day), 30, Some(&token))
        .await;
    let end = Page::parse(&end.text().await.expect("body"), LogType::Activity);
    assert_eq!(end.next_page_token.as_deref(), Some(""));
}
