//! The issue a responder reads: a safe Markdown title, body and repeat
//! comment for one alert, from minijinja templates (built in, or an
//! operator's), plus the Athena query the issue offers.
//!
//! `sanitize.rs` escapes attacker-written text (the heart of it), `links.rs`
//! decides which links may be live, `athena.rs` builds the query, `view.rs`
//! says what is rendered, `body.rs` builds each template's context,
//! `markers.rs` the hidden machine block, `engine.rs` runs the templates
//! within GitHub's size limit. All pure except reading the operator's
//! template files at start; nothing here talks to GitHub.

pub(crate) mod athena;
mod body;
mod engine;
mod links;
mod markers;
mod sample;
pub(crate) mod sanitize;
mod view;

pub use engine::{
    COMMENT, DEFAULT_CAP, ISSUE, MAX_BODY_CHARS, Overrides, RenderError, Renderer, TITLE,
    TITLE_CAP, truncate_markdown,
};
pub use markers::{marker, occurrence_marker, response_block, response_marker};
pub use view::{CommentView, IssueView, changes};

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
