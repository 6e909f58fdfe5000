//! Shutdown signalling: SIGTERM or SIGINT cancels one [`CancellationToken`]
//! that every daemon watches. Cancellation stops intake only; what each daemon
//! does with work in flight (finish and commit, or leave for redelivery) is
//! decided by the daemon, within its grace period.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM or SIGINT. A second signal exits at once.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested: stopping intake, draining work in flight");
        t.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Waits for `work` up to `grace` after `token` is cancelled; returns whether
/// the work finished in time.
pub async fn drain<F: std::future::Future<Output = ()>>(
    token: &CancellationToken,
    grace: Duration,
    work: F,
) -> bool {
    tokio::pin!(work);
    tokio::select! {
        _ = &mut work => return true,
        _ = token.cancelled() => {}
    }
    tokio::time::timeout(grace, work).await.is_ok()
}
