//! Many Zoom accounts behind one address, as Zoom itself serves them: a token request goes to the
//! account whose app's client id it authenticates with (HTTP Basic), an authorization to the one
//! its `client_id` names, and a report request to the account that issued its access token.
//! Each account keeps its own events, tokens, knobs, faults and stats.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::oauth::TokenForm;
use crate::state::Shared;
use crate::{oauth, reports};

type Hosts = Arc<Vec<Arc<Shared>>>;

pub(crate) fn router(hosts: Hosts) -> Router {
    Router::new()
        .route("/v2/report/{report}", get(report))
        .route("/oauth/token", post(token))
        .route("/oauth/authorize", get(authorize))
        .with_state(hosts)
}

/// The account with app `client_id`, or the first (which answers as Zoom does to an unknown app).
fn by_client_id(hosts: &Hosts, client_id: Option<&str>) -> Arc<Shared> {
    let found = client_id.and_then(|id| {
        hosts
            .iter()
            .find(|shared| shared.lock().config.client_id == id)
    });
    Arc::clone(found.unwrap_or(&hosts[0]))
}

fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    Some(decoded.split_once(':')?.0.to_owned())
}

async fn token(
    State(hosts): State<Hosts>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let shared = by_client_id(&hosts, basic_client_id(&headers).as_deref());
    oauth::token(State(shared), headers, form).await
}

async fn authorize(State(hosts): State<Hosts>, query: Query<HashMap<String, String>>) -> Response {
    let shared = by_client_id(&hosts, query.get("client_id").map(String::as_str));
    oauth::authorize(State(shared), query).await
}

async fn report(
    State(hosts): State<Hosts>,
    path: Path<String>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let issuer = bearer.and_then(|token| {
        hosts
            .iter()
            .find(|shared| shared.lock().tokens.access_valid(token))
    });
    // A token no account issued (or one expired) is refused as the first account refuses it.
    let shared = Arc::clone(issuer.unwrap_or(&hosts[0]));
    reports::report(State(shared), path, headers, query).await
}
