//! Many Zoom accounts served by one deployment: account names, their secrets, and their keys.
//!
//! With `ZOOM_SECRET_PREFIX` set, each invocation names its account in the event
//! (`{"account": "<name>", "time": …}`, an EventBridge Scheduler schedule's input). The run reads
//! the secret `<ZOOM_SECRET_PREFIX><name>` and writes through an [`AccountSink`], which puts every
//! key under the account's folder ([`keys::account_key`]): log objects, checkpoint markers and
//! quarantined events alike. The use case does not know accounts; it cannot write outside the
//! account's folder, because every key it names goes through the sink. The compare-and-swap
//! checkpoint marker, which lives under that folder, is the per-account lock.
//!
//! A name that is not `[a-z0-9][a-z0-9-]{0,62}` is refused before anything is read, so no name
//! reaches another account's secret; a name with no secret is [`AccountError::NoSecret`]. Without
//! `ZOOM_SECRET_PREFIX`, the single-account setup (`ZOOM_SECRET_ID`) runs as before, and an event
//! that names an account is refused rather than written into the one account's folders.

use std::fmt;

use serde_json::Value;

use crate::app::{Failure, run_once};
use crate::config::{Config, ConfigError};
use crate::keys::{account_key, unaccount_key};
use crate::ports::{ObjectSink, Precondition, StateStore, StoreError, StoredObject};
use crate::pull::{RunRequest, RunSummary};
use crate::state::StateError;

/// The longest account name.
pub const MAX_NAME_LEN: usize = 63;

/// A valid account name: 1 to 63 lowercase ASCII letters, digits and hyphens, not starting with
/// a hyphen. It is safe in a secret name, an S3 key, a schedule name and a metric dimension.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

impl AccountName {
    /// The name, if it is one.
    pub fn parse(name: &str) -> Result<AccountName, AccountError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(AccountName(name.to_owned()))
        } else {
            Err(AccountError::InvalidName {
                name: shorten(name),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AccountName {
    type Err = AccountError;
    fn from_str(name: &str) -> Result<AccountName, AccountError> {
        AccountName::parse(name)
    }
}

/// A name as an error message shows it: at most 80 characters.
fn shorten(name: &str) -> String {
    let mut shown: String = name.chars().take(80).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    shown
}

/// The account an invocation cannot run for.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "account {name:?} is not a valid account name (1 to 63 lowercase letters, digits and \
         hyphens, not starting with a hyphen); nothing was read"
    )]
    InvalidName { name: String },
    #[error("the event's \"account\" is not a string: {value}; nothing was read")]
    NotAString { value: String },
    #[error(
        "the event names no \"account\", and this function serves many accounts \
         (ZOOM_SECRET_PREFIX is set); the schedule's input must be \
         {{\"account\": \"<name>\", \"time\": \"<aws.scheduler.scheduled-time>\"}}"
    )]
    Missing,
    #[error(
        "the event names account {account}, but this function serves one account \
         (ZOOM_SECRET_ID); set ZOOM_SECRET_PREFIX instead to serve many"
    )]
    NotServed { account: AccountName },
    #[error(
        "account {account} has no secret {secret_id}: add it with `zoomlogs accounts add {account}`, \
         or remove its schedule with `zoomlogs accounts remove {account}`"
    )]
    NoSecret {
        account: AccountName,
        secret_id: String,
    },
}

impl AccountError {
    /// The Lambda `errorType`: `AccountNotFound` for a valid name without a secret, else
    /// `AccountInvalid`.
    pub fn error_type(&self) -> &'static str {
        match self {
            AccountError::NoSecret { .. } => "AccountNotFound",
            _ => "AccountInvalid",
        }
    }
}

/// The secret of `account`: `<ZOOM_SECRET_PREFIX><name>`.
pub fn secret_id(secret_prefix: &str, account: &AccountName) -> String {
    format!("{secret_prefix}{account}")
}

/// `ZOOM_SECRET_PREFIX`, checked: it may not be set beside `ZOOM_SECRET_ID` (one of them says
/// which secret a run reads), and holds only what a secret name may hold.
pub fn parse_secret_prefix(
    prefix: Option<String>,
    secret_id_is_set: bool,
) -> Result<Option<String>, ConfigError> {
    let Some(prefix) = prefix else {
        return Ok(None);
    };
    let invalid = |message: String| ConfigError {
        variable: "ZOOM_SECRET_PREFIX",
        message,
    };
    if secret_id_is_set {
        return Err(invalid(
            "is set beside ZOOM_SECRET_ID: set ZOOM_SECRET_ID for one account, or \
             ZOOM_SECRET_PREFIX for many, not both"
                .into(),
        ));
    }
    if let Some(bad) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return Err(invalid(format!(
            "{prefix:?} holds {bad:?}; a secret name holds only letters, digits and /_+=.@-"
        )));
    }
    Ok(Some(prefix))
}

/// The account an event names: `None` if it names none, an error if `account` is not a valid
/// name. Nothing is read before this answers. An EventBridge event (it has a `detail-type`) names
/// no Zoom account: its `account` is the AWS account's id.
pub fn account_of(payload: &Value) -> Result<Option<AccountName>, AccountError> {
    if payload.get("detail-type").is_some() {
        return Ok(None);
    }
    match payload.get("account") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => AccountName::parse(name).map(Some),
        Some(other) => Err(AccountError::NotAString {
            value: shorten(&other.to_string()),
        }),
    }
}

/// The tracing span of an invocation: every log line inside it carries the account's name.
pub fn span(account: &Result<Option<AccountName>, AccountError>) -> tracing::Span {
    match account {
        Ok(Some(account)) => tracing::info_span!("account", account = %account),
        _ => tracing::Span::none(),
    }
}

/// Where the state of an invocation's account lives.
pub enum Stores<S> {
    /// One account, one secret (`ZOOM_SECRET_ID`): events name no account.
    One(S),
    /// Many accounts (`ZOOM_SECRET_PREFIX`): `open` makes the store of a secret id.
    PerAccount {
        secret_prefix: String,
        open: Box<dyn Fn(String) -> S + Send + Sync>,
    },
}

impl<S: StateStore> Stores<S> {
    /// The store of each account's secret under `secret_prefix`.
    pub fn per_account(
        secret_prefix: impl Into<String>,
        open: impl Fn(String) -> S + Send + Sync + 'static,
    ) -> Stores<S> {
        Stores::PerAccount {
            secret_prefix: secret_prefix.into(),
            open: Box::new(open),
        }
    }

    /// One run for `account` (which must be named exactly when there are many): its secret, its
    /// keys, and the account in the summary.
    pub async fn run<K: ObjectSink>(
        &self,
        account: Option<AccountName>,
        config: &Config,
        http: &reqwest::Client,
        sink: &K,
        request: RunRequest,
    ) -> Result<RunSummary, Failure> {
        match (self, account) {
            // Boxed: the run's future is deep, and two of them in one match exceed the compiler's
            // layout depth in the Lambda binary.
            (Stores::One(store), None) => {
                Box::pin(run_once(config, http, store, sink, request)).await
            }
            (Stores::One(_), Some(account)) => Err(AccountError::NotServed { account }.into()),
            (Stores::PerAccount { .. }, None) => Err(AccountError::Missing.into()),
            (
                Stores::PerAccount {
                    secret_prefix,
                    open,
                },
                Some(account),
            ) => {
                let secret_id = secret_id(secret_prefix, &account);
                let sink = AccountSink::new(sink, &config.prefix, account.clone());
                let store = open(secret_id.clone());
                let mut summary = Box::pin(run_once(config, http, store, &sink, request))
                    .await
                    .map_err(|failure| no_secret(failure, &account, secret_id))?;
                summary.account = Some(account.to_string());
                Ok(summary)
            }
        }
    }
}

/// A run that found no secret at all failed for want of the account, not of storage.
pub fn no_secret(failure: Failure, account: &AccountName, secret_id: String) -> Failure {
    match failure {
        Failure::State(StateError::Store(e)) if e.not_found => AccountError::NoSecret {
            account: account.clone(),
            secret_id,
        }
        .into(),
        failure => failure,
    }
}

/// An object sink that puts every key under an account's folder: the use case names the keys of
/// the single-account layout, and this sink stores them at [`account_key`] and lists them back
/// through [`unaccount_key`]. A key outside the layout is refused, so nothing an account's run
/// writes or reads lies outside its folders.
pub struct AccountSink<'a, K> {
    inner: &'a K,
    prefix: String,
    account: AccountName,
}

impl<'a, K: ObjectSink> AccountSink<'a, K> {
    pub fn new(inner: &'a K, prefix: &str, account: AccountName) -> Self {
        AccountSink {
            inner,
            prefix: prefix.to_owned(),
            account,
        }
    }

    fn physical(&self, operation: &str, key: &str) -> Result<String, StoreError> {
        account_key(&self.prefix, self.account.as_str(), key).ok_or_else(|| {
            StoreError::new(
                format!("{operation} {key}"),
                format!(
                    "the key is outside the layout under {:?}, so it has no place in account {}'s folders",
                    self.prefix, self.account
                ),
            )
        })
    }
}

impl<K: ObjectSink> ObjectSink for AccountSink<'_, K> {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        precondition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        let key = self.physical("PutObject", key)?;
        self.inner.put(&key, body, content_type, precondition).await
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let key = self.physical("GetObject", key)?;
        self.inner.get_tagged(&key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let physical = self.physical("ListObjectsV2", prefix)?;
        let keys = self.inner.list(&physical).await?;
        Ok(keys
            .iter()
            .filter_map(|key| unaccount_key(&self.prefix, self.account.as_str(), key))
            .collect())
    }

    async fn etag(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = self.physical("HeadObject", key)?;
        self.inner.etag(&key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::DirSink;

    #[test]
    fn account_names_are_lowercase_letters_digits_and_hyphens_up_to_63() {
        for good in [
            "a",
            "0",
            "acme",
            "campus-berlin-2",
            &"a".repeat(63),
            "a-",
            "9-x",
        ] {
            assert_eq!(AccountName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-acme",
            "Acme",
            "acme/../other",
            "acme_eu",
            "acme.eu",
            "a b",
            "ac\u{e9}me",
            "acme\n",
            &"a".repeat(64),
            "*",
        ] {
            let error = AccountName::parse(bad).unwrap_err();
            assert_eq!(error.error_type(), "AccountInvalid", "{bad:?}");
        }
    }

    #[test]
    fn an_invalid_name_is_named_in_the_error_shortened() {
        let error = AccountName::parse("Acme").unwrap_err();
        assert!(error.to_string().contains("\"Acme\""), "{error}");
        let long = "x".repeat(500);
        let error = AccountName::parse(&long).unwrap_err().to_string();
        assert!(error.len() < 300, "{error}");
    }

    #[test]
    fn the_secret_of_an_account_is_the_prefix_and_its_name() {
        let acme = AccountName::parse("acme").unwrap();
        assert_eq!(secret_id("zoom-log-puller/", &acme), "zoom-log-puller/acme");
    }

    #[test]
    fn the_event_names_the_account_or_nothing() {
        let account = |v: Value| account_of(&v);
        assert_eq!(account(serde_json::json!({})).unwrap(), None);
        assert_eq!(account(serde_json::json!({"account": null})).unwrap(), None);
        assert_eq!(
            account(serde_json::json!({"account": "acme", "time": "2026-11-29T21:15:00Z"}))
                .unwrap(),
            Some(AccountName::parse("acme").unwrap())
        );
        let scheduled: Value =
            serde_json::from_slice(include_bytes!("../events/scheduled.json")).unwrap();
        assert!(scheduled["account"].is_string(), "the AWS account id");
        assert_eq!(account(scheduled).unwrap(), None);
        let input: Value =
            serde_json::from_slice(include_bytes!("../events/scheduler-account.json")).unwrap();
        assert_eq!(account(input).unwrap().unwrap().as_str(), "acme");
        for bad in [
            serde_json::json!({"account": "../acme"}),
            serde_json::json!({"account": ""}),
            serde_json::json!({"account": 7}),
        ] {
            assert_eq!(account(bad).unwrap_err().error_type(), "AccountInvalid");
        }
    }

    #[test]
    fn the_secret_prefix_may_not_be_set_beside_the_secret_id() {
        let error = parse_secret_prefix(Some("zoom-log-puller/".into()), true).unwrap_err();
        assert_eq!(error.variable, "ZOOM_SECRET_PREFIX");
        assert!(error.message.contains("ZOOM_SECRET_ID"), "{error}");
        assert_eq!(
            parse_secret_prefix(Some("zoom-log-puller/".into()), false).unwrap(),
            Some("zoom-log-puller/".into())
        );
        assert_eq!(parse_secret_prefix(None, true).unwrap(), None);
        assert!(parse_secret_prefix(Some("zoom log/".into()), false).is_err());
    }

    #[test]
    fn a_run_that_finds_no_secret_fails_naming_the_account() {
        let acme = AccountName::parse("acme").unwrap();
        let missing = Failure::State(StateError::Store(StoreError::not_found(
            "GetSecretValue zoom-log-puller/acme",
        )));
        let failure = no_secret(missing, &acme, "zoom-log-puller/acme".into());
        assert_eq!(failure.error_type(), "AccountNotFound");
        assert!(failure.to_string().contains("acme"), "{failure}");
        let other = Failure::State(StateError::Store(StoreError::new(
            "GetSecretValue x",
            "boom",
        )));
        assert_eq!(
            no_secret(other, &acme, "x".into()).error_type(),
            "StorageFailed"
        );
    }

    #[tokio::test]
    async fn the_account_sink_keeps_every_key_in_the_accounts_folders() {
        let dir = tempfile::tempdir().unwrap();
        let inner = DirSink::new(dir.path());
        let acme = AccountSink::new(&inner, "zoom/", AccountName::parse("acme").unwrap());
        let other = AccountSink::new(&inner, "zoom/", AccountName::parse("other").unwrap());
        let object = "zoom/Zoom.Activity/year=2026/month=11/day=29/hour=20/a_b_0000.json.gz";
        let marker = "zoom/_checkpoints/Zoom.Activity.json";
        for sink in [&acme, &other] {
            sink.put(object, b"x".to_vec(), "text/plain", Precondition::Absent)
                .await
                .unwrap();
            sink.put(marker, b"{}".to_vec(), "text/plain", Precondition::Absent)
                .await
                .unwrap();
        }
        let mut stored = inner.list("zoom/").await.unwrap();
        stored.sort();
        assert_eq!(
            stored,
            [
                "zoom/Zoom.Activity/account=acme/year=2026/month=11/day=29/hour=20/a_b_0000.json.gz",
                "zoom/Zoom.Activity/account=other/year=2026/month=11/day=29/hour=20/a_b_0000.json.gz",
                "zoom/_checkpoints/account=acme/Zoom.Activity.json",
                "zoom/_checkpoints/account=other/Zoom.Activity.json",
            ]
        );
        assert_eq!(
            acme.list("zoom/Zoom.Activity/year=2026/").await.unwrap(),
            [object]
        );
        assert_eq!(acme.get(marker).await.unwrap().unwrap(), b"{}");
        assert!(acme.etag(marker).await.unwrap().is_some());
        let error = acme
            .put("elsewhere/x", vec![], "text/plain", Precondition::Absent)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("acme"), "{error}");
    }
}
