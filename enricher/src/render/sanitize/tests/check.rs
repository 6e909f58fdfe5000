//! Readers of escaped output: a small Markdown inline decoder that reads
//! `text` output the way GitHub does, and one checker per function that says
//! whether an output is safe, within its cap and faithful to its input.

use super::super::*;

/// Characters that must never appear unescaped in `text` output.
pub const ACTIVE: &[char] = &[
    '\\', '`', '*', '_', '[', ']', '(', ')', '#', '+', '-', '!', '|', '~', '{', '}', '=', '$', '^',
    '<', '>', '&',
];

/// Reads `text` output as GitHub renders it: backslash escapes and our
/// entities decoded, our `[.]` kept as shown. Errs on anything Markdown or
/// HTML could interpret: a raw active character, a bare `&`, a newline, a
/// backslash not escaping punctuation.
pub fn rendered(out: &str) -> Result<String, String> {
    let mut shown = String::new();
    let mut rest = out;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("[.]") {
            shown.push_str("[.]");
            rest = r;
            continue;
        }
        if c == '&' {
            let entity = ["&lt;", "&gt;", "&amp;", "&#32;"]
                .into_iter()
                .find(|e| rest.starts_with(e))
                .ok_or_else(|| format!("bare & in {out:?}"))?;
            shown.push(match entity {
                "&lt;" => '<',
                "&gt;" => '>',
                "&amp;" => '&',
                _ => ' ',
            });
            rest = &rest[entity.len()..];
            continue;
        }
        if c == '\\' {
            let next = rest[1..]
                .chars()
                .next()
                .ok_or_else(|| format!("trailing backslash in {out:?}"))?;
            if !next.is_ascii_punctuation() {
                return Err(format!("backslash before {next:?} in {out:?}"));
            }
            shown.push(next);
            rest = &rest[1 + next.len_utf8()..];
            continue;
        }
        if ACTIVE.contains(&c) || c == '\n' || c == '\r' {
            return Err(format!("raw {c:?} in {out:?}"));
        }
        shown.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(shown)
}

/// What the reader can recover from `text` output: [`rendered`] with our
/// defanging undone (`[.]` → `.`) and our breaks removed. URL schemes stay
/// defanged (`hxxp`); see [`restore_schemes`].
pub fn original(out: &str) -> String {
    let mut shown = String::new();
    let mut rest = out;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("[.]") {
            shown.push('.');
            rest = r;
        } else if let Some(e) = ["&lt;", "&gt;", "&amp;", "&#32;"]
            .into_iter()
            .find(|e| rest.starts_with(e))
        {
            shown.push_str(match e {
                "&lt;" => "<",
                "&gt;" => ">",
                "&amp;" => "&",
                _ => " ",
            });
            rest = &rest[e.len()..];
        } else if c == '\\' && rest.len() > 1 {
            let next = rest[1..].chars().next().unwrap_or('\\');
            shown.push(next);
            rest = &rest[1 + next.len_utf8()..];
        } else {
            if c != BREAK {
                shown.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    shown
}

/// `hxxp://` → `http://` (and `hxxps`, `fxp`, `fxps`), keeping case.
pub fn restore_schemes(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut chars: Vec<char> = s.chars().collect();
    let lower_chars: Vec<char> = lower.chars().collect();
    for pat in ["hxxps://", "hxxp://", "fxps://", "fxp://"] {
        let pat: Vec<char> = pat.chars().collect();
        let mut i = 0;
        while i + pat.len() <= lower_chars.len() {
            if lower_chars[i..i + pat.len()] == pat[..] {
                for k in i..i + pat.len() {
                    if lower_chars[k] == 'x' {
                        chars[k] = if chars[k] == 'X' { 'T' } else { 't' };
                    }
                }
                i += pat.len();
            } else {
                i += 1;
            }
        }
    }
    chars.into_iter().collect()
}

/// The input as the reader should see it: one line, invisible characters named.
pub fn normalize_inline(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => " ".to_owned(),
            c if is_hidden(c) => format!("<U+{:04X}>", c as u32),
            c => c.to_string(),
        })
        .collect()
}

pub fn normalize_fence(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if is_hidden(c) => format!("<U+{:04X}>", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Char-wise equality where the output's scheme `x` may stand for a `t`.
pub fn eq_modulo_scheme(out: &str, expected: &str) -> bool {
    out.chars().count() == expected.chars().count()
        && out
            .chars()
            .zip(expected.chars())
            .all(|(o, e)| o == e || (o == 'x' && e == 't') || (o == 'X' && e == 'T'))
}

pub fn first_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Splits a capped inline output into the shown part and the number of
/// input characters the note says were left out.
pub fn split_note(out: &str, escaped_parens: bool) -> (&str, Option<usize>) {
    let open = if escaped_parens {
        " … \\(+"
    } else {
        " … (+"
    };
    let close = if escaped_parens {
        " chars\\)"
    } else {
        " chars)"
    };
    if let Some(stripped) = out.strip_suffix(close)
        && let Some(at) = stripped.rfind(open)
        && let Ok(n) = stripped[at + open.len()..].parse::<usize>()
    {
        return (&out[..at], Some(n));
    }
    (out, None)
}

/// Where a raw [`BREAK`] may stand: after `@`, `#` (optionally escaped),
/// `GH-` (escaped or not), inside `<!--`/`-->`/`--!>`, or before the `:` of
/// the marker prefix.
pub fn breaks_are_ours(out: &str) -> Result<(), String> {
    let chars: Vec<char> = out.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != BREAK {
            continue;
        }
        let before = if i > 0 { chars[i - 1] } else { '\0' };
        let after = chars.get(i + 1).copied().unwrap_or('\0');
        let ok = matches!(before, '@' | '#' | '-' | '!')
            || (after == ':' && before.eq_ignore_ascii_case(&'y'));
        if !ok {
            return Err(format!("stray break at {i} in {out:?}"));
        }
    }
    Ok(())
}

/// Nothing that opens or closes an HTML comment.
pub fn no_comment(out: &str) -> Result<(), String> {
    for bad in ["<!--", "-->", "--!>"] {
        if out.contains(bad) {
            return Err(format!("{bad} in {out:?}"));
        }
    }
    Ok(())
}

/// Everything a reader of `text`/`cell`/`plain` output must never meet.
pub fn check_shown(shown: &str) -> Result<(), String> {
    let chars: Vec<char> = shown.chars().collect();
    let lower = shown.to_lowercase();
    for bad in [
        "http://",
        "https://",
        "ftp://",
        "ftps://",
        "www.",
        "falconry:",
    ] {
        if lower.contains(bad) {
            return Err(format!("{bad} in {shown:?}"));
        }
    }
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        if c == '@' && (next.is_ascii_alphanumeric() || next == '-') {
            return Err(format!("live mention in {shown:?}"));
        }
        if c == '#' && next.is_ascii_alphanumeric() {
            return Err(format!("live reference in {shown:?}"));
        }
        if c.eq_ignore_ascii_case(&'g')
            && chars
                .get(i + 1)
                .is_some_and(|h| h.eq_ignore_ascii_case(&'h'))
            && chars.get(i + 2) == Some(&'-')
            && chars.get(i + 3).is_some_and(char::is_ascii_digit)
        {
            return Err(format!("live GH- reference in {shown:?}"));
        }
        if is_hidden(c) && c != BREAK {
            return Err(format!("hidden {c:?} in {shown:?}"));
        }
    }
    // No IPv4 address (four dotted groups of at most three digits, each at
    // most 255) left whole.
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_digit()) {
            let mut j = i;
            let mut groups: Vec<&[char]> = Vec::new();
            loop {
                let start = j;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                groups.push(&chars[start..j]);
                if j + 1 < chars.len() && chars[j] == '.' && chars[j + 1].is_ascii_digit() {
                    j += 1;
                } else {
                    break;
                }
            }
            if is_ipv4(&groups) {
                return Err(format!("live IPv4 in {shown:?}"));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    // No word that is still a domain name, but in a path (after `\` or a
    // lone `/`), where it is a file or folder name.
    let mut start = 0;
    let mut last_path = false;
    while start < chars.len() {
        if !is_word_char(chars[start]) {
            start += 1;
            continue;
        }
        let end = (start..chars.len())
            .find(|k| !is_word_char(chars[*k]))
            .unwrap_or(chars.len());
        let word = &chars[start..end];
        let prev = start.checked_sub(1).map(|k| chars[k]);
        let prev2 = start.checked_sub(2).map(|k| chars[k]);
        // A piece after our `[.]`, or after a break we put inside a word
        // (`GH-`), belongs to the word before it.
        let after_defang = (start >= 3 && chars[start - 3..start] == ['[', '.', ']'])
            || (prev == Some(BREAK) && prev2.is_some_and(is_word_char));
        let path = if after_defang {
            last_path
        } else {
            prev == Some('\\') || (prev == Some('/') && prev2 != Some('/'))
        };
        // (The `.` inside our `[.]` is a word of its own: it changes nothing.)
        if word != ['.'] {
            last_path = path;
        }
        if !path && is_domain(word) {
            return Err(format!(
                "live domain {:?} in {shown:?}",
                word.iter().collect::<String>()
            ));
        }
        start = end;
    }
    Ok(())
}

/// All checks of one `text` output for `input` with `cap`.
pub fn check_text(input: &str, cap: usize, out: &str) -> Result<(), String> {
    if out.chars().count() > cap.max(MIN_CAP) {
        return Err(format!("{} chars > cap {cap}", out.chars().count()));
    }
    if out.contains("](") || out.contains("<!--") || out.contains("-->") || out.contains('<') {
        return Err(format!("link or tag syntax in {out:?}"));
    }
    breaks_are_ours(out)?;
    let (shown_part, omitted) = split_note(out, true);
    let shown = rendered(shown_part)?;
    check_shown(&shown)?;
    let recovered = original(shown_part);
    match omitted {
        None => {
            let expected = normalize_inline(input);
            if restore_schemes(&recovered) != expected {
                return Err(format!("lost text: {recovered:?} != {expected:?}"));
            }
        }
        Some(n) => {
            let total = input.chars().count();
            if n == 0 || n > total {
                return Err(format!("note says {n} of {total} chars left out"));
            }
            let expected = normalize_inline(&first_chars(input, total - n));
            if !eq_modulo_scheme(&recovered, &expected) {
                return Err(format!("capped text: {recovered:?} != {expected:?}"));
            }
        }
    }
    Ok(())
}

pub fn check_plain(input: &str, cap: usize, out: &str) -> Result<(), String> {
    if out.chars().count() > cap.max(MIN_CAP) {
        return Err(format!("{} chars > cap {cap}", out.chars().count()));
    }
    if out.contains('\n') || out.contains('\r') {
        return Err(format!("newline in {out:?}"));
    }
    breaks_are_ours(out)?;
    no_comment(out)?;
    let (shown, omitted) = split_note(out, false);
    check_shown(shown)?;
    let recovered: String = shown
        .replace("[.]", ".")
        .chars()
        .filter(|c| *c != BREAK)
        .collect();
    let total = input.chars().count();
    let expected = normalize_inline(&first_chars(input, total - omitted.unwrap_or(0)));
    // `[.]` in the input reads back as `.` here (plain has no escapes), so
    // compare with the input's own `[.]` folded the same way.
    if !eq_modulo_scheme(&recovered, &expected.replace("[.]", ".")) {
        return Err(format!("plain text: {recovered:?} != {expected:?}"));
    }
    Ok(())
}

/// Parses a code span: (content as displayed, note count). Errs when the
/// span could be closed early, spans lines, or is unbalanced.
pub fn parse_code(out: &str, cell: bool) -> Result<(String, Option<usize>), String> {
    let (span, omitted) = split_note(out, false);
    if span == EMPTY_CELL && cell {
        return Ok((String::new(), omitted));
    }
    if span.is_empty() {
        return Ok((String::new(), omitted));
    }
    if span.contains('\n') || span.contains('\r') {
        return Err(format!("newline in {out:?}"));
    }
    let n = span.chars().take_while(|c| *c == '`').count();
    let m = span.chars().rev().take_while(|c| *c == '`').count();
    if n == 0 || n != m || span.len() < 2 * n {
        return Err(format!("unbalanced code span {out:?}"));
    }
    let mut inner = &span[n..span.len() - n];
    if longest_run(inner, '`') >= n {
        return Err(format!("content can close the span: {out:?}"));
    }
    if inner.starts_with(' ') && inner.ends_with(' ') && !inner.chars().all(|c| c == ' ') {
        inner = &inner[1..inner.len() - 1];
    }
    let mut content = inner.to_owned();
    if cell {
        let chars: Vec<char> = inner.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c == '|' && (i == 0 || chars[i - 1] != '\\') {
                return Err(format!("raw pipe in a cell: {out:?}"));
            }
        }
        content = inner.replace("\\|", "|");
    }
    breaks_are_ours(&content)?;
    no_comment(&content)?;
    if content.to_lowercase().contains("falconry:") {
        return Err(format!("marker prefix in {out:?}"));
    }
    if content.chars().any(|c| is_hidden(c) && c != BREAK) {
        return Err(format!("hidden char in {out:?}"));
    }
    Ok((content.chars().filter(|c| *c != BREAK).collect(), omitted))
}

pub fn check_code(input: &str, cap: usize, out: &str, cell: bool) -> Result<(), String> {
    if out.chars().count() > cap.max(MIN_CAP) {
        return Err(format!("{} chars > cap {cap}", out.chars().count()));
    }
    let (content, omitted) = parse_code(out, cell)?;
    let total = input.chars().count();
    let expected = normalize_inline(&first_chars(input, total - omitted.unwrap_or(0)));
    if content != expected {
        return Err(format!("code: {content:?} != {expected:?}"));
    }
    if omitted == Some(0) {
        return Err("note with nothing left out".into());
    }
    Ok(())
}

pub fn check_fence(input: &str, cap: usize, out: &str) -> Result<(), String> {
    if out.chars().count() > cap.max(MIN_CAP) {
        return Err(format!("{} chars > cap {cap}", out.chars().count()));
    }
    let lines: Vec<&str> = out.split('\n').collect();
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Err("empty".into());
    };
    let n = first.chars().take_while(|c| *c == '`').count();
    if n < 3 || *last != "`".repeat(n) || lines.len() < 2 {
        return Err(format!("bad fence lines in {out:?}"));
    }
    if first[n..]
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-')))
    {
        return Err(format!("bad info string in {first:?}"));
    }
    let inner = &lines[1..lines.len() - 1];
    for line in inner {
        // A closing fence: up to three spaces, n or more backticks, blanks.
        let t = line.trim_start_matches(' ');
        let indent = line.len() - t.len();
        let ticks = t.chars().take_while(|c| *c == '`').count();
        if indent <= 3 && ticks >= n && t[ticks..].trim().is_empty() {
            return Err(format!("line {line:?} closes the fence"));
        }
        if longest_run(line, '`') >= n {
            return Err(format!("backtick run as long as the fence in {line:?}"));
        }
        if line
            .chars()
            .any(|c| (is_hidden(c) && c != '\t' && c != BREAK) || c == '\r')
        {
            return Err(format!("hidden char in {line:?}"));
        }
        if line.to_lowercase().contains("falconry:") {
            return Err(format!("marker prefix in {line:?}"));
        }
    }
    breaks_are_ours(out)?;
    no_comment(out)?;
    let mut inner = inner.to_vec();
    let mut omitted = None;
    if let Some(last) = inner.last()
        && let Some(n) = last
            .strip_prefix("… truncated ")
            .and_then(|r| r.strip_suffix(" chars"))
            .and_then(|n| n.parse::<usize>().ok())
    {
        omitted = Some(n);
        inner.pop();
    }
    let body: String = inner.iter().map(|l| format!("{l}\n")).collect::<String>();
    let body: String = body.chars().filter(|c| *c != BREAK).collect();
    let total = input.chars().count();
    let kept_src = total - omitted.unwrap_or(0);
    // `\r\n` is two input chars for one output `\n`: find the prefix length in
    // input chars by normalising candidate prefixes (the cut never splits one).
    let expected = normalize_fence(&first_chars(input, kept_src));
    let expected = if expected.is_empty() || expected.ends_with('\n') {
        expected
    } else {
        format!("{expected}\n")
    };
    if body != expected {
        return Err(format!("fence body {body:?} != {expected:?}"));
    }
    Ok(())
}
