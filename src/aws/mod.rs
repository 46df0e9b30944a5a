//! The AWS adapters: the state document in a Secrets Manager secret ([`SecretsManagerStore`]) and
//! the objects in an S3 bucket ([`S3Sink`]).
//!
//! [`AwsClients`] builds both SDK clients once per process, from the standard AWS environment
//! (region, credentials, `AWS_ENDPOINT_URL` and its per-service forms) plus
//! `S3_FORCE_PATH_STYLE`, so the same binary talks to AWS or to any compatible endpoint. A failed
//! call becomes an [`AwsError`] that keeps the service's error code and message but never a
//! request or response body, so no secret value can reach an error message.

mod s3;
mod secrets;

pub use s3::S3Sink;
pub use secrets::SecretsManagerStore;

use aws_config::{BehaviorVersion, SdkConfig};
// Both SDK crates re-export the same smithy error types; one import serves both.
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The SDK clients of one process, built once and shared by every invocation.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    /// Loads the SDK configuration from the standard AWS environment and builds both clients.
    pub async fn from_env(s3_force_path_style: bool) -> AwsClients {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        AwsClients::new(&sdk, s3_force_path_style)
    }

    /// Builds both clients from an SDK configuration (tests pass one pointing at a local endpoint).
    pub fn new(sdk: &SdkConfig, s3_force_path_style: bool) -> AwsClients {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(s3_force_path_style)
            .build();
        AwsClients {
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}

/// Why an AWS call failed, without any request or response body.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The service answered with an error.
    #[error("the service refused it with HTTP {status}: {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The service answered with something the SDK could not read.
    #[error("the response (HTTP {status}) could not be read")]
    Unreadable { status: u16 },
    /// No answer: the request could not be built or sent, or it timed out.
    #[error("the request failed: {0}")]
    Failed(String),
}

impl<E: ProvideErrorMetadata + std::error::Error + 'static> From<SdkError<E, HttpResponse>>
    for AwsError
{
    fn from(error: SdkError<E, HttpResponse>) -> AwsError {
        match &error {
            SdkError::ServiceError(service) => AwsError::Refused {
                status: service.raw().status().as_u16(),
                code: error.code().unwrap_or("unknown error").to_owned(),
                message: error.message().unwrap_or("no message").to_owned(),
            },
            SdkError::ResponseError(response) => AwsError::Unreadable {
                status: response.raw().status().as_u16(),
            },
            // Construction, dispatch and timeout failures describe the attempt, not its payload.
            _ => AwsError::Failed(DisplayErrorContext(&error).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    fn response(status: u16, body: &'static str) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body))
    }

    #[test]
    fn a_refusal_keeps_the_code_and_message_but_not_the_body() {
        let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><Secret>s3cr3t</Secret></Error>";
        let service_error = GetObjectError::generic(
            aws_sdk_s3::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("Access Denied")
                .build(),
        );
        let error = AwsError::from(SdkError::service_error(service_error, response(403, body)));
        let text = error.to_string();
        assert!(
            text.contains("403") && text.contains("AccessDenied"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t") && !format!("{error:?}").contains("s3cr3t"));
    }

    #[test]
    fn an_unreadable_response_is_not_quoted() {
        let error: SdkError<GetObjectError, HttpResponse> =
            SdkError::response_error("bad json near s3cr3t", response(200, "s3cr3t"));
        let error = AwsError::from(error);
        assert!(matches!(error, AwsError::Unreadable { status: 200 }));
        assert!(!format!("{error} {error:?}").contains("s3cr3t"));
    }
}
