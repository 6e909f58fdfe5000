//! The defanger's decisions for one word of input (a run of letters,
//! digits, `-`, `_`, `.`): which dots become `[.]` (domains, IPv4-like digit
//! runs, `www.`), which URL-scheme `t`s become `x` (`hxxps://`), where a
//! `GH-123` reference gets a break; and, while a capped output is written,
//! where it may be cut without leaving a domain-looking prefix.
//!
//! Pure decisions over chars; the escaping itself is `sanitize.rs`'s.

/// File extensions that are not top-level domains: `powershell.exe` is left
/// alone, `evil.zip` (a real TLD) is defanged.
const NOT_TLDS: &[&str] = &[
    "exe", "dll", "sys", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "hta", "lnk", "msi",
    "msp", "scr", "cpl", "ocx", "drv", "txt", "log", "tmp", "dat", "ini", "cfg", "conf", "pdf",
    "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "csv", "json", "xml", "yml",
    "yaml", "html", "htm", "php", "asp", "aspx", "jsp", "cgi", "jar", "iso", "img", "vhd", "vhdx",
    "eml", "evtx", "etl", "db", "sqlite", "bak", "old", "dmp",
];

/// URL schemes GitHub's autolinker turns into links, longest first.
const SCHEMES: &[&str] = &["https", "http", "ftps", "ftp"];

/// Whether `word` (a run of letters, digits, `-`, `_` and `.`) is a domain
/// name the defanger rewrites: a dot between two non-empty labels and a last
/// label of two or more letters that is not a file extension.
pub fn is_domain(word: &[char]) -> bool {
    let mut labels = word.split(|c| *c == '.').filter(|l| !l.is_empty());
    let Some(last) = labels.next_back() else {
        return false;
    };
    let has_inner_dot = word
        .windows(3)
        .any(|w| w[1] == '.' && w[0] != '.' && w[2] != '.');
    if !has_inner_dot || last.len() < 2 || !last.iter().all(|c| c.is_alphabetic()) {
        return false;
    }
    let lower: String = last.iter().map(char::to_ascii_lowercase).collect();
    !NOT_TLDS.contains(&lower.as_str())
}

/// Part of a word for the defanger: letters, digits, `-`, `_`, `.`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// What the defanger decided for one input character.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Flags {
    /// A `.` written `[.]`.
    pub(super) defang_dot: bool,
    /// A `t` of a URL scheme, written `x`.
    pub(super) scheme_x: bool,
    /// Insert [`super::BREAK`] after it (the `-` of `GH-123`).
    pub(super) break_after: bool,
    /// The next input character is an ASCII letter or digit (for `#`).
    pub(super) next_alnum: bool,
}

/// The defanger's decisions for one word (see [`is_domain`]); `scheme` is
/// whether `://` follows it.
pub(super) fn word_flags(word: &[char], scheme: bool, flags: &mut Vec<Flags>) {
    flags.clear();
    flags.resize(word.len(), Flags::default());
    let n = word.len();
    // `www.` anywhere, whatever follows.
    for i in 0..n.saturating_sub(3) {
        if word[i..i + 3].iter().all(|c| c.eq_ignore_ascii_case(&'w')) && word[i + 3] == '.' {
            flags[i + 3].defang_dot = true;
        }
    }
    // Dotted digit runs (IPv4 and the like): every dot from the third on.
    let mut i = 0;
    while i < n {
        if word[i].is_ascii_digit() && (i == 0 || !word[i - 1].is_ascii_digit()) {
            let mut j = i;
            let mut dots = 0;
            loop {
                while j < n && word[j].is_ascii_digit() {
                    j += 1;
                }
                if j + 1 < n && word[j] == '.' && word[j + 1].is_ascii_digit() {
                    if dots >= 2 {
                        flags[j].defang_dot = true;
                    }
                    dots += 1;
                    j += 1;
                } else {
                    break;
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    // `GH-123`, wherever it starts (over-breaking costs nothing).
    for i in 0..n.saturating_sub(3) {
        if word[i].eq_ignore_ascii_case(&'g')
            && word[i + 1].eq_ignore_ascii_case(&'h')
            && word[i + 2] == '-'
            && word[i + 3].is_ascii_digit()
        {
            flags[i + 2].break_after = true;
        }
    }
    // A URL scheme the autolinker knows: its `t`s become `x`.
    if scheme {
        let lower: String = word.iter().map(char::to_ascii_lowercase).collect();
        if let Some(s) = SCHEMES.iter().find(|s| lower.ends_with(**s)) {
            for k in n - s.len()..n {
                if word[k].eq_ignore_ascii_case(&'t') {
                    flags[k].scheme_x = true;
                }
            }
        }
    }
    // Domains, last: a defanged dot splits the word the reader sees, so each
    // piece between defanged dots that still reads as a domain gets all its
    // inner dots defanged (its pieces are then single labels).
    let mut start = 0;
    while start < n {
        let end = (start..n).find(|&k| flags[k].defang_dot).unwrap_or(n);
        let piece = &word[start..end];
        if is_domain(piece) {
            for k in start + 1..end.saturating_sub(1) {
                if word[k] == '.' && word[k - 1] != '.' && word[k + 1] != '.' {
                    flags[k].defang_dot = true;
                }
            }
        }
        start = end + 1;
    }
}

/// Follows the word being written so a cap never cuts it where the shown
/// prefix would read as a domain (`evil.exe` cut to `evil.ex`): the same
/// test as [`is_domain`], kept up to date one character at a time.
#[derive(Default)]
pub(super) struct DomainGuard {
    /// The piece since the last defanged dot has a dot between two non-dots.
    inner_dot: bool,
    /// The two previous characters of the piece.
    prev: Option<char>,
    prev2: Option<char>,
    /// The label being written, and the last non-empty one.
    label: Label,
    last: Label,
}

#[derive(Default, Clone)]
struct Label {
    len: usize,
    alpha: bool,
    lower: String,
}

impl Label {
    fn push(&mut self, c: char) {
        self.alpha = (self.len == 0 || self.alpha) && c.is_alphabetic();
        self.len += 1;
        if self.len <= 8 {
            self.lower.push(c.to_ascii_lowercase());
        }
    }

    /// Could end a domain name: two or more letters, not a file extension.
    fn tld_like(&self) -> bool {
        self.alpha && self.len >= 2 && (self.len > 8 || !NOT_TLDS.contains(&self.lower.as_str()))
    }
}

impl DomainGuard {
    /// Takes the next character of the word; returns whether the output may
    /// be cut after it.
    pub(super) fn push(&mut self, c: char, f: Flags) -> bool {
        if c == '.' && f.defang_dot {
            *self = DomainGuard::default();
            return true;
        }
        if c == '.' {
            if self.label.len > 0 {
                self.last = std::mem::take(&mut self.label);
            }
        } else {
            if self.prev == Some('.') && self.prev2.is_some_and(|p| p != '.') {
                self.inner_dot = true;
            }
            self.label.push(c);
        }
        self.prev2 = self.prev;
        self.prev = Some(c);
        let last = if self.label.len > 0 {
            &self.label
        } else {
            &self.last
        };
        !(self.inner_dot && last.tld_like())
    }
}
