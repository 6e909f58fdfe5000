//! Showing a replay's or a backtest's progress: a progress bar on a terminal, a log line every
//! ten seconds otherwise (containers, CI).

use falconry_forwarder::replay::Progress;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::sync::watch;

/// Renders `rx` until the sender is dropped; `what` names the work in the
/// log lines (`replay`, `backtest`).
pub async fn render(what: &'static str, mut rx: watch::Receiver<Progress>) {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        while rx.changed().await.is_ok() {
            let p = rx.borrow().clone();
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_done);
            bar.set_message(format!(
                "{}/{} files, {} rows, {} failed",
                p.files_done, p.files_total, p.rows, p.failed
            ));
        }
        bar.finish();
    } else {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                _ = tick.tick() => {
                    let p = rx.borrow().clone();
                    tracing::info!(files_done = p.files_done, files_total = p.files_total, bytes_done = p.bytes_done,
                        bytes_total = p.bytes_total, rows = p.rows, failed = p.failed, work = what, "progress");
                }
            }
        }
    }
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339 → epoch ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    falconry_common::time::iso_ms(&full)
        .ok_or_else(|| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

/// `--since`/`--until`: a day, an RFC 3339 time, or a duration back from
/// `now_ms` (`90d`, `12h`, `30m`, `2w`).
pub fn parse_since(s: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(ms) = parse_time(s) {
        return Ok(ms);
    }
    let t = s.trim();
    let unit = t.chars().last().unwrap_or(' ');
    let n: i64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| {
        format!("{s:?} is not a date (YYYY-MM-DD), an RFC 3339 time or a duration (90d, 12h)")
    })?;
    let ms = match unit {
        'w' => 7 * 86_400_000,
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        _ => return Err(format!("{s:?}: a duration ends in w, d, h or m")),
    };
    Ok(now_ms - n.saturating_mul(ms))
}
