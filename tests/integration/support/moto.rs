//! Local stand-ins for S3 and Secrets Manager: one moto server per test, on its own port, and a
//! fault-injecting proxy in front of it.
//!
//! [`Moto`] starts moto's server through `scripts/moto_server.py` (which fixes moto 5.2's
//! `UpdateSecretVersionStage`, see there) with the project's venv Python (or `MOTO_PYTHON`), hands out SDK
//! clients pointed at it, and reads back what a run left: the secret's current version and every
//! object under a prefix, decompressed. [`FailingProxy`] forwards each request to moto unless a
//! rule answers it with an injected error instead, one request per connection so every request
//! is seen. Dropping either stops it.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zoom_log_puller::aws::AwsClients;

use super::ports::{ReservedPort, start_listening};

/// A port nobody listens on right now (for a server the test starts itself, see
/// [`super::ports`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// A tool from the project's venv, or from the environment variable that overrides it.
pub fn venv_tool(override_var: &str, relative: impl FnOnce(PathBuf) -> Option<PathBuf>) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var) {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv");
    match relative(venv).filter(|p| p.exists()) {
        Some(path) => path,
        None => panic!(
            "the Python test tools are missing: run `make venv` (or set {override_var} to the tool)"
        ),
    }
}

/// A moto server on 127.0.0.1, serving S3 and Secrets Manager.
pub struct Moto {
    child: Child,
    port: u16,
    _reserved: [ReservedPort; 1],
}

impl Moto {
    pub fn start() -> Moto {
        let program = venv_tool("MOTO_PYTHON", |venv| Some(venv.join("bin/python")));
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/moto_server.py");
        let (child, reserved) =
            start_listening("moto_server", Duration::from_secs(60), |[port]| {
                Command::new(&program)
                    .arg(&launcher)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
            });
        Moto {
            child,
            port: reserved[0].port(),
            _reserved: reserved,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The SDK configuration of a client of this server (dummy credentials, us-east-1).
    pub fn sdk_config(endpoint: &str) -> SdkConfig {
        SdkConfig::builder()
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )))
            .behavior_version(BehaviorVersion::latest())
            .build()
    }

    /// Clients of this server, S3 with path-style addressing.
    pub fn clients(&self) -> AwsClients {
        AwsClients::new(&Moto::sdk_config(&self.endpoint()), true)
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.clients()
            .s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("CreateBucket");
    }

    pub async fn create_secret(&self, name: &str, value: &str) {
        self.clients()
            .secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("CreateSecret");
    }

    /// The secret's `AWSCURRENT` value.
    pub async fn secret(&self, name: &str) -> String {
        self.clients()
            .secrets
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .expect("GetSecretValue")
            .secret_string
            .expect("a string secret")
    }

    /// How many versions the secret has: one more for every write.
    pub async fn secret_versions(&self, name: &str) -> usize {
        self.clients()
            .secrets
            .list_secret_version_ids()
            .secret_id(name)
            .include_deprecated(true)
            .send()
            .await
            .expect("ListSecretVersionIds")
            .versions
            .unwrap_or_default()
            .len()
    }

    /// How many versions of the secret carry a staging label: the ones AWS lists with
    /// `IncludeDeprecated=false` (moto 5.2 ignores that flag and lists unlabelled versions too).
    pub async fn labelled_secret_versions(&self, name: &str) -> usize {
        self.clients()
            .secrets
            .list_secret_version_ids()
            .secret_id(name)
            .include_deprecated(false)
            .send()
            .await
            .expect("ListSecretVersionIds")
            .versions
            .unwrap_or_default()
            .iter()
            .filter(|v| v.version_stages.as_ref().is_some_and(|s| !s.is_empty()))
            .count()
    }

    /// The version id that carries `AWSCURRENT`.
    pub async fn current_version(&self, name: &str) -> String {
        self.clients()
            .secrets
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .expect("GetSecretValue")
            .version_id
            .expect("a version id")
    }

    /// Every object under `prefix`, by key, in key order.
    /// Turns on versioning, so that every PUT, even to an existing key, leaves a version.
    pub async fn enable_versioning(&self, bucket: &str) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.clients()
            .s3
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("PutBucketVersioning");
    }

    /// Every version of every object under `prefix`: one per PUT, what a consumer of every
    /// object-created notification ingests.
    pub async fn object_versions(&self, bucket: &str, prefix: &str) -> Vec<StoredObject> {
        let s3 = self.clients().s3;
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = s3
                .list_object_versions()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .expect("ListObjectVersions");
            for listed in page.versions() {
                let key = listed.key().expect("a listed key").to_owned();
                let got = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .set_version_id(listed.version_id().map(str::to_owned))
                    .send()
                    .await
                    .expect("GetObject of a version");
                let content_type = got.content_type.clone();
                let body = got.body.collect().await.expect("an object body");
                versions.push(StoredObject {
                    key,
                    content_type,
                    body: body.into_bytes().to_vec(),
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        versions
    }

    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<StoredObject> {
        let s3 = self.clients().s3;
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            for listed in page.expect("ListObjectsV2").contents.unwrap_or_default() {
                let key = listed.key.expect("a listed key");
                let got = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("GetObject");
                let content_type = got.content_type.clone();
                let body = got.body.collect().await.expect("an object body");
                objects.push(StoredObject {
                    key,
                    content_type,
                    body: body.into_bytes().to_vec(),
                });
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One object as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObject {
    pub key: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl StoredObject {
    /// The gunzipped body's lines; panics unless it is gzip of newline-terminated lines.
    pub fn lines(&self) -> Vec<String> {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&self.body[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{} is not gzipped UTF-8: {e}", self.key));
        assert!(
            text.ends_with('\n'),
            "{} does not end with a newline",
            self.key
        );
        text.lines().map(str::to_owned).collect()
    }
}

/// What a proxy rule sees of a request.
pub struct RequestHead {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An injected reply.
pub struct Injected {
    pub status: u16,
    pub content_type: &'static str,
    pub body: &'static str,
}

type Rule = dyn Fn(&RequestHead) -> Option<Injected> + Send + Sync;

/// A proxy in front of moto that answers the requests a rule picks with an injected error.
pub struct FailingProxy {
    port: u16,
    injected: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FailingProxy {
    /// Starts on a free port, on the current tokio runtime.
    pub async fn start(
        upstream_port: u16,
        rule: impl Fn(&RequestHead) -> Option<Injected> + Send + Sync + 'static,
    ) -> FailingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy binds");
        let port = listener.local_addr().expect("the proxy's address").port();
        let injected = Arc::new(AtomicUsize::new(0));
        let rule: Arc<Rule> = Arc::new(rule);
        let counter = Arc::clone(&injected);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (rule, counter) = (Arc::clone(&rule), Arc::clone(&counter));
                tokio::spawn(async move {
                    // A connection that fails midway only fails its own request.
                    let _ = serve(client, upstream_port, &*rule, &counter).await;
                });
            }
        });
        FailingProxy {
            port,
            injected,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests got an injected reply.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

impl Drop for FailingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one request on `client`: the injected reply, or moto's with the connection closed after.
async fn serve(
    mut client: tokio::net::TcpStream,
    upstream_port: u16,
    rule: &Rule,
    injected: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = parse_head(&buffer[..head_end]);
    if let Some(reply) = rule(&head) {
        injected.fetch_add(1, Ordering::SeqCst);
        // Read the whole body first, so the client sees the reply rather than a reset.
        let length: usize = head
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if head
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            let n = client.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let response = format!(
            "HTTP/1.1 {} Injected\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            reply.status,
            reply.content_type,
            reply.body.len(),
            reply.body
        );
        client.write_all(response.as_bytes()).await?;
        return client.shutdown().await;
    }
    let mut upstream = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    upstream
        .write_all(&with_connection_close(&buffer[..head_end]))
        .await?;
    upstream.write_all(&buffer[head_end..]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> RequestHead {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RequestHead {
        method,
        path,
        headers,
    }
}

/// The request head with `Connection: close`, so the next request comes on a new connection.
fn with_connection_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    out.into_bytes()
}
