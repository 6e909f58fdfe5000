//! The renderer: a minijinja environment holding the three templates (ours,
//! or an operator's from the templates directory), configured so that a
//! template is safe even when it forgets a filter, and the size budget that
//! keeps a body under GitHub's limit.
//!
//! Safe by default: every `{{ value }}` goes through our formatter, which
//! writes values marked safe as they are and escapes everything else as
//! Markdown prose (`sanitize::text`; `sanitize::plain` in the title), whatever
//! `{% autoescape %}` says. Only our filters and `body.rs` mark strings safe;
//! minijinja's `safe` filter is removed. The hidden marker block is appended
//! in Rust, so no template can drop or forge it.
//!
//! The only I/O is reading the operator's template files in
//! [`Renderer::new`]; rendering is pure.

use super::body::{self, LADDER, Limits, RawEvent};
use super::markers;
use super::sanitize;
use super::view::{CommentView, IssueView};
use chrono::DateTime;
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, Error, Output, State, Value};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// GitHub's limit on an issue or comment body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;
/// Cap of a bare `{{ value }}` in a body.
pub const DEFAULT_CAP: usize = 1_000;
/// Cap of a bare `{{ value }}` in the title.
pub const TITLE_FIELD_CAP: usize = 120;
/// Longest title.
pub const TITLE_CAP: usize = 256;
/// Default cap of the `fence` filter.
pub const FENCE_CAP: usize = 20_000;
/// Largest raw event block; smaller when the rest of the body leaves less room.
pub const RAW_EVENT_CAP: usize = 30_000;
/// Below this much room the raw event is left out rather than shown cut.
const MIN_RAW_EVENT: usize = 1_000;
/// Room kept for the raw event's `<details>` frame and for the note that
/// replaces it changing length.
const RAW_FRAME: usize = 200;

pub const TITLE: &str = "title.j2";
pub const ISSUE: &str = "issue.md.j2";
pub const COMMENT: &str = "comment.md.j2";

const BUILTIN: [(&str, &str); 3] = [
    (TITLE, include_str!("templates/title.j2")),
    (ISSUE, include_str!("templates/issue.md.j2")),
    (COMMENT, include_str!("templates/comment.md.j2")),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("templates directory {path} is not a readable directory: {error}")]
    TemplatesDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read template {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("template {name} does not compile: {error}")]
    Compile { name: &'static str, error: Error },
    #[error("template {name} failed to render: {error}")]
    Render { name: &'static str, error: Error },
}

/// Operator templates replacing the built-in ones (`None` keeps ours).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub title: Option<String>,
    pub issue: Option<String>,
    pub comment: Option<String>,
}

/// Renders titles, issue bodies and repeat comments.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// The built-in templates, each replaced by `title.j2`, `issue.md.j2` or
    /// `comment.md.j2` when `templates_dir` holds one. A template that does
    /// not compile, or fails on a sample alert, is an error here.
    pub fn new(templates_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut overrides = Overrides::default();
        if let Some(dir) = templates_dir {
            std::fs::read_dir(dir).map_err(|error| RenderError::TemplatesDir {
                path: dir.to_owned(),
                error,
            })?;
            for (name, slot) in [
                (TITLE, &mut overrides.title),
                (ISSUE, &mut overrides.issue),
                (COMMENT, &mut overrides.comment),
            ] {
                let path = dir.join(name);
                match std::fs::read_to_string(&path) {
                    Ok(source) => *slot = Some(source),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(RenderError::Read { path, error }),
                }
            }
        }
        Renderer::from_sources(overrides)
    }

    /// As [`Renderer::new`], with the override sources given.
    pub fn from_sources(overrides: Overrides) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|error| RenderError::Compile { name: ISSUE, error })?;
        env.set_syntax(syntax);
        configure(&mut env);
        for (name, builtin) in BUILTIN {
            let source = match name {
                TITLE => overrides.title.clone(),
                ISSUE => overrides.issue.clone(),
                _ => overrides.comment.clone(),
            }
            .unwrap_or_else(|| builtin.to_owned());
            env.add_template_owned(name, source)
                .map_err(|error| RenderError::Compile { name, error })?;
        }
        let renderer = Renderer { env };
        renderer.smoke_test()?;
        Ok(renderer)
    }

    /// `[<severity>] <detection name>: <host> / <user>`, one line, at most
    /// [`TITLE_CAP`] chars. Falls back to the built-in layout when an
    /// operator's title template fails on this alert.
    pub fn title(&self, view: &IssueView<'_>) -> String {
        let title = self
            .render(TITLE, body::title_context(view))
            .unwrap_or_else(|_| builtin_title(view));
        one_line(&title, TITLE_CAP)
    }

    /// The issue body, at most [`MAX_BODY_CHARS`] chars, ending with the
    /// hidden marker block. When too long, the least important parts go
    /// first: the raw event is cut, then left out; then enrichment rows and
    /// notes; then entity detail; as a last resort the end of the body is cut
    /// at a line (summary first, so it stays).
    pub fn issue_body(&self, view: &IssueView<'_>) -> Result<String, RenderError> {
        let block = markers::issue_block(view);
        // The text, a blank line, the block and a final newline.
        let budget = MAX_BODY_CHARS - block.chars().count() - 3;
        let raw = body::pretty_json(view.raw_event);
        let has_raw = !raw.trim().is_empty();
        let mut level = LADDER[0];
        let without = if has_raw {
            RawEvent::Omitted
        } else {
            RawEvent::None
        };
        let mut text = self.issue_at(view, &level, without)?;
        let mut len = text.chars().count();
        if has_raw && len <= budget {
            let cap = (budget - len).saturating_sub(RAW_FRAME).min(RAW_EVENT_CAP);
            if cap >= MIN_RAW_EVENT {
                let with = self.issue_at(view, &level, RawEvent::Shown(&raw, cap))?;
                let with_len = with.chars().count();
                if with_len <= budget {
                    (text, len) = (with, with_len);
                }
            }
        }
        for next in &LADDER[1..] {
            if len <= budget {
                break;
            }
            level = *next;
            text = self.issue_at(view, &level, without)?;
            len = text.chars().count();
        }
        if len > budget {
            text = truncate_markdown(&text, budget);
        }
        Ok(format!("{text}\n\n{block}\n"))
    }

    /// A repeat comment, at most [`MAX_BODY_CHARS`] chars, ending with the
    /// hidden occurrence marker.
    pub fn comment_body(&self, view: &CommentView<'_>) -> Result<String, RenderError> {
        let block = markers::comment_block(view.occurrence_key);
        let budget = MAX_BODY_CHARS - block.chars().count() - 3;
        let mut text = self
            .render(COMMENT, body::comment_context(view))?
            .trim_end()
            .to_owned();
        if text.chars().count() > budget {
            text = truncate_markdown(&text, budget);
        }
        Ok(format!("{text}\n\n{block}\n"))
    }

    fn issue_at(
        &self,
        view: &IssueView<'_>,
        limits: &Limits,
        raw: RawEvent<'_>,
    ) -> Result<String, RenderError> {
        let text = self.render(ISSUE, body::issue_context(view, limits, raw))?;
        Ok(text.trim_end().to_owned())
    }

    fn render(&self, name: &'static str, ctx: Value) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|error| RenderError::Render { name, error })
    }

    /// Renders every template once on a synthetic alert, so an operator's
    /// template that uses an unknown (or the removed `safe`) filter fails at
    /// start, not on the first real alert.
    fn smoke_test(&self) -> Result<(), RenderError> {
        let sample = super::sample::Sample::new();
        let view = sample.issue_view();
        self.render(TITLE, body::title_context(&view))?;
        self.issue_body(&view)?;
        self.comment_body(&sample.comment_view())?;
        Ok(())
    }
}

fn builtin_title(view: &IssueView<'_>) -> String {
    format!(
        "[{}] {}: {} / {}",
        view.decision.severity.as_str(),
        sanitize::plain(&view.alert.name, 112),
        sanitize::plain(view.alert.host_label(), 60),
        sanitize::plain(view.alert.user_label(), 60),
    )
}

/// Whitespace runs (newlines included) as one space, trimmed, at most `cap`
/// chars (cut with `…`).
fn one_line(s: &str, cap: usize) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= cap {
        return line;
    }
    let mut cut: String = line.chars().take(cap.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Keeps whole lines of `body` while they fit in `max` chars together with
/// whatever closes the blocks they leave open (a code fence, `<details>`) and
/// a note saying the rest was cut. Never cuts inside a line: a cut code span
/// would let its content be read as Markdown.
pub fn truncate_markdown(body: &str, max: usize) -> String {
    const NOTE: &str = "_… the rest of this text was cut to fit GitHub's 65,536-character limit._";
    let note = NOTE.chars().count() + 2;
    let mut out = String::new();
    let mut used = 0;
    let mut state = Blocks::default();
    for line in body.split_inclusive('\n') {
        let next = state.after(line);
        let n = line.chars().count();
        if used + n + 1 + next.closers_len() + note > max {
            break;
        }
        out.push_str(line);
        used += n;
        state = next;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&state.closers());
    out.push('\n');
    out.push_str(NOTE);
    out
}

/// The blocks open after some lines: a code fence (its character and
/// length) and how many `<details>` elements.
#[derive(Debug, Clone, Copy, Default)]
struct Blocks {
    fence: Option<(char, usize)>,
    details: usize,
}

impl Blocks {
    fn after(self, line: &str) -> Blocks {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
        let rest = &trimmed[indent..];
        let run = |c: char| rest.chars().take_while(|x| *x == c).count();
        let mut next = self;
        match self.fence {
            Some((c, len)) => {
                if indent <= 3 && run(c) >= len && rest[run(c) * c.len_utf8()..].trim().is_empty() {
                    next.fence = None;
                }
            }
            None => {
                for c in ['`', '~'] {
                    let n = run(c);
                    let info = &rest[n..];
                    if indent <= 3 && n >= 3 && !(c == '`' && info.contains('`')) {
                        next.fence = Some((c, n));
                    }
                }
                if next.fence.is_none() {
                    let opened = trimmed.matches("<details").count();
                    let closed = trimmed.matches("</details>").count();
                    next.details = (next.details + opened).saturating_sub(closed);
                }
            }
        }
        next
    }

    fn closers(self) -> String {
        let mut s = String::new();
        if let Some((c, len)) = self.fence {
            s.extend(std::iter::repeat_n(c, len));
            s.push('\n');
        }
        for _ in 0..self.details {
            s.push_str("\n</details>\n");
        }
        s
    }

    fn closers_len(self) -> usize {
        self.closers().chars().count()
    }
}

fn configure(env: &mut Environment<'static>) {
    // A custom escape mode makes minijinja's builtins (join, replace, |e,
    // captures) safety-aware and route escaping through our formatter.
    env.set_auto_escape_callback(|_| AutoEscape::Custom(Cow::Borrowed("markdown")));
    env.set_formatter(format_value);
    env.remove_filter("safe");
    env.add_filter("text", |v: &Value, cap: Option<usize>| {
        safe(sanitize::text(&input(v), cap.unwrap_or(DEFAULT_CAP)))
    });
    env.add_filter("defang", |v: &Value, cap: Option<usize>| {
        safe(sanitize::text(&input(v), cap.unwrap_or(DEFAULT_CAP)))
    });
    env.add_filter("plain", |v: &Value, cap: Option<usize>| {
        safe(sanitize::plain(&input(v), cap.unwrap_or(TITLE_FIELD_CAP)))
    });
    env.add_filter("cell", |v: &Value, cap: Option<usize>| {
        safe(sanitize::cell(&input(v), cap.unwrap_or(DEFAULT_CAP)))
    });
    env.add_filter("code", |v: &Value, cap: Option<usize>| {
        safe(sanitize::code_span(&input(v), cap.unwrap_or(DEFAULT_CAP)))
    });
    env.add_filter("code_cell", |v: &Value, cap: Option<usize>| {
        safe(sanitize::code_cell(&input(v), cap.unwrap_or(DEFAULT_CAP)))
    });
    env.add_filter(
        "fence",
        |v: &Value, lang: Option<&str>, cap: Option<usize>| {
            safe(sanitize::fence(
                &input(v),
                lang.unwrap_or(""),
                cap.unwrap_or(FENCE_CAP),
            ))
        },
    );
    env.add_filter("datetime", |v: &Value| {
        let shown = v
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        safe(shown.unwrap_or_else(|| sanitize::text(&format!("invalid time ({})", input(v)), 100)))
    });
}

/// The formatter behind every `{{ value }}`: safe strings as they are,
/// nothing for none/undefined, everything else escaped (plain in the title).
fn format_value(
    out: &mut Output<'_>,
    state: &mut State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    if value.is_safe() {
        return out
            .write_str(value.as_str().unwrap_or_default())
            .map_err(Error::from);
    }
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    let s = input(value);
    let escaped = if state.name() == TITLE {
        sanitize::plain(&s, TITLE_FIELD_CAP)
    } else {
        sanitize::text(&s, DEFAULT_CAP)
    };
    out.write_str(&escaped).map_err(Error::from)
}

fn input(v: &Value) -> String {
    if v.is_undefined() || v.is_none() {
        String::new()
    } else if let Some(s) = v.as_str() {
        s.to_owned()
    } else {
        v.to_string()
    }
}

fn safe(s: String) -> Value {
    Value::from_safe_string(s)
}
