//! `falconry healthcheck`: GETs a daemon's `/healthz` for container health
//! checks. Every failure, a configuration problem included, is "unhealthy".

use crate::cli::HealthcheckArgs;
use crate::config;
use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub async fn run(file: Option<&Path>, args: HealthcheckArgs) -> anyhow::Result<()> {
    probe(file, args)
        .await
        .map_err(|e| anyhow::anyhow!("unhealthy: {e:#}"))
}

/// GETs the admin port's `/healthz` (or `--url`) with a timeout; Ok only on a 2xx answer.
async fn probe(file: Option<&Path>, args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = match args.url {
        Some(u) => u,
        None => {
            let config = config::load(file, &[])?;
            let addr = config
                .admin
                .addr()
                .map_err(|e| anyhow::anyhow!("admin.listen: {e}"))?
                .ok_or_else(|| anyhow::anyhow!("the admin port is off: nothing to probe"))?;
            healthz_url(addr)
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(args.timeout.max(1)))
        .build()
        .context("building the HTTP client")?;
    let answer = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("GET {url}: {status} {}", body.trim());
    }
    println!("healthy: GET {url}: {status} {}", body.trim());
    Ok(())
}

/// The `/healthz` URL of a listen address; an unspecified address is probed on loopback.
fn healthz_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("http://{host}:{}/healthz", addr.port())
}

#[cfg(test)]
mod tests {
    use super::healthz_url;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        let url = |s: &str| healthz_url(s.parse().expect("address"));
        assert_eq!(url("0.0.0.0:9090"), "http://127.0.0.1:9090/healthz");
        assert_eq!(url("[::]:9090"), "http://[::1]:9090/healthz");
        assert_eq!(url("10.1.2.3:81"), "http://10.1.2.3:81/healthz");
        assert_eq!(url("[fe80::1]:81"), "http://[fe80::1]:81/healthz");
    }
}
