//! OAuth state: the single live refresh token (rotated on use, replaced by re-authorization),
//! live access tokens with their expiry, and short-lived single-use authorization codes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::RngExt;
use rand::distr::Alphanumeric;

/// How long an authorization code may be exchanged.
const CODE_TTL: Duration = Duration::from_secs(5 * 60);

/// A random opaque token: 40 alphanumeric characters.
pub(crate) fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

struct Code {
    redirect_uri: String,
    issued: Instant,
}

#[derive(Default)]
pub(crate) struct Tokens {
    refresh: Option<String>,
    access: HashMap<String, Instant>,
    codes: HashMap<String, Code>,
}

impl Tokens {
    /// A person authorizes the app: a new refresh token replaces (revokes) the earlier one.
    pub(crate) fn authorize(&mut self) -> String {
        let token = random_token();
        self.refresh = Some(token.clone());
        token
    }

    pub(crate) fn current_refresh(&self) -> Option<&str> {
        self.refresh.as_deref()
    }

    /// Rotates the refresh token if `presented` is the current one, returning its successor.
    pub(crate) fn rotate(&mut self, presented: &str) -> Option<String> {
        (self.refresh.as_deref() == Some(presented)).then(|| self.authorize())
    }

    pub(crate) fn issue_access(&mut self, ttl: Duration) -> String {
        let now = Instant::now();
        self.access.retain(|_, expires| *expires > now);
        let token = random_token();
        self.access.insert(token.clone(), now + ttl);
        token
    }

    pub(crate) fn access_valid(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    pub(crate) fn issue_code(&mut self, redirect_uri: &str) -> String {
        self.codes
            .retain(|_, code| code.issued.elapsed() < CODE_TTL);
        let code = random_token();
        let entry = Code {
            redirect_uri: redirect_uri.to_owned(),
            issued: Instant::now(),
        };
        self.codes.insert(code.clone(), entry);
        code
    }

    /// Consumes the code; true if it was live and issued for this redirect URI.
    pub(crate) fn redeem_code(&mut self, code: &str, redirect_uri: &str) -> bool {
        self.codes
            .remove(code)
            .is_some_and(|c| c.issued.elapsed() < CODE_TTL && c.redirect_uri == redirect_uri)
    }

    pub(crate) fn revoke_all(&mut self) {
        *self = Tokens::default();
    }
}
