//! Where the CLI keeps the state document and writes objects, chosen from its flags and the
//! environment: a state file or a Secrets Manager secret, and a directory or an S3 bucket, in any
//! combination. [`Output`] is the chosen object sink, plus the two things only the CLI needs beyond
//! the [`ObjectSink`] port: deleting the preflight's probe and finding a log type's newest object.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::accounts::AccountName;
use crate::aws::{AwsClients, AwsError, S3Sink};
use crate::config::{Config, ConfigError};
use crate::local::DirSink;
use crate::ports::{ObjectSink, Precondition, StoreError, StoredObject};

/// Where the state document lives.
#[derive(Clone, Debug, PartialEq)]
pub enum StateLocation {
    File(PathBuf),
    Secret(String),
}

/// Where objects go.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputLocation {
    Dir(PathBuf),
    Bucket(String),
}

impl StateLocation {
    /// `--state-file`, else `--secret-id`, else `ZOOM_SECRET_ID`.
    pub fn choose(
        state_file: Option<PathBuf>,
        secret_id: Option<String>,
        config: &Config,
    ) -> Result<StateLocation, ConfigError> {
        match (state_file, secret_id.or_else(|| config.secret_id.clone())) {
            (Some(path), _) => Ok(StateLocation::File(path)),
            (None, Some(id)) => Ok(StateLocation::Secret(id)),
            (None, None) => Err(ConfigError {
                variable: "ZOOM_SECRET_ID",
                message:
                    "no state document: give --state-file or --secret-id, or set ZOOM_SECRET_ID"
                        .into(),
            }),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StateLocation::File(path) => format!("state file {}", path.display()),
            StateLocation::Secret(id) => format!("secret {id}"),
        }
    }
}

impl OutputLocation {
    /// `--out-dir`, else `--bucket`, else `LOG_BUCKET`; `None` if none is given.
    pub fn choose(
        out_dir: Option<PathBuf>,
        bucket: Option<String>,
        config: &Config,
    ) -> Option<OutputLocation> {
        match (out_dir, bucket.or_else(|| config.bucket.clone())) {
            (Some(dir), _) => Some(OutputLocation::Dir(dir)),
            (None, Some(bucket)) => Some(OutputLocation::Bucket(bucket)),
            (None, None) => None,
        }
    }

    /// Like [`OutputLocation::choose`], for a command that cannot do without objects.
    pub fn require(
        out_dir: Option<PathBuf>,
        bucket: Option<String>,
        config: &Config,
    ) -> Result<OutputLocation, ConfigError> {
        OutputLocation::choose(out_dir, bucket, config).ok_or_else(|| ConfigError {
            variable: "LOG_BUCKET",
            message: "no output: give --out-dir or --bucket, or set LOG_BUCKET".into(),
        })
    }
}

/// The AWS clients, built only when a secret or a bucket is used (building them reads the AWS
/// environment, which may reach the instance metadata service).
pub async fn aws_clients_if_needed(
    state: &StateLocation,
    output: Option<&OutputLocation>,
    config: &Config,
) -> Option<AwsClients> {
    let needed = matches!(state, StateLocation::Secret(_))
        || matches!(output, Some(OutputLocation::Bucket(_)));
    if needed {
        Some(AwsClients::from_env(config.s3_force_path_style).await)
    } else {
        None
    }
}

/// The object sink of one CLI run.
#[derive(Clone, Debug)]
pub enum Output {
    Dir {
        sink: DirSink,
        root: PathBuf,
    },
    Bucket {
        sink: S3Sink,
        client: aws_sdk_s3::Client,
        bucket: String,
    },
    /// One account's folders in a directory or a bucket (`--account`): every key goes through
    /// [`crate::keys::account_key`], as in the Lambda's runs for that account.
    Account {
        inner: Box<Output>,
        prefix: String,
        account: AccountName,
    },
}

/// An object and when it was last written.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectInfo {
    pub key: String,
    pub modified: DateTime<Utc>,
}

/// One level of the key hierarchy: the "folders" (prefixes ending in `/`) and the objects.
#[derive(Default)]
struct Level {
    folders: Vec<String>,
    objects: Vec<ObjectInfo>,
}

impl Output {
    /// The sink at `location`; `aws` must be given for a bucket.
    pub fn open(location: OutputLocation, aws: Option<&AwsClients>) -> Output {
        match location {
            OutputLocation::Dir(root) => Output::Dir {
                sink: DirSink::new(&root),
                root,
            },
            OutputLocation::Bucket(bucket) => {
                let client = aws.expect("AWS clients are built for a bucket").s3.clone();
                Output::Bucket {
                    sink: S3Sink::new(client.clone(), &bucket),
                    client,
                    bucket,
                }
            }
        }
    }

    /// The folders of `account` (keys under `prefix`) in this output.
    pub fn for_account(self, prefix: &str, account: AccountName) -> Output {
        Output::Account {
            inner: Box::new(self),
            prefix: prefix.to_owned(),
            account,
        }
    }

    /// Where an account's `key` is stored; the key itself for other outputs.
    fn physical(&self, key: &str) -> Result<String, StoreError> {
        match self {
            Output::Account {
                prefix, account, ..
            } => crate::keys::account_key(prefix, account.as_str(), key).ok_or_else(|| {
                StoreError::new(
                    key.to_owned(),
                    format!("outside account {account}'s folders"),
                )
            }),
            _ => Ok(key.to_owned()),
        }
    }

    /// Where `key` is, for a person: `s3://bucket/key` or a file path.
    pub fn describe(&self, key: &str) -> String {
        match self {
            Output::Dir { root, .. } => root.join(key).display().to_string(),
            Output::Bucket { bucket, .. } => format!("s3://{bucket}/{key}"),
            Output::Account { inner, .. } => {
                inner.describe(&self.physical(key).unwrap_or_else(|_| key.to_owned()))
            }
        }
    }

    /// Deletes `key` (`s3:DeleteObject`, which a deployed function's role does not have).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Output::Dir { root, .. } => {
                let path = root.join(key);
                tokio::fs::remove_file(&path)
                    .await
                    .map_err(|e| StoreError::new(format!("removing {}", path.display()), e))
            }
            Output::Bucket { client, bucket, .. } => {
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| {
                        StoreError::new(
                            format!("DeleteObject s3://{bucket}/{key}"),
                            AwsError::from(e),
                        )
                    })?;
                Ok(())
            }
            Output::Account { inner, .. } => Box::pin(inner.delete(&self.physical(key)?)).await,
        }
    }

    /// The most recently written object of the newest partition under `folder` (a prefix ending
    /// in `/`): descends into the greatest `year=`/`month=`/`day=`/`hour=` folder at each level,
    /// so a bucket of any size costs a handful of listings.
    pub async fn newest_object(&self, folder: &str) -> Result<Option<ObjectInfo>, StoreError> {
        if let Output::Account { inner, .. } = self {
            return Box::pin(inner.newest_object(&self.physical(folder)?)).await;
        }
        let mut prefix = folder.to_owned();
        loop {
            let level = self.list(&prefix).await?;
            match level.folders.into_iter().max() {
                Some(deeper) => prefix = deeper,
                None => {
                    return Ok(level
                        .objects
                        .into_iter()
                        .max_by(|a, b| (a.modified, &a.key).cmp(&(b.modified, &b.key))));
                }
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Level, StoreError> {
        match self {
            Output::Dir { root, .. } => list_dir(root, prefix).await,
            Output::Bucket { client, bucket, .. } => list_bucket(client, bucket, prefix).await,
            Output::Account { inner, .. } => Box::pin(inner.list(&self.physical(prefix)?)).await,
        }
    }
}

async fn list_dir(root: &Path, prefix: &str) -> Result<Level, StoreError> {
    let dir = root.join(prefix);
    let failed = |e: std::io::Error| StoreError::new(format!("listing {}", dir.display()), e);
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Level::default()),
        Err(e) => return Err(failed(e)),
    };
    let mut level = Level::default();
    while let Some(entry) = entries.next_entry().await.map_err(failed)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // `.partial/`: files being written
        }
        let metadata = entry.metadata().await.map_err(failed)?;
        if metadata.is_dir() {
            level.folders.push(format!("{prefix}{name}/"));
        } else {
            let modified = metadata.modified().map_err(failed)?;
            level.objects.push(ObjectInfo {
                key: format!("{prefix}{name}"),
                modified: modified.into(),
            });
        }
    }
    Ok(level)
}

async fn list_bucket(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Level, StoreError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut level = Level::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            StoreError::new(
                format!("ListObjectsV2 s3://{bucket}/{prefix}"),
                AwsError::from(e),
            )
        })?;
        level.folders.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        level
            .objects
            .extend(page.contents().iter().filter_map(|object| {
                let modified = object.last_modified()?;
                Some(ObjectInfo {
                    key: object.key()?.to_owned(),
                    modified: DateTime::from_timestamp(modified.secs(), modified.subsec_nanos())?,
                })
            }));
    }
    Ok(level)
}

/// An account's folders inside another account's: never built by [`Output::for_account`]'s callers.
fn nested() -> StoreError {
    StoreError::new(
        "--account",
        "an account's output cannot hold another account",
    )
}

impl ObjectSink for Output {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        precondition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        match self {
            Output::Dir { sink, .. } => sink.put(key, body, content_type, precondition).await,
            Output::Bucket { sink, .. } => sink.put(key, body, content_type, precondition).await,
            Output::Account { inner, .. } => {
                let key = self.physical(key)?;
                match &**inner {
                    Output::Dir { sink, .. } => {
                        sink.put(&key, body, content_type, precondition).await
                    }
                    Output::Bucket { sink, .. } => {
                        sink.put(&key, body, content_type, precondition).await
                    }
                    Output::Account { .. } => Err(nested()),
                }
            }
        }
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        match self {
            Output::Dir { sink, .. } => sink.get_tagged(key).await,
            Output::Bucket { sink, .. } => sink.get_tagged(key).await,
            Output::Account { inner, .. } => {
                let key = self.physical(key)?;
                match &**inner {
                    Output::Dir { sink, .. } => sink.get_tagged(&key).await,
                    Output::Bucket { sink, .. } => sink.get_tagged(&key).await,
                    Output::Account { .. } => Err(nested()),
                }
            }
        }
    }

    async fn etag(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            Output::Dir { sink, .. } => sink.etag(key).await,
            Output::Bucket { sink, .. } => sink.etag(key).await,
            Output::Account { inner, .. } => {
                let key = self.physical(key)?;
                match &**inner {
                    Output::Dir { sink, .. } => sink.etag(&key).await,
                    Output::Bucket { sink, .. } => sink.etag(&key).await,
                    Output::Account { .. } => Err(nested()),
                }
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Output::Dir { sink, .. } => sink.list(prefix).await,
            Output::Bucket { sink, .. } => sink.list(prefix).await,
            Output::Account {
                inner,
                prefix: root,
                account,
            } => {
                let physical = self.physical(prefix)?;
                let keys = match &**inner {
                    Output::Dir { sink, .. } => sink.list(&physical).await?,
                    Output::Bucket { sink, .. } => sink.list(&physical).await?,
                    Output::Account { .. } => return Err(nested()),
                };
                Ok(keys
                    .iter()
                    .filter_map(|k| crate::keys::unaccount_key(root, account.as_str(), k))
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn flags_win_over_the_environment_and_a_state_is_required() {
        let env = config(&[
            ("ZOOM_SECRET_ID", "env-secret"),
            ("LOG_BUCKET", "env-bucket"),
        ]);
        assert_eq!(
            StateLocation::choose(Some("s.json".into()), None, &env).unwrap(),
            StateLocation::File("s.json".into())
        );
        assert_eq!(
            StateLocation::choose(None, Some("flag".into()), &env).unwrap(),
            StateLocation::Secret("flag".into())
        );
        assert_eq!(
            StateLocation::choose(None, None, &env).unwrap(),
            StateLocation::Secret("env-secret".into())
        );
        assert_eq!(
            OutputLocation::choose(None, None, &env),
            Some(OutputLocation::Bucket("env-bucket".into()))
        );
        let bare = config(&[]);
        assert_eq!(
            StateLocation::choose(None, None, &bare)
                .unwrap_err()
                .variable,
            "ZOOM_SECRET_ID"
        );
        assert_eq!(
            OutputLocation::require(None, None, &bare)
                .unwrap_err()
                .variable,
            "LOG_BUCKET"
        );
    }

    #[tokio::test]
    async fn the_newest_object_is_in_the_greatest_partition() {
        let dir = tempfile::tempdir().unwrap();
        let output = Output::open(OutputLocation::Dir(dir.path().to_owned()), None);
        let folder = "zoom/Zoom.Activity/";
        assert_eq!(output.newest_object(folder).await.unwrap(), None);
        for key in [
            "year=2026/month=11/day=30/hour=23/a.json.gz",
            "year=2026/month=12/day=01/hour=09/b.json.gz",
            "year=2026/month=12/day=01/hour=10/c.json.gz",
            "year=2026/month=12/day=01/hour=08/d.json.gz",
        ] {
            output
                .put(
                    &format!("{folder}{key}"),
                    b"x".to_vec(),
                    "t",
                    Precondition::Absent,
                )
                .await
                .unwrap();
        }
        let newest = output.newest_object(folder).await.unwrap().unwrap();
        assert_eq!(
            newest.key,
            "zoom/Zoom.Activity/year=2026/month=12/day=01/hour=10/c.json.gz"
        );
        assert!(Utc::now() - newest.modified < chrono::Duration::minutes(1));
    }
}
