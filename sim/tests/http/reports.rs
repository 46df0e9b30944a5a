//! Report paging, ordering, snapshots, page tokens, day boundaries, validation and scopes.

use std::cmp::Reverse;
use std::time::Duration;

use chrono::{DateTime, Days, TimeDelta, Utc};
use serde_json::json;
use zoom_sim::{LastPage, LogType, Order, SimConfig, Simulator, generate_events};

use crate::client::{Api, Page, date_days_ago, days_ago, json, simulator, time_of};

/// A simulator holding `count` activity events over the last three days.
fn seeded(count: usize) -> Simulator {
    let sim = simulator();
    let now = Utc::now();
    let events = generate_events(LogType::Activity, count, now - TimeDelta::days(3), now, 11);
    sim.add_events(LogType::Activity, events);
    sim
}

fn sorted(mut events: Vec<String>) -> Vec<String> {
    events.sort();
    events
}

#[tokio::test]
async fn paging_returns_every_event_exactly_once_under_each_order() {
    let sim = seeded(1000);
    let stored = sim.events(LogType::Activity);
    let api = Api::new(&sim);
    let range = (days_ago(4), days_ago(0));
    let range = (range.0.as_str(), range.1.as_str());

    let mut newest_first = stored.clone();
    newest_first.sort_by_key(|e| Reverse(time_of(e)));
    let mut oldest_first = stored.clone();
    oldest_first.sort_by_key(|e| time_of(e));
    let mut days_ascending = stored.clone();
    days_ascending.sort_by_key(|e| {
        let time = time_of(e);
        (time[..10].to_owned(), Reverse(time))
    });
    for (order, expected) in [
        (Order::NewestFirst, Some(newest_first)),
        (Order::OldestFirst, Some(oldest_first)),
        (Order::DaysAscending, Some(days_ascending)),
        (Order::Shuffled, None),
    ] {
        sim.set_config(|c| c.order = order);
        let got = api.fetch_all(LogType::Activity, range, 37).await;
        match expected {
            Some(expected) => assert_eq!(got, expected, "{order:?}"),
            None => {
                assert_eq!(sorted(got.clone()), sorted(stored.clone()));
                assert_eq!(got, api.fetch_all(LogType::Activity, range, 37).await);
            }
        }
    }
}

#[tokio::test]
async fn later_pages_come_from_the_first_page_snapshot() {
    let sim = seeded(100);
    let stored = sim.events(LogType::Activity);
    let api = Api::new(&sim);
    let range = (days_ago(4), days_ago(0));
    let range = (range.0.as_str(), range.1.as_str());

    let first = api.page(LogType::Activity, range, 30, None).await;
    let first = Page::parse(&first.text().await.expect("body"), LogType::Activity);
    let now = Utc::now();
    sim.add_events(
        LogType::Activity,
        generate_events(LogType::Activity, 50, now - TimeDelta::hours(1), now, 12),
    );
    let mut got = first.events;
    let mut next = first.next_page_token;
    while let Some(token) = next.filter(|t| !t.is_empty()) {
        let response = api.page(LogType::Activity, range, 30, Some(&token)).await;
        let page = Page::parse(&response.text().await.expect("body"), LogType::Activity);
        got.extend(page.events);
        next = page.next_page_token;
    }
    assert_eq!(sorted(got), sorted(stored));
    assert_eq!(api.fetch_all(LogType::Activity, range, 30).await.len(), 150);
}

#[tokio::test]
async fn page_shape_and_page_size_limits() {
    let sim = seeded(400);
    let api = Api::new(&sim);
    let (from, to) = (days_ago(4), days_ago(0));
    let body = api
        .get(LogType::Activity, &[("from", &from), ("to", &to)])
        .await;
    let page = Page::parse(&body.text().await.expect("body"), LogType::Activity);
    assert_eq!(page.events.len(), 30);
    assert_eq!(page.fields["page_size"].get(), "30");
    assert_eq!(page.fields["from"].get(), format!("\"{from}\""));

    let body = api.page(LogType::Activity, (&from, &to), 1000, None).await;
    let page = Page::parse(&body.text().await.expect("body"), LogType::Activity);
    assert_eq!(
        (page.events.len(), page.fields["page_size"].get()),
        (300, "300")
    );

    sim.set_config(|c| {
        c.page_size_cap = 50;
        c.echo_from_to = false;
        c.last_page = LastPage::NoToken;
    });
    let body = api.page(LogType::Activity, (&from, &to), 1000, None).await;
    let page = Page::parse(&body.text().await.expect("body"), LogType::Activity);
    assert_eq!(page.events.len(), 50);
    assert!(!page.fields.contains_key("from"));
    let body = api
        .page(LogType::Activity, (&days_ago(30), &days_ago(20)), 30, None)
        .await;
    let page = Page::parse(&body.text().await.expect("body"), LogType::Activity);
    assert!(page.events.is_empty() && page.next_page_token.is_none());
}

#[tokio::test]
async fn page_tokens_are_tied_to_their_query_and_expire() {
    let sim = seeded(100);
    let api = Api::new(&sim);
    let (from, to) = (days_ago(4), days_ago(0));
    let first = api.page(LogType::Activity, (&from, &to), 30, None).await;
    let token = Page::parse(&first.text().await.expect("body"), LogType::Activity)
        .next_page_token
        .expect("a next page");
    let expired = json!({"code": 300, "message": "The next page token is invalid or expired."});

    let second = api
        .page(LogType::Activity, (&from, &to), 30, Some(&token))
        .await;
    let second = Page::parse(&second.text().await.expect("body"), LogType::Activity);
    let again = api
        .page(LogType::Activity, (&from, &to), 30, Some(&token))
        .await;
    let again = Page::parse(&again.text().await.expect("body"), LogType::Activity);
    assert_eq!(again.events, second.events, "a page may be retried");

    let other_from = days_ago(3);
    for response in [
        api.page(LogType::Activity, (&from, &to), 31, Some(&token))
            .await,
        api.page(LogType::Activity, (&other_from, &to), 30, Some(&token))
            .await,
        api.page(LogType::Activity, (&from, &days_ago(1)), 30, Some(&token))
            .await,
        api.page(LogType::Operation, (&from, &to), 30, Some(&token))
            .await,
        api.page(LogType::Activity, (&from, &to), 30, Some("no-such-token"))
            .await,
    ] {
        assert_eq!(json(response).await, (400, expired.clone()));
    }

    sim.set_config(|c| c.page_token_ttl = Duration::from_millis(300));
    let first = api.page(LogType::Activity, (&from, &to), 30, None).await;
    let token = Page::parse(&first.text().await.expect("body"), LogType::Activity)
        .next_page_token
        .expect("a next page");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let late = api
        .page(LogType::Activity, (&from, &to), 30, Some(&token))
        .await;
    assert_eq!(json(late).await, (400, expired));
}

#[tokio::test]
async fn days_follow_the_configured_boundary_time_zone() {
    let sim = simulator();
    let day = date_days_ago(2);
    let at = |day: chrono::NaiveDate, hms: &str| format!("{day}T{hms}Z");
    let late = at(day, "23:30:00");
    let early = at(day, "05:00:00");
    let next = at(day + Days::new(1), "02:00:00");
    let events: Vec<String> = [&late, &early, &next]
        .iter()
        .map(|time| format!(r#"{{"email":"a@example.com","time":"{time}"}}"#))
        .collect();
    sim.add_events(LogType::Activity, events);
    let api = Api::new(&sim);
    let day_text = day.to_string();

    for (offset, expected) in [
        (0, vec![&late, &early]),
        (840, vec![&early]),
        (-600, vec![&next, &late]),
    ] {
        sim.set_config(|c| c.day_offset_minutes = offset);
        let got = api
            .fetch_all(LogType::Activity, (&day_text, &day_text), 30)
            .await;
        let times: Vec<String> = got.iter().map(|e| time_of(e)).collect();
        assert_eq!(
            times.iter().collect::<Vec<_>>(),
            expected,
            "offset {offset}"
        );
    }

    let previous_day = (day - Days::new(1)).to_string();
    let next_day = (day + Days::new(1)).to_string();
    sim.set_config(|c| c.order = Order::DaysAscending);
    for (offset, range, expected) in [
        (
            0,
            (day_text.as_str(), next_day.as_str()),
            [&late, &early, &next],
        ),
        (-600, (&previous_day, &day_text), [&early, &next, &late]),
    ] {
        sim.set_config(|c| c.day_offset_minutes = offset);
        let got = api.fetch_all(LogType::Activity, range, 30).await;
        let times: Vec<String> = got.iter().map(|e| time_of(e)).collect();
        assert_eq!(
            times.iter().collect::<Vec<_>>(),
            expected,
            "days ascending, offset {offset}"
        );
    }

    sim.set_config(|c| {
        c.day_offset_minutes = 0;
        c.order = Order::NewestFirst;
    });
    let inclusive = api
        .fetch_all(LogType::Activity, (&day_text, &next_day), 30)
        .await;
    sim.set_config(|c| c.to_inclusive = false);
    let exclusive = api
        .fetch_all(LogType::Activity, (&day_text, &next_day), 30)
        .await;
    assert_eq!((inclusive.len(), exclusive.len()), (3, 2));
}

#[tokio::test]
async fn bad_queries_get_zoom_errors() {
    let sim = simulator();
    let api = Api::new(&sim);
    let today = days_ago(0);
    let (status, body) = json(api.get(LogType::Activity, &[("to", &today)]).await).await;
    assert_eq!(
        (status, &body["code"], &body["errors"][0]["field"]),
        (400, &json!(300), &json!("from"))
    );
    let bad_date = api
        .get(LogType::Activity, &[("from", "2026-13-01"), ("to", &today)])
        .await;
    assert_eq!(bad_date.status(), 400);
    let too_long = json(
        api.page(LogType::Activity, (&days_ago(31), &today), 30, None)
            .await,
    )
    .await;
    assert_eq!((too_long.0, &too_long.1["code"]), (400, &json!(300)));
    assert_eq!(
        api.page(LogType::Activity, (&days_ago(30), &today), 30, None)
            .await
            .status(),
        200
    );
    let old = (Utc::now().date_naive() - chrono::Months::new(7)).to_string();
    let old_to = (Utc::now().date_naive() - chrono::Months::new(7) + Days::new(25)).to_string();
    assert_eq!(
        json(api.page(LogType::Activity, (&old, &old_to), 30, None).await).await,
        (
            400,
            json!({"code": 300, "message": "Only provide report in recent 6 months."})
        )
    );
    let zero = api.page(LogType::Activity, (&today, &today), 0, None).await;
    assert_eq!(zero.status(), 400);
}

#[tokio::test]
async fn scopes_and_permissions_gate_the_reports() {
    let sim = Simulator::start(SimConfig {
        scopes: vec!["report:read:user_activities:admin".into()],
        ..SimConfig::default()
    });
    let api = Api::new(&sim);
    let range = (days_ago(1), days_ago(0));
    let range = (range.0.as_str(), range.1.as_str());
    assert_eq!(
        api.page(LogType::Activity, range, 30, None).await.status(),
        200
    );
    assert_eq!(
        json(api.page(LogType::Operation, range, 30, None).await).await,
        (
            400,
            json!({"code": 4711, "message": "Invalid access token, does not contain scopes:[report:read:admin]."})
        )
    );
    sim.set_config(|c| c.report_permission = false);
    let (status, body) = json(api.page(LogType::Activity, range, 30, None).await).await;
    assert_eq!(
        (status, body),
        (400, json!({"code": 200, "message": "No permission."}))
    );
}

#[tokio::test]
async fn operation_logs_filter_by_category() {
    let sim = simulator();
    let now = Utc::now();
    let events = generate_events(LogType::Operation, 300, now - TimeDelta::hours(5), now, 4);
    sim.add_events(LogType::Operation, events.clone());
    let api = Api::new(&sim);
    let (from, to) = (days_ago(1), days_ago(0));
    let query = [
        ("from", from.as_str()),
        ("to", &to),
        ("page_size", "300"),
        ("category_type", "user_settings"),
    ];
    let page = api.get(LogType::Operation, &query).await;
    let page = Page::parse(&page.text().await.expect("body"), LogType::Operation);
    let expected = events
        .iter()
        .filter(|e| {
            serde_json::from_str::<serde_json::Value>(e).expect("json")["category_type"]
                == "User Settings"
        })
        .count();
    assert_eq!(page.events.len(), expected);
    assert!(expected > 0);
    let bad = [
        ("from", from.as_str()),
        ("to", &to),
        ("category_type", "nonsense"),
    ];
    assert_eq!(api.get(LogType::Operation, &bad).await.status(), 400);
}

#[test]
fn works_from_sync_code_and_shuts_down_on_drop() {
    let sim = seeded(10);
    let base = sim.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert_eq!(sim.api_url(), format!("{base}/v2"));
    assert_eq!(sim.events(LogType::Activity).len(), 10);
    let when: DateTime<Utc> = Utc::now();
    drop(sim);
    assert!(Utc::now() - when < TimeDelta::seconds(2));
    let port = base.rsplit(':').next().expect("port");
    assert!(std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err());
}

#[tokio::test]
async fn a_future_to_is_accepted_or_refused_as_configured() {
    let sim = simulator();
    let api = Api::new(&sim);
    let today = days_ago(0);
    let tomorrow = (Utc::now().date_naive() + Days::new(1)).to_string();
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(
        status(
            api.page(LogType::Activity, (&today, &tomorrow), 30, None)
                .await
        ),
        200
    );
    sim.set_config(|c| c.refuse_future_to = true);
    assert_eq!(
        json(
            api.page(LogType::Activity, (&today, &tomorrow), 30, None)
                .await
        )
        .await,
        (
            400,
            json!({"code": 300, "message": "The to date cannot be later than today."})
        )
    );
    assert_eq!(
        status(
            api.page(LogType::Activity, (&today, &today), 30, None)
                .await
        ),
        200
    );
    // Today is the day boundaries' zone's: in UTC+14 it is often tomorrow in UTC.
    sim.set_config(|c| c.day_offset_minutes = 14 * 60);
    let east_today = (Utc::now() + chrono::Duration::hours(14))
        .date_naive()
        .to_string();
    assert_eq!(
        status(
            api.page(LogType::Activity, (&today, &east_today), 30, None)
                .await
        ),
        200
    );
}
