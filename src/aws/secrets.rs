//! The state document in a Secrets Manager secret: the Lambda's [`StateStore`].
//!
//! `load` reads the `AWSCURRENT` version (asked for by name: some stores return a stale version
//! right after a stage move otherwise). A save that names the version it expects is a
//! compare-and-swap: `PutSecretValue` with only this tool's own staging label ([`PENDING`]), which
//! leaves `AWSCURRENT` where it is, then `UpdateSecretVersionStage` moves `AWSCURRENT` to the new
//! version and off the expected one. Secrets Manager refuses that move with
//! `InvalidParameterException` if `AWSCURRENT` is no longer on the expected version: another
//! writer got there first, the save is a conflict, and the new version stays a labelled
//! non-current version (the label moves on with the next put, so versions stay bounded: at most
//! `AWSCURRENT`, `AWSPREVIOUS` and [`PENDING`] are labelled). A save without an expected version is
//! a plain put, which becomes `AWSCURRENT`, and creates the secret if it does not exist yet (the
//! first `zoomlogs authorize`). Both give the version's `VersionId`, by which the state keeper tells
//! another writer's change from a stale read. The SDK gives each put an idempotency token, so its
//! own retries never create two versions. Errors name the operation and the secret id, never the
//! secret's value.

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageError;

use super::AwsError;
use crate::ports::{StateStore, StoreError, StoredDocument};

const CURRENT: &str = "AWSCURRENT";
/// The staging label of a version this tool put and has not yet made current.
pub const PENDING: &str = "ZOOMLOGS_PENDING";

/// One secret, by id or ARN.
#[derive(Clone, Debug)]
pub struct SecretsManagerStore {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerStore {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerStore {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl StateStore for SecretsManagerStore {
    async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
        let operation = || format!("GetSecretValue {}", self.secret_id);
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT)
            .send()
            .await
            .map_err(|e| {
                store_error(operation(), e, StoreError::not_found, |e| {
                    matches!(e, GetSecretValueError::ResourceNotFoundException(_))
                })
            })?;
        let text = output.secret_string.ok_or_else(|| {
            StoreError::new(
                operation(),
                "the secret holds binary data; it must hold the JSON state document as text",
            )
        })?;
        Ok(StoredDocument {
            text,
            version: output.version_id,
        })
    }

    async fn save_versioned(
        &self,
        document: &str,
        expected: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let mut put = self
            .client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(document);
        if expected.is_some() {
            put = put.version_stages(PENDING);
        }
        let version = match put.send().await {
            Ok(output) => output.version_id,
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    PutSecretValueError::ResourceNotFoundException(_)
                ) =>
            {
                return self.create(document).await;
            }
            Err(e) => {
                return Err(StoreError::new(
                    format!("PutSecretValue {}", self.secret_id),
                    AwsError::from(e),
                ));
            }
        };
        let Some(expected) = expected else {
            return Ok(version);
        };
        let operation = || format!("UpdateSecretVersionStage {}", self.secret_id);
        let new = version
            .ok_or_else(|| StoreError::new(operation(), "PutSecretValue returned no version id"))?;
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT)
            .move_to_version_id(&new)
            .remove_from_version_id(expected)
            .send()
            .await
            .map_err(|e| {
                // InvalidParameter: AWSCURRENT is no longer on the version this writer read or
                // wrote.
                store_error(operation(), e, StoreError::conflict, |e| {
                    matches!(
                        e,
                        UpdateSecretVersionStageError::InvalidParameterException(_)
                    )
                })
            })?;
        Ok(Some(new))
    }
}

/// A failed call as a store error: `meaning(operation)` when Secrets Manager answered with the
/// error `is` picks out, else a plain failure that keeps the service's code and message.
fn store_error<E>(
    operation: String,
    error: SdkError<E, HttpResponse>,
    meaning: fn(String) -> StoreError,
    is: impl FnOnce(&E) -> bool,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(ref service) if is(service.err()) => meaning(operation),
        error => StoreError::new(operation, AwsError::from(error)),
    }
}

impl SecretsManagerStore {
    /// The first write of a secret that does not exist yet.
    async fn create(&self, document: &str) -> Result<Option<String>, StoreError> {
        let created = self
            .client
            .create_secret()
            .name(&self.secret_id)
            .secret_string(document)
            .send()
            .await
            .map_err(|e| {
                StoreError::new(
                    format!("CreateSecret {}", self.secret_id),
                    AwsError::from(e),
                )
            })?;
        tracing::info!(secret_id = %self.secret_id, "secret created");
        Ok(created.version_id)
    }
}
