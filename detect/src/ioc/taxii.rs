//! A TAXII 2.1 collection read as an indicator feed: `GET
//! {collection}/objects/?added_after=…&limit=…` with `Accept:
//! application/taxii+json;version=2.1`, paged by the envelope's `more` and
//! `next`, the cursor taken from `X-TAXII-Date-Added-Last`. 429 and 503 are
//! waited out (`Retry-After`), other failures retried with the API backoff;
//! 401 and 403 stop with the status (never the credentials). Only the
//! `indicator` objects are kept, and at most `max_objects` per pull: the
//! next pull goes on from the cursor.

use falconry_common::{Secret, http};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use std::time::Duration;

pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Objects asked for per page.
const PAGE_LIMIT: u32 = 1000;
/// The largest page read.
const MAX_PAGE_BYTES: usize = 64 << 20;
/// Rate-limit answers one pull waits out before giving up until the next.
const MAX_LIMITED: u32 = 8;

/// How to reach one collection.
#[derive(Clone)]
pub struct Taxii {
    /// The collection's URL (`https://host/api-root/collections/<id>/`).
    pub collection: Url,
    pub auth: Option<TaxiiAuth>,
    pub client: reqwest::Client,
    pub timeout: Duration,
}

#[derive(Clone)]
pub enum TaxiiAuth {
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

impl std::fmt::Debug for Taxii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taxii")
            .field("collection", &self.collection.as_str())
            .field("auth", &self.auth.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TaxiiError {
    #[error("TAXII {url}: {status}")]
    Status { url: String, status: u16 },
    #[error("TAXII {url}: {message}")]
    Failed { url: String, message: String },
    #[error("TAXII {url}: rate limited {MAX_LIMITED} times in a row")]
    Limited { url: String },
}

/// What one pull read.
#[derive(Debug, Default)]
pub struct Pulled {
    /// The `indicator` objects, in the order served.
    pub objects: Vec<Value>,
    /// Objects of other types seen (malware, relationships ...).
    pub other: u64,
    pub pages: u32,
    /// Where the next pull goes on from (`added_after`).
    pub cursor: Option<String>,
    /// The pull stopped at `max_objects`; more are waiting.
    pub more: bool,
}

impl Taxii {
    /// `https://…/collections/<id>/` (a trailing slash is added).
    pub fn new(collection: &str, auth: Option<TaxiiAuth>) -> Result<Taxii, String> {
        let mut url = http::http_url(collection)?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Taxii {
            collection: url,
            auth,
            client,
            timeout: Duration::from_secs(60),
        })
    }

    fn objects_url(&self) -> Result<Url, TaxiiError> {
        self.collection
            .join("objects/")
            .map_err(|e| TaxiiError::Failed {
                url: self.collection.to_string(),
                message: e.to_string(),
            })
    }

    /// Reads what was added after `cursor` (everything when `None`), up to
    /// `max_objects` indicators.
    pub async fn pull(
        &self,
        cursor: Option<&str>,
        max_objects: usize,
    ) -> Result<Pulled, TaxiiError> {
        let url = self.objects_url()?;
        let shown = url.to_string();
        let mut out = Pulled {
            cursor: cursor.map(str::to_owned),
            ..Pulled::default()
        };
        let mut next: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = vec![("limit", PAGE_LIMIT.to_string())];
            if let Some(c) = cursor {
                query.push(("added_after", c.to_owned()));
            }
            if let Some(n) = &next {
                query.push(("next", n.clone()));
            }
            let (headers, body) = self.get(&url, &query).await?;
            out.pages += 1;
            let page: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).map_err(|e| TaxiiError::Failed {
                    url: shown.clone(),
                    message: format!("not a TAXII envelope: {e}"),
                })?
            };
            if let Some(objects) = page.get("objects").and_then(Value::as_array) {
                for o in objects {
                    if o.get("type").and_then(Value::as_str) == Some("indicator") {
                        out.objects.push(o.clone());
                    } else {
                        out.other += 1;
                    }
                }
            }
            if let Some(last) = headers
                .get("x-taxii-date-added-last")
                .and_then(|v| v.to_str().ok())
            {
                out.cursor = Some(last.to_owned());
            }
            let more = page.get("more").and_then(Value::as_bool) == Some(true);
            next = page.get("next").and_then(Value::as_str).map(str::to_owned);
            if !more {
                return Ok(out);
            }
            if out.objects.len() >= max_objects {
                out.more = true;
                return Ok(out);
            }
            if next.is_none() && out.cursor.as_deref() == cursor {
                // `more` without a way on: stop rather than loop.
                return Ok(out);
            }
        }
    }

    async fn get(
        &self,
        url: &Url,
        query: &[(&str, String)],
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), TaxiiError> {
        let shown = url.to_string();
        let mut backoff = http::backoff::api_call();
        let mut limited = 0;
        loop {
            let mut with_query = url.clone();
            with_query
                .query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
            let mut req = self
                .client
                .get(with_query)
                .header(ACCEPT, MEDIA_TYPE)
                .timeout(self.timeout);
            match &self.auth {
                Some(TaxiiAuth::Basic { user, password }) => {
                    req = req.basic_auth(user, Some(password.expose()));
                }
                Some(TaxiiAuth::Bearer(token)) => {
                    req = req.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
                }
                None => {}
            }
            let failed = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    if status.is_success() {
                        if resp
                            .content_length()
                            .is_some_and(|n| n > MAX_PAGE_BYTES as u64)
                        {
                            return Err(TaxiiError::Failed {
                                url: shown,
                                message: format!("a page over {MAX_PAGE_BYTES} bytes"),
                            });
                        }
                        let body =
                            read_capped(resp)
                                .await
                                .map_err(|message| TaxiiError::Failed {
                                    url: shown.clone(),
                                    message,
                                })?;
                        return Ok((headers, body));
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE
                    {
                        limited += 1;
                        if limited > MAX_LIMITED {
                            return Err(TaxiiError::Limited { url: shown });
                        }
                        let wait = http::retry_after(&headers)
                            .or_else(|| {
                                http::ratelimit_reset_in(&headers, std::time::SystemTime::now())
                            })
                            .unwrap_or(Duration::from_secs(1))
                            .min(Duration::from_secs(300));
                        tracing::info!(url = %shown, wait_ms = wait.as_millis() as u64, "TAXII server asks to wait");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if status.is_server_error() {
                        format!("{status}")
                    } else {
                        return Err(TaxiiError::Status {
                            url: shown,
                            status: status.as_u16(),
                        });
                    }
                }
                Err(e) => e.to_string(),
            };
            match backoff.next() {
                Some(d) => {
                    tracing::warn!(url = %shown, error = %failed, "TAXII request failed; retrying");
                    tokio::time::sleep(d).await;
                }
                None => {
                    return Err(TaxiiError::Failed {
                        url: shown,
                        message: failed,
                    });
                }
            }
        }
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            return Err(format!("a page over {MAX_PAGE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
