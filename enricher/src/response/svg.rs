//! The report's two charts as standalone SVG files that the Markdown report
//! shows as images: cases opened per day, stacked by severity, and the p50 and
//! p90 time to first response and to close per severity, with the SLA as a
//! tick mark.
//!
//! Drawn from a [`Report`] alone. This file computes no figures of its own,
//! reads no clock and has no randomness, so the same report always gives
//! the same bytes. Every text is XML-escaped. With no data, a chart says
//! "no cases in this window" and draws no empty axes.

use super::report::{Day, LEVELS, Report, SeverityTimes, Timing, human};
use crate::alert::Level;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const NO_CASES: &str = "no cases in this window";
const MUTED: &str = "#57606a";
const GRID: &str = "#d0d7de";
const INK: &str = "#24292f";

/// Each level's fixed colour.
fn colour(level: Level) -> &'static str {
    match level {
        Level::Critical => "#b60205",
        Level::High => "#d93f0b",
        Level::Medium => "#d4a72c",
        Level::Low => "#1a7f37",
        Level::Informational => "#0969da",
    }
}

/// Cases opened per UTC day, stacked by severity (critical at the bottom),
/// with a legend, a labelled y axis and `MM-DD` labels under the bars.
pub fn daily_cases_svg(r: &Report) -> String {
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 34.0;
    const BOTTOM: f64 = 26.0;
    let mut out = start(WIDTH, HEIGHT, "Cases per day by severity");
    let max = r.daily.iter().map(Day::total).max().unwrap_or(0);
    if max == 0 {
        empty(&mut out, WIDTH, HEIGHT);
        return finish(out);
    }
    for (i, &level) in LEVELS.iter().enumerate() {
        let x = LEFT + 96.0 * i as f64;
        rect(&mut out, x, 10.0, 10.0, 10.0, &fill(level), "");
        text(&mut out, x + 14.0, 19.0, "start", "", level.as_str());
    }

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let (ceiling, step) = axis(max);
    let y_of = |v: u64| TOP + plot_h * (1.0 - v as f64 / ceiling as f64);
    for k in 0..=ceiling / step {
        let v = k * step;
        let y = y_of(v);
        line(
            &mut out,
            (LEFT, y),
            (WIDTH - RIGHT, y),
            &format!("stroke=\"{GRID}\" stroke-width=\"1\""),
        );
        text(
            &mut out,
            LEFT - 6.0,
            y + 4.0,
            "end",
            &format!(" fill=\"{MUTED}\""),
            &v.to_string(),
        );
    }

    let n = r.daily.len();
    let slot = plot_w / n as f64;
    let bar = (slot * 0.8).max(1.0);
    let every = n.div_ceil(10).max(1);
    for (i, day) in r.daily.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = 0;
        for level in LEVELS {
            let count = day.count(level);
            if count == 0 {
                continue;
            }
            let (top, bottom) = (y_of(base + count), y_of(base));
            let title = format!("{} {}: {}", day.day, level.as_str(), count);
            rect(&mut out, x, top, bar, bottom - top, &fill(level), &title);
            base += count;
        }
        if i.is_multiple_of(every) {
            let label = day.day.get(5..).unwrap_or(day.day.as_str());
            text(
                &mut out,
                x + bar / 2.0,
                HEIGHT - BOTTOM + 15.0,
                "middle",
                &format!(" fill=\"{MUTED}\""),
                label,
            );
        }
    }
    finish(out)
}

type Pick = fn(&SeverityTimes) -> &Timing;

fn first_response(s: &SeverityTimes) -> &Timing {
    &s.time_to_first_response
}

fn close(s: &SeverityTimes) -> &Timing {
    &s.time_to_close
}

/// Two groups (time to first response, time to close), one row per severity
/// with a case that has the event: a p50 bar and a lighter p90 bar, labelled
/// in human units, and the level's SLA as a tick mark. Each group is scaled
/// to its largest p90 or SLA.
pub fn response_times_svg(r: &Report) -> String {
    const LABEL_X: f64 = 100.0;
    const BAR_X: f64 = 108.0;
    const BAR_W: f64 = 420.0;
    const TOP: f64 = 30.0;
    const HEAD: f64 = 24.0;
    const ROW: f64 = 26.0;
    const GAP: f64 = 8.0;
    const TITLE: &str = "Time to respond";
    let rows = &r.response.by_severity;
    if rows.is_empty() {
        let mut out = start(WIDTH, HEIGHT, TITLE);
        empty(&mut out, WIDTH, HEIGHT);
        return finish(out);
    }
    let groups: [(&str, Pick); 2] = [
        ("Time to first response", first_response),
        ("Time to close", close),
    ];
    let shown: Vec<Vec<&SeverityTimes>> = groups
        .iter()
        .map(|&(_, pick)| rows.iter().filter(|&s| pick(s).count > 0).collect())
        .collect();
    let height = TOP
        + shown
            .iter()
            .map(|g| HEAD + ROW * g.len().max(1) as f64 + GAP)
            .sum::<f64>()
        + GAP;
    let mut out = start(WIDTH, height, TITLE);

    let dark = format!("fill=\"{MUTED}\"");
    let light = format!("fill=\"{MUTED}\" fill-opacity=\"0.4\"");
    rect(&mut out, BAR_X, 10.0, 10.0, 10.0, &dark, "");
    text(&mut out, BAR_X + 14.0, 19.0, "start", "", "p50");
    rect(&mut out, BAR_X + 60.0, 10.0, 10.0, 10.0, &light, "");
    text(&mut out, BAR_X + 74.0, 19.0, "start", "", "p90");
    let tick = format!("stroke=\"{INK}\" stroke-width=\"2\"");
    line(&mut out, (BAR_X + 125.0, 8.0), (BAR_X + 125.0, 22.0), &tick);
    text(&mut out, BAR_X + 131.0, 19.0, "start", "", "SLA");

    let mut y = TOP;
    for (&(name, pick), group) in groups.iter().zip(&shown) {
        let scale = group
            .iter()
            .map(|&s| {
                let t = pick(s);
                t.p90_seconds.unwrap_or(0).max(t.sla_seconds.unwrap_or(0))
            })
            .max()
            .unwrap_or(0)
            .max(1);
        let w = |seconds: u64| BAR_W * seconds as f64 / scale as f64;
        text(
            &mut out,
            8.0,
            y + 16.0,
            "start",
            " font-weight=\"bold\"",
            name,
        );
        let range = format!("0 – {}", human(scale));
        text(
            &mut out,
            BAR_X + BAR_W,
            y + 16.0,
            "end",
            &format!(" fill=\"{MUTED}\""),
            &range,
        );
        y += HEAD;
        if group.is_empty() {
            text(
                &mut out,
                BAR_X,
                y + 17.0,
                "start",
                &format!(" fill=\"{MUTED}\""),
                "none in this window",
            );
            y += ROW;
        }
        for &s in group {
            let t = pick(s);
            let level = s.severity;
            text(&mut out, LABEL_X, y + 17.0, "end", "", level.as_str());
            let tick_x = t.sla_seconds.map(|sla| BAR_X + w(sla));
            for (seconds, which, top, opacity) in [
                (t.p50_seconds.unwrap_or(0), "p50", 3.0, ""),
                (
                    t.p90_seconds.unwrap_or(0),
                    "p90",
                    14.0,
                    " fill-opacity=\"0.4\"",
                ),
            ] {
                let label = format!("{which} {}", human(seconds));
                let len = w(seconds).max(1.0);
                let style = format!("{}{opacity}", fill(level));
                rect(&mut out, BAR_X, y + top, len, 9.0, &style, &label);
                // After the bar, or after the SLA tick when it would cross
                // the label (about 6 px a character at this size).
                let mut label_x = BAR_X + len + 4.0;
                let label_w = 6.0 * label.chars().count() as f64;
                if let Some(x) = tick_x
                    && (label_x - 6.0..=label_x + label_w).contains(&x)
                {
                    label_x = x + 5.0;
                }
                text(
                    &mut out,
                    label_x,
                    y + top + 8.0,
                    "start",
                    " font-size=\"10\"",
                    &label,
                );
            }
            if let (Some(sla), Some(x)) = (t.sla_seconds, tick_x) {
                out.push_str(&format!("<g><title>SLA {}</title>", esc(&human(sla))));
                line(&mut out, (x, y + 1.0), (x, y + ROW - 1.0), &tick);
                out.push_str("</g>\n");
            }
            y += ROW;
        }
        y += GAP;
    }
    finish(out)
}

/// The y axis of counts up to `max` (> 0): `(top, step)`, where `step` is the
/// smallest 1, 2 or 5 × 10ⁿ giving at most 4 gridlines above 0.
fn axis(max: u64) -> (u64, u64) {
    let mut base: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = base.saturating_mul(m);
            if step.saturating_mul(4) >= max {
                return (step.saturating_mul(max.div_ceil(step)), step);
            }
        }
        base = base.saturating_mul(10);
    }
}

fn start(width: f64, height: f64, title: &str) -> String {
    format!(
        concat!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" ",
            "viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\" ",
            "font-size=\"11\" fill=\"{ink}\" role=\"img\" aria-label=\"{t}\">\n",
            "<title>{t}</title>\n",
            "<rect width=\"{w:.0}\" height=\"{h:.0}\" fill=\"#ffffff\"/>\n"
        ),
        w = width,
        h = height,
        ink = INK,
        t = esc(title)
    )
}

fn finish(mut out: String) -> String {
    out.push_str("</svg>\n");
    out
}

fn empty(out: &mut String, width: f64, height: f64) {
    let style = format!(" fill=\"{MUTED}\" font-size=\"14\"");
    text(out, width / 2.0, height / 2.0, "middle", &style, NO_CASES);
}

fn fill(level: Level) -> String {
    format!("fill=\"{}\"", colour(level))
}

/// A rectangle; `style` holds its attributes (written as given), `title`
/// its tooltip (none when empty).
fn rect(out: &mut String, x: f64, y: f64, w: f64, h: f64, style: &str, title: &str) {
    out.push_str(&format!(
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" {style}"
    ));
    if title.is_empty() {
        out.push_str("/>\n");
    } else {
        out.push_str(&format!("><title>{}</title></rect>\n", esc(title)));
    }
}

fn line(out: &mut String, from: (f64, f64), to: (f64, f64), style: &str) {
    out.push_str(&format!(
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" {style}/>\n",
        from.0, from.1, to.0, to.1
    ));
}

/// A text; `attrs` are extra attributes, written as given (start with a space).
fn text(out: &mut String, x: f64, y: f64, anchor: &str, attrs: &str, s: &str) {
    out.push_str(&format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\"{attrs}>{}</text>\n",
        esc(s)
    ));
}

/// Text for XML content and attribute values: the five markup characters as
/// entities, line breaks as spaces, characters XML 1.0 forbids dropped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(esc("x\ny\u{0}\u{7}z\u{FFFF}"), "x yz");
        let mut out = String::new();
        text(&mut out, 1.0, 2.0, "start", "", "a<b");
        assert_eq!(
            out,
            "<text x=\"1.0\" y=\"2.0\" text-anchor=\"start\">a&lt;b</text>\n"
        );
        assert!(start(640.0, 240.0, "a<b").contains("<title>a&lt;b</title>"));
    }

    #[test]
    fn the_axis_has_round_steps_and_at_most_four_gridlines() {
        assert_eq!(axis(1), (1, 1));
        assert_eq!(axis(2), (2, 1));
        assert_eq!(axis(4), (4, 1));
        assert_eq!(axis(5), (6, 2));
        assert_eq!(axis(9), (10, 5));
        assert_eq!(axis(17), (20, 5));
        assert_eq!(axis(21), (30, 10));
        assert_eq!(axis(999), (1000, 500));
        for max in 1..2000 {
            let (top, step) = axis(max);
            assert!(
                top >= max && top / step <= 4 && top.is_multiple_of(step),
                "{max}: {top}/{step}"
            );
        }
        assert_eq!(axis(u64::MAX).0, u64::MAX, "no overflow");
    }
}
