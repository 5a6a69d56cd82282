//! AWS APIs called without their SDK crates: EC2 and KMS are a handful of calls each,
//! and `aws-sdk-ec2` alone costs five minutes and 8 GB to compile. A request is signed
//! with SigV4 (`aws-sigv4`) using the standard credential chain of `aws-config`, and sent
//! through the same connector the SDK uses, so TLS and timeouts are the SDK's.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use aws_smithy_http_client::{
    tls::{rustls_provider::CryptoMode, Provider},
    Connector,
};
use aws_smithy_runtime_api::client::{
    http::{HttpConnector, HttpConnectorSettings},
    orchestrator::HttpRequest,
};
use aws_smithy_types::{body::SdkBody, byte_stream::ByteStream};

use crate::adapters::{
    retry::{self, ATTEMPTS},
    site::credentials,
};

/// Credentials that expire sooner than this are fetched again before a call: a call
/// signed with them could still be in flight (or retried) when they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// A request to one service in one region.
pub struct Call<'a> {
    pub service: &'static str,
    pub region: &'a str,
    /// What the call is, for messages (`EC2 CopyImage in us-east-1`).
    pub what: String,
    pub content_type: &'static str,
    /// `X-Amz-Target` of JSON protocols such as KMS.
    pub target: Option<String>,
    pub body: Vec<u8>,
}

/// A call of a Query-protocol API (EC2, IAM): form parameters in, XML out.
pub struct Query<'a> {
    pub service: &'static str,
    pub region: &'a str,
    /// The API version the parameters follow.
    pub version: &'static str,
    pub action: &'a str,
    pub params: &'a [(String, String)],
    /// What the call is, for messages (`EC2 CopyImage in us-east-1`).
    pub what: String,
}

/// What a service answered.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct SignedClient {
    sdk: SdkConfig,
    connector: Connector,
    /// The chain's credentials, kept until shortly before they expire: asking the chain
    /// for every call meant an instance-metadata or SSO round trip each, many times a
    /// second while a promotion polls.
    cached: tokio::sync::Mutex<Option<aws_credential_types::Credentials>>,
}

/// A service's refusal of a call: its HTTP status and error code (`InvalidAMIID.NotFound`,
/// `AccessDenied`, ...), for callers that act on the code.
#[derive(Debug)]
pub struct Refused {
    pub what: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} was refused (HTTP {}): {}: {}", self.what, self.status, self.code, self.message)
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// Whether the error is a refusal because the service does not (yet) know an ID.
    pub fn is_not_found(error: &anyhow::Error) -> bool {
        error.downcast_ref::<Refused>().is_some_and(|refused| refused.code.ends_with(".NotFound"))
    }
}

impl SignedClient {
    pub fn new(sdk: &SdkConfig) -> SignedClient {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut builder = Connector::builder().connector_settings(settings);
        if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
            builder = builder.sleep_impl(sleep);
        }
        let connector = builder.tls_provider(Provider::Rustls(CryptoMode::AwsLc)).build();
        SignedClient { sdk: sdk.clone(), connector, cached: tokio::sync::Mutex::new(None) }
    }

    /// The cached credentials, or the chain's when there are none or they expire soon.
    async fn credentials(&self) -> Result<aws_credential_types::Credentials> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &aws_credential_types::Credentials| {
            c.expiry().is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        };
        match cached.as_ref().filter(|credentials| fresh(credentials)) {
            Some(credentials) => Ok(credentials.clone()),
            None => Ok(cached.insert(credentials(&self.sdk).await?).clone()),
        }
    }

    /// `AWS_ENDPOINT_URL` when set (the emulator), else the service's regional endpoint.
    pub fn endpoint(&self, service: &str, region: &str) -> String {
        match self.sdk.endpoint_url() {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("https://{service}.{region}.amazonaws.com/"),
        }
    }

    /// Sends a call, retrying what is transient (`retry`'s policy). Any answer that is not
    /// transient is returned, errors included, for the protocol to read. Missing or
    /// refused credentials are an error at once, never retried.
    pub async fn send(&self, call: &Call<'_>) -> Result<Answer> {
        for attempt in 1..=ATTEMPTS {
            let credentials = self.credentials().await?;
            let outcome = self.send_once(call, credentials).await;
            let why = match &outcome {
                Ok(answer) if !is_transient(answer) => return outcome,
                Ok(answer) => format!("HTTP {}", answer.status),
                Err(error) => format!("{error:#}"),
            };
            if attempt == ATTEMPTS {
                return outcome.and_then(|answer| {
                    bail!("{} failed {ATTEMPTS} times; the last answer was HTTP {}", call.what, answer.status)
                });
            }
            eprintln!("  retrying {} after {why} (attempt {} of {ATTEMPTS})", call.what, attempt + 1);
            tokio::time::sleep(retry::pause(attempt)).await;
        }
        unreachable!("the last attempt returns")
    }

    async fn send_once(&self, call: &Call<'_>, credentials: aws_credential_types::Credentials) -> Result<Answer> {
        let request = self.signed_request(call, credentials)?;
        let response = self.connector.call(request).await.map_err(|error| anyhow!("{error:?}"))?;
        let status = response.status().as_u16();
        let body = ByteStream::new(response.into_body()).collect().await.context("the answer's body broke off")?;
        Ok(Answer { status, body: body.into_bytes().to_vec() })
    }

    fn signed_request(&self, call: &Call<'_>, credentials: aws_credential_types::Credentials) -> Result<HttpRequest> {
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(call.region)
            .name(call.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("cannot make SigV4 signing parameters")?
            .into();
        let uri = self.endpoint(call.service, call.region);
        let mut headers = vec![("content-type", call.content_type.to_owned())];
        if let Some(target) = &call.target {
            headers.push(("x-amz-target", target.clone()));
        }
        let signable = SignableRequest::new(
            "POST",
            uri.as_str(),
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(&call.body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder().method("POST").uri(&uri);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let mut request = request.body(SdkBody::from(call.body.clone()))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(HttpRequest::try_from(request)?)
    }
}

impl SignedClient {
    /// Calls a Query-protocol action and returns the answer's XML, or an error with the
    /// service's code and message.
    pub async fn query(&self, query: &Query<'_>) -> Result<String> {
        let pairs = [("Action", query.action), ("Version", query.version)].into_iter();
        let pairs = pairs.chain(query.params.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        let form: Vec<String> =
            pairs.map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value))).collect();
        let call = Call {
            service: query.service,
            region: query.region,
            what: query.what.clone(),
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            target: None,
            body: form.join("&").into_bytes(),
        };
        let answer = self.send(&call).await?;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        if answer.status != 200 {
            let document = roxmltree::Document::parse(&text).ok();
            let field = |name: &str| document.as_ref().and_then(|d| first_text(d.root(), name)).unwrap_or_default();
            let (code, message) = (field("Code"), field("Message"));
            return Err(Refused { what: call.what, status: answer.status, code, message }.into());
        }
        Ok(text)
    }
}

/// Form encoding with only the RFC 3986 unreserved characters left as they are (space as
/// `+`), as the AWS SDKs encode: the emulator re-encodes the form that way to check the
/// signature, and `*` left bare (as `form_urlencoded` leaves it) would not match.
fn form_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(byte as char),
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The text of the first element of that name under a node, anywhere below it.
pub fn first_text(node: roxmltree::Node, name: &str) -> Option<String> {
    node.descendants().find(|n| n.is_element() && n.tag_name().name() == name).and_then(|n| n.text()).map(str::to_owned)
}

/// Throttling and server-side failures are worth another try; a refusal is not.
fn is_transient(answer: &Answer) -> bool {
    let throttled = || {
        let body = String::from_utf8_lossy(&answer.body);
        ["Throttl", "RequestLimitExceeded", "SlowDown", "RequestThrottled"].iter().any(|code| body.contains(code))
    };
    matches!(answer.status, 429 | 500 | 502 | 503 | 504) || (answer.status == 400 && throttled())
}
