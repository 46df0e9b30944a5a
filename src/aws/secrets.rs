//! The state document in a Secrets Manager secret: the Lambda's [`StateStore`].
//!
//! `load` reads the `AWSCURRENT` version (asked for by name: some stores return a stale version
//! right after a stage move otherwise); `save` puts a new version, which becomes `AWSCURRENT`, and
//! creates the secret if it does not exist yet (the first `zoomlogs authorize`). Both give the
//! version's `VersionId`, by which the state keeper tells another writer's change from a stale read.
//! The SDK gives each put an idempotency token, so its own retries never create two versions.
//! Errors name the operation and the secret id, never the secret's value.

use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;

use super::AwsError;
use crate::ports::{StateStore, StoreError, StoredDocument};

const CURRENT: &str = "AWSCURRENT";

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
            .map_err(|e| match e {
                SdkError::ServiceError(ref service)
                    if matches!(
                        service.err(),
                        GetSecretValueError::ResourceNotFoundException(_)
                    ) =>
                {
                    StoreError::not_found(operation())
                }
                e => StoreError::new(operation(), AwsError::from(e)),
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

    async fn save_versioned(&self, document: &str) -> Result<Option<String>, StoreError> {
        let put = self
            .client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(document)
            .send()
            .await;
        match put {
            Ok(output) => Ok(output.version_id),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    PutSecretValueError::ResourceNotFoundException(_)
                ) =>
            {
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
            Err(e) => Err(StoreError::new(
                format!("PutSecretValue {}", self.secret_id),
                AwsError::from(e),
            )),
        }
    }
}
