//! Escaping for attacker-written text placed into a GitHub issue: prose
//! (`text`), table cells (`cell`), inline code (`code_span`, `code_cell`),
//! fenced blocks (`fence`) and non-Markdown one-liners such as issue titles
//! (`plain`). Half of what an issue shows (command lines, file, user and host
//! names) is chosen by whoever the detection is about, so every function here
//! returns a string that is safe by construction, whatever the input:
//!
//! - no Markdown or HTML construct arises from the input: no link, image,
//!   emphasis, heading, list, table break, tag, entity or HTML comment (text
//!   escapes every active ASCII punctuation with `\` and writes `<`, `>`, `&`
//!   as entities; code spans and fences pick a backtick run the content cannot
//!   close);
//! - nothing GitHub links or notifies on is left live: `@login` and
//!   `@org/team` mentions, `#123`, `owner/repo#123` and `GH-123` references
//!   get a zero-width space ([`BREAK`]) after `@`, `#` or `GH-`; URLs, IPv4
//!   addresses and domain names are defanged (`hxxp://`, `1.2.3[.]4`,
//!   `evil[.]example`);
//! - bidi overrides and other invisible format/control characters are shown as
//!   `<U+202E>` text, so a right-to-left override cannot disguise a file name;
//!   the only invisible character in any output is our own [`BREAK`];
//! - the hidden marker prefix (`falconry:`) never appears, so event data
//!   cannot plant another issue's dedup marker, and nothing opens or closes
//!   an HTML comment (`<!--`, `-->`, `--!>` get a [`BREAK`] inside code and
//!   titles too, where GitHub would not read them as HTML anyway);
//! - the output is at most `cap` characters (never less than [`MIN_CAP`]);
//!   when the input does not fit, an ellipsis and `(+N chars)` (or a
//!   `… truncated N chars` line in a fence) say how much was left out. Up to
//!   the cut, no visible input character is dropped: the reader sees every
//!   one, in order.
//!
//! Inside code spans and fences GitHub neither autolinks nor resolves mentions
//! or references (cmark-gfm autolinks only text nodes; GitHub's mention and
//! reference filters skip `code` and `pre`), so there the content is kept
//! verbatim (copyable) apart from the line endings and invisible characters.
//!
//! Pure functions over `&str`; no I/O, no allocation beyond the output.

/// The character inserted to break a mention, a reference or the marker
/// prefix: U+200B ZERO WIDTH SPACE. Input zero-width spaces are shown as
/// `<U+200B>`, so every raw one in an output is ours.
pub const BREAK: char = '\u{200B}';

/// The smallest cap honoured: room for a few characters and the note.
pub const MIN_CAP: usize = 48;

/// What an empty table cell shows.
pub const EMPTY_CELL: &str = "—";

/// ASCII punctuation `text` escapes with a backslash wherever it appears.
/// (`<`, `>`, `&` become entities; `@` and `#` also get a [`BREAK`]; `.` is
/// escaped only after leading digits, where `1.` would start a list.)
const ESCAPED: &[char] = &[
    '\\', '`', '*', '_', '[', ']', '(', ')', '#', '+', '-', '!', '|', '~', '{', '}', '=', '$', '^',
];

mod defang;

pub use defang::is_word_char;
use defang::{DomainGuard, Flags, word_flags};
#[cfg(test)]
use defang::{is_domain, is_ipv4};

/// The prefix of our hidden markers (`falconry:fingerprint=`); never emitted
/// from input.
const MARKER_PREFIX: &str = "falconry";

/// Inline Markdown prose: escaped, defanged, mentions and references broken,
/// invisible characters shown, newlines as spaces, at most `cap` chars.
pub fn text(s: &str, cap: usize) -> String {
    inline(s, cap, Mode::Text { cell: false })
}

/// A table cell: [`text`] (which escapes `|`), and never empty. No list can
/// start in a cell, so `10.20` keeps its dot unescaped.
pub fn cell(s: &str, cap: usize) -> String {
    let out = inline(s, cap, Mode::Text { cell: true });
    if out.is_empty() {
        EMPTY_CELL.to_owned()
    } else {
        out
    }
}

/// Text outside Markdown (an issue title): no Markdown escapes (GitHub shows
/// titles literally), but mentions and references broken, URLs defanged,
/// invisible characters shown as `<U+XXXX>`, one line, at most `cap` chars.
pub fn plain(s: &str, cap: usize) -> String {
    inline(s, cap, Mode::Plain)
}

/// Inline code: a backtick run longer than any inside, padded with spaces
/// when the content starts or ends with a backtick (or with a space at both
/// ends); newlines as spaces; invisible characters shown. Empty input gives
/// an empty string. The `… (+N chars)` note, when capped, follows the span.
pub fn code_span(s: &str, cap: usize) -> String {
    code(s, cap, false)
}

/// Inline code inside a table cell: as [`code_span`], with `|` written `\|`
/// (GFM unescapes it before parsing the span) and `—` for empty input.
pub fn code_cell(s: &str, cap: usize) -> String {
    let out = code(s, cap, true);
    if out.is_empty() {
        EMPTY_CELL.to_owned()
    } else {
        out
    }
}

/// A fenced code block (no trailing newline): the fence is a backtick run
/// (at least three) longer than any inside, so no content line can close it;
/// `\r\n` and lone `\r` become `\n`, tabs stay, other invisible characters
/// are shown; `lang` is reduced to `[A-Za-z0-9_+-]`. When capped, the last
/// content line is `… truncated N chars`.
pub fn fence(s: &str, lang: &str, cap: usize) -> String {
    let cap = cap.max(MIN_CAP);
    let lang: String = lang
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
        .take(16)
        .collect();
    let total = s.chars().count();
    let note_len = fence_note(total).chars().count() + 1;
    let mut sink = Sink::new(cap, note_len);
    let mut esc = Escaper::new(Mode::Fence);
    let mut run = 0usize;
    let mut max_run = 0usize;
    let overhead = |max_run: usize| 2 * fence_len(max_run) + lang.chars().count() + 2;
    sink.extra = overhead(0);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let (c, src) = if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
                ('\n', 2)
            } else {
                ('\n', 1)
            }
        } else {
            (c, 1)
        };
        if c == '`' {
            run += 1;
            if run > max_run {
                max_run = run;
                sink.extra = overhead(max_run);
            }
        } else {
            run = 0;
        }
        let mut piece = String::new();
        esc.push(c, Flags::default(), &mut piece);
        if !sink.push(src, &piece) {
            break;
        }
    }
    let (content, omitted) = sink.finish(total);
    let fence = "`".repeat(fence_len(longest_run(&content, '`')));
    let mut out = String::with_capacity(content.len() + 2 * fence.len() + lang.len() + 40);
    out.push_str(&fence);
    out.push_str(&lang);
    out.push('\n');
    out.push_str(&content);
    if !content.is_empty() && !content.ends_with('\n') {
        out.push('\n');
    }
    if let Some(n) = omitted {
        out.push_str(&fence_note(n));
        out.push('\n');
    }
    out.push_str(&fence);
    out
}

/// The longest run of `ch` in `s`.
pub fn longest_run(s: &str, ch: char) -> usize {
    let mut run = 0;
    let mut max = 0;
    for c in s.chars() {
        if c == ch {
            run += 1;
            max = max.max(run);
        } else {
            run = 0;
        }
    }
    max
}

pub use crate::text::is_hidden;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Markdown prose; `cell`: inside a table cell.
    Text { cell: bool },
    /// Non-Markdown one-liner (titles).
    Plain,
    /// Inside a code span; `cell` escapes `|`.
    Code { cell: bool },
    /// Inside a fenced block.
    Fence,
}

fn inline(s: &str, cap: usize, mode: Mode) -> String {
    let cap = cap.max(MIN_CAP);
    let total = s.chars().count();
    let mut sink = Sink::new(cap, inline_note(mode, total).chars().count());
    let mut esc = Escaper::new(mode);
    let mut piece = String::new();
    let mut word: Vec<char> = Vec::new();
    let mut flags: Vec<Flags> = Vec::new();
    let mut rest = s;
    // The two characters before the current word: `\` or a lone `/` makes it
    // a path component.
    let (mut prev, mut prev2) = (None, None);
    'outer: while let Some(c) = rest.chars().next() {
        if is_word_char(c) {
            let end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
            word.clear();
            word.extend(rest[..end].chars());
            rest = &rest[end..];
            let path = prev == Some('\\') || (prev == Some('/') && prev2 != Some('/'));
            word_flags(&word, rest.starts_with("://"), path, &mut flags);
            (prev, prev2) = (word.last().copied(), word.iter().rev().nth(1).copied());
            let mut guard = DomainGuard::default();
            for (&c, &f) in word.iter().zip(flags.iter()) {
                piece.clear();
                esc.push(c, f, &mut piece);
                sink.may_cut = guard.push(c, f);
                if !sink.push(1, &piece) {
                    break 'outer;
                }
            }
            sink.may_cut = true;
        } else {
            rest = &rest[c.len_utf8()..];
            (prev, prev2) = (Some(c), prev);
            let next_alnum = rest
                .chars()
                .next()
                .is_some_and(|n| n.is_ascii_alphanumeric());
            piece.clear();
            esc.push(
                c,
                Flags {
                    next_alnum,
                    ..Flags::default()
                },
                &mut piece,
            );
            if !sink.push(1, &piece) {
                break;
            }
        }
    }
    let (mut out, omitted) = sink.finish(total);
    if let Some(n) = omitted {
        out.push_str(&inline_note(mode, n));
    }
    out
}

fn code(s: &str, cap: usize, cell: bool) -> String {
    let cap = cap.max(MIN_CAP);
    let total = s.chars().count();
    let mode = Mode::Code { cell };
    let mut sink = Sink::new(cap, inline_note(mode, total).chars().count());
    let mut esc = Escaper::new(mode);
    let mut run = 0usize;
    // Backticks on both sides, one longer than the longest run, plus padding.
    sink.extra = 4;
    let mut piece = String::new();
    for c in s.chars() {
        if c == '`' {
            run += 1;
            sink.extra = sink.extra.max(2 * (run + 1) + 2);
        } else {
            run = 0;
        }
        piece.clear();
        esc.push(c, Flags::default(), &mut piece);
        if !sink.push(1, &piece) {
            break;
        }
    }
    let (content, omitted) = sink.finish(total);
    if content.is_empty() {
        return match omitted {
            Some(n) => inline_note(mode, n).trim_start().to_owned(),
            None => String::new(),
        };
    }
    let ticks = "`".repeat(longest_run(&content, '`') + 1);
    let pad = content.starts_with('`')
        || content.ends_with('`')
        || (content.starts_with(' ')
            && content.ends_with(' ')
            && !content.chars().all(|c| c == ' '));
    let mut out = String::with_capacity(content.len() + 2 * ticks.len() + 24);
    out.push_str(&ticks);
    if pad {
        out.push(' ');
    }
    out.push_str(&content);
    if pad {
        out.push(' ');
    }
    out.push_str(&ticks);
    if let Some(n) = omitted {
        out.push_str(&inline_note(mode, n));
    }
    out
}

/// Turns one input character into its output piece, for one mode.
struct Escaper {
    mode: Mode,
    /// No character written yet.
    at_start: bool,
    /// Every character so far was an ASCII digit (and there was one).
    leading_digits: bool,
    /// The last characters, lower-cased, to spot the marker prefix.
    recent: [char; 8],
}

impl Escaper {
    fn new(mode: Mode) -> Escaper {
        Escaper {
            mode,
            at_start: true,
            leading_digits: false,
            recent: ['\0'; 8],
        }
    }

    fn push(&mut self, c: char, f: Flags, out: &mut String) {
        let c = match (self.mode, c) {
            (Mode::Fence, _) => c,
            (_, '\n' | '\r' | '\t') => ' ',
            _ => c,
        };
        if c == ':' && self.recent.iter().copied().eq(MARKER_PREFIX.chars()) {
            out.push(BREAK);
        }
        // Outside prose (where `<` and `>` are entities), break what would
        // open or close an HTML comment: `<!--`, `-->`, `--!>`.
        let r = &self.recent;
        if !matches!(self.mode, Mode::Text { .. })
            && ((c == '-' && r[6] == '<' && r[7] == '!')
                || (c == '>' && r[6] == '-' && r[7] == '-')
                || (c == '>' && r[5] == '-' && r[6] == '-' && r[7] == '!'))
        {
            out.push(BREAK);
        }
        if is_hidden(c) && !(self.mode == Mode::Fence && matches!(c, '\n' | '\t')) {
            let visible = format!("<U+{:04X}>", c as u32);
            match self.mode {
                Mode::Text { .. } => out.push_str(
                    &visible
                        .replace('<', "&lt;")
                        .replace('>', "&gt;")
                        .replace('+', "\\+"),
                ),
                _ => out.push_str(&visible),
            }
        } else {
            match self.mode {
                Mode::Text { cell } => self.text_piece(c, f, cell, out),
                Mode::Plain => plain_piece(c, f, out),
                Mode::Code { cell } => {
                    if cell && c == '|' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                Mode::Fence => out.push(c),
            }
        }
        self.leading_digits = c.is_ascii_digit() && (self.at_start || self.leading_digits);
        self.at_start = false;
        self.recent.rotate_left(1);
        self.recent[7] = c.to_ascii_lowercase();
    }

    fn text_piece(&self, c: char, f: Flags, cell: bool, out: &mut String) {
        match c {
            ' ' if self.at_start => out.push_str("&#32;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => {
                out.push('@');
                out.push(BREAK);
            }
            '#' => {
                out.push_str("\\#");
                if f.next_alnum {
                    out.push(BREAK);
                }
            }
            '.' if f.defang_dot => out.push_str("[.]"),
            '.' if self.leading_digits && !cell => out.push_str("\\."),
            't' | 'T' if f.scheme_x => out.push(if c == 't' { 'x' } else { 'X' }),
            _ if ESCAPED.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
        if f.break_after {
            out.push(BREAK);
        }
    }
}

fn plain_piece(c: char, f: Flags, out: &mut String) {
    match c {
        '@' => {
            out.push('@');
            out.push(BREAK);
        }
        '#' => {
            out.push('#');
            if f.next_alnum {
                out.push(BREAK);
            }
        }
        '.' if f.defang_dot => out.push_str("[.]"),
        't' | 'T' if f.scheme_x => out.push(if c == 't' { 'x' } else { 'X' }),
        _ => out.push(c),
    }
    if f.break_after {
        out.push(BREAK);
    }
}

/// The note after capped inline output; `\(` in prose so it cannot join a
/// link, plain elsewhere.
fn inline_note(mode: Mode, omitted: usize) -> String {
    match mode {
        Mode::Text { .. } => format!(" … \\(+{omitted} chars\\)"),
        _ => format!(" … (+{omitted} chars)"),
    }
}

fn fence_note(omitted: usize) -> String {
    format!("… truncated {omitted} chars")
}

fn fence_len(max_run: usize) -> usize {
    (max_run + 1).max(3)
}

/// Collects output pieces while their cost (output chars plus `extra`, the
/// wrapper the caller will add) stays within `cap`, remembering the longest
/// prefix that leaves room for the truncation note (`reserve`).
struct Sink {
    out: String,
    out_chars: usize,
    cap: usize,
    reserve: usize,
    extra: usize,
    src: usize,
    cut: (usize, usize),
    /// Whether the output may end after the current piece.
    may_cut: bool,
    overflow: bool,
}

impl Sink {
    fn new(cap: usize, reserve: usize) -> Sink {
        Sink {
            out: String::new(),
            out_chars: 0,
            cap,
            reserve,
            extra: 0,
            src: 0,
            cut: (0, 0),
            may_cut: true,
            overflow: false,
        }
    }

    /// Adds the piece for `src` input characters; false once over the cap.
    fn push(&mut self, src: usize, piece: &str) -> bool {
        self.out.push_str(piece);
        self.out_chars += piece.chars().count();
        self.src += src;
        let cost = self.out_chars + self.extra;
        if self.may_cut && cost + self.reserve <= self.cap {
            self.cut = (self.out.len(), self.src);
        }
        if cost > self.cap {
            self.overflow = true;
        }
        !self.overflow
    }

    /// The output, and how many input characters were left out when capped.
    fn finish(mut self, total: usize) -> (String, Option<usize>) {
        if self.overflow {
            self.out.truncate(self.cut.0);
            (self.out, Some(total - self.cut.1))
        } else {
            (self.out, None)
        }
    }
}

#[cfg(test)]
mod tests;
