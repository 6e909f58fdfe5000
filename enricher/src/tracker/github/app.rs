//! GitHub App authentication: sign a short JWT (RS256, `iat` a minute in the
//! past, `exp` nine minutes ahead, `iss` = the app id or client id) and keep the
//! installation token it is exchanged for, refreshing it five minutes before
//! `expires_at` (on tokio time, so tests can advance it).
//!
//! The exchange request itself is made by the transport (it owns retries and
//! rate limits); this file only signs, caches and forgets. The private key,
//! the JWT and the token never reach a log line, an error or `Debug` output.

use super::GitHubError;
use super::wire::{self, InstallationToken};
use chrono::Utc;
use falconry_common::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Refresh an installation token this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// `iat` this far in the past, against clock drift (GitHub's advice).
const JWT_BACKDATE_SECS: i64 = 60;
/// `exp` this far ahead (GitHub allows at most ten minutes).
const JWT_LIFETIME_SECS: i64 = 9 * 60;

pub(super) struct App {
    app_id: String,
    installation_id: u64,
    key: EncodingKey,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Parses the key and signs one JWT with it, so a key that cannot sign is
    /// a settings error at start-up rather than at the first detection.
    pub fn new(app_id: &str, installation_id: u64, pem: &Secret) -> Result<App, GitHubError> {
        if app_id.trim().is_empty() {
            return Err(GitHubError::Settings("the GitHub App id is empty".into()));
        }
        let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| {
            GitHubError::PrivateKey {
                app_id: app_id.to_owned(),
                reason: key_error(&e),
            }
        })?;
        let app = App {
            app_id: app_id.trim().to_owned(),
            installation_id,
            key,
            cache: Mutex::new(None),
        };
        app.jwt()?;
        Ok(app)
    }

    /// `/app/installations/{id}/access_tokens`.
    pub fn token_path(&self) -> String {
        format!("/app/installations/{}/access_tokens", self.installation_id)
    }

    /// A fresh JWT to authenticate as the app.
    pub fn jwt(&self) -> Result<Secret, GitHubError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iat: now - JWT_BACKDATE_SECS,
            exp: now + JWT_LIFETIME_SECS,
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| GitHubError::PrivateKey {
                app_id: self.app_id.clone(),
                reason: key_error(&e),
            })
    }

    /// The installation token: the cached one while it is fresh, otherwise
    /// the one `exchange` gets for a new JWT. One exchange at a time: callers
    /// arriving meanwhile wait for it and share the result.
    pub async fn token<F, Fut>(&self, exchange: F) -> Result<Secret, GitHubError>
    where
        F: FnOnce(Secret) -> Fut,
        Fut: Future<Output = Result<(InstallationToken, String), GitHubError>>,
    {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (answer, path) = exchange(self.jwt()?).await?;
        let expires = wire::timestamp(&answer.expires_at).ok_or_else(|| GitHubError::Decode {
            method: "POST".into(),
            path: path.clone(),
            reason: "expires_at is not an RFC 3339 time".into(),
        })?;
        if answer.token.is_empty() {
            return Err(GitHubError::Decode {
                method: "POST".into(),
                path,
                reason: "empty installation token".into(),
            });
        }
        let life = (expires - Utc::now()).to_std().unwrap_or_default();
        let margin = if life > 2 * REFRESH_MARGIN {
            REFRESH_MARGIN
        } else {
            life / 2
        };
        let token = Secret::new(answer.token);
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + (life - margin),
        });
        tracing::debug!(
            installation_id = self.installation_id,
            valid_for_s = life.as_secs(),
            "GitHub App installation token refreshed"
        );
        Ok(token)
    }

    /// GitHub refused `used` (revoked, or expired early): drop it unless
    /// another caller has already replaced it.
    pub async fn forget(&self, used: &Secret) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == used) {
            *cache = None;
        }
    }
}

/// jsonwebtoken's error kinds name the problem, never the key; keep it that way.
fn key_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidKeyFormat => "not a PEM-encoded RSA private key".into(),
        ErrorKind::InvalidRsaKey(why) => format!("invalid RSA key: {why}"),
        ErrorKind::RsaFailedSigning => "signing failed".into(),
        ErrorKind::Signing(why) => format!("signing failed: {why}"),
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "the PEM text is damaged".into(),
        _ => "unusable key".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_is_refused_without_quoting_it() {
        let pem = Secret::new(
            "-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END RSA PRIVATE KEY-----\n",
        );
        let err = App::new("123", 1, &pem).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("TOPSECRET"), "{text}");
        assert!(matches!(err, GitHubError::PrivateKey { .. }));
        let err = App::new("123", 1, &Secret::new("not a pem")).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("not a pem"));
    }
}
