//! AWS SDK configuration: the standard credential chain and variables
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_PROFILE`, ...) for our own account,
//! and an explicitly configured key pair, region and endpoint for a foreign
//! account such as CrowdStrike's FDR bucket and queue.
//!
//! Only client construction lives here; no AWS call is made.

use crate::Secret;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

/// Where and as whom to reach AWS. Empty fields fall back to the standard chain.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// Endpoint override (tests, S3-compatible stores); `AWS_ENDPOINT_URL` also works.
    pub endpoint: Option<String>,
    /// A static key pair, e.g. the one CrowdStrike hands out for FDR.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
}

/// Loads an SDK configuration from `settings` and the environment.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.expose().to_owned(),
            settings
                .session_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
            None,
            "falconry-static",
        ));
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        // The SDK refuses to sign without a region; S3 itself does not care
        // for path-style stand-ins, so pick the global default.
        return conf.into_builder().region(Region::new("us-east-1")).build();
    }
    conf
}

/// Longest error text falconry logs or reports for one AWS call.
const MAX_ERROR_TEXT: usize = 512;

/// What went wrong with an AWS call, for logs and errors: the error's message
/// and its causes, never the raw HTTP response (its body, or headers a proxy
/// echoed back, signed ones included), and at most 512 characters. Use it for
/// every SDK error instead of `DisplayErrorContext`, whose text ends with the
/// whole response.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !m.is_empty() && !text.contains(&m) {
            text.push_str(": ");
            text.push_str(&m);
        }
        cause = c.source();
    }
    if text.chars().count() > MAX_ERROR_TEXT {
        text = text.chars().take(MAX_ERROR_TEXT).collect();
        text.push('…');
    }
    text
}

/// An S3 client. Path-style addressing is used whenever an endpoint override
/// is in effect (S3 stand-ins on 127.0.0.1 have no per-bucket host names).
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = conf.endpoint_url().is_some();
    let s3 = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

pub fn sqs_client(conf: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(conf)
}

/// The region of a queue URL such as `https://sqs.us-west-1.amazonaws.com/123/q`
/// (also the legacy `https://us-west-1.queue.amazonaws.com/...`).
pub fn region_from_queue_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        ["sqs", region, ..] if region.contains('-') => Some((*region).to_owned()),
        [region, "queue", ..] if region.contains('-') => Some((*region).to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose Debug holds the raw response (as the SDK's do): only
    /// the messages reach the text, and a huge one is cut.
    #[test]
    fn error_text_keeps_messages_not_responses() {
        #[derive(Debug)]
        struct Outer {
            raw_response: &'static str,
            inner: Inner,
        }
        #[derive(Debug)]
        struct Inner(String);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::fmt::Display for Inner {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for Inner {}
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.inner)
            }
        }
        let e = Outer {
            raw_response: "x-amz-security-token: SESSIONTOKEN",
            inner: Inner("connection refused".into()),
        };
        assert!(e.raw_response.contains("SESSIONTOKEN"));
        assert_eq!(error_text(&e), "dispatch failure: connection refused");
        let huge = Outer {
            raw_response: "",
            inner: Inner("<html>".repeat(200_000)),
        };
        assert!(error_text(&huge).chars().count() <= 513);
    }

    #[test]
    fn region_from_queue_urls() {
        assert_eq!(
            region_from_queue_url(
                "https://sqs.us-west-1.amazonaws.com/292230061137/cs-prod-cannon-queue"
            )
            .as_deref(),
            Some("us-west-1")
        );
        assert_eq!(
            region_from_queue_url("https://eu-central-1.queue.amazonaws.com/1/q").as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(region_from_queue_url("http://127.0.0.1:5000/123/q"), None);
        assert_eq!(region_from_queue_url("dir:///tmp/q"), None);
    }
}
