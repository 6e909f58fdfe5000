//! The defanger's decisions for one word of input (a run of letters,
//! digits, `-`, `_`, `.`): which dots become `[.]` (domains, IPv4-like digit
//! runs, `www.`), which URL-scheme `t`s become `x` (`hxxps://`), where a
//! `GH-123` reference gets a break; and, while a capped output is written,
//! where it may be cut without leaving a domain-looking prefix.
//!
//! Pure decisions over chars; the escaping itself is `sanitize.rs`'s.

/// Top-level domains a word must end in to be defanged as a domain name:
/// every two-letter country code, the original generic ones, the newer ones
/// seen in phishing and malware, and the reserved ones (`example`, `test`, …). A dotted name ending in anything else
/// (`t.ferreira`, `powershell.exe`, `setup.log`) is a name, not a domain.
/// Sorted, for a binary search.
const TLDS: &[&str] = &[
    "ac",
    "academy",
    "ad",
    "ae",
    "aero",
    "af",
    "ag",
    "agency",
    "ai",
    "al",
    "am",
    "ao",
    "app",
    "aq",
    "ar",
    "arpa",
    "as",
    "asia",
    "at",
    "au",
    "aw",
    "ax",
    "az",
    "ba",
    "bar",
    "bb",
    "bd",
    "be",
    "bf",
    "bg",
    "bh",
    "bi",
    "bid",
    "biz",
    "bj",
    "blog",
    "bm",
    "bn",
    "bo",
    "br",
    "bs",
    "bt",
    "buzz",
    "bw",
    "by",
    "bz",
    "ca",
    "cam",
    "cat",
    "cc",
    "cd",
    "center",
    "cf",
    "cfd",
    "cg",
    "ch",
    "ci",
    "ck",
    "cl",
    "click",
    "cloud",
    "club",
    "cm",
    "cn",
    "co",
    "com",
    "company",
    "coop",
    "cr",
    "cu",
    "cv",
    "cw",
    "cx",
    "cy",
    "cyou",
    "cz",
    "de",
    "dev",
    "digital",
    "dj",
    "dk",
    "dm",
    "do",
    "download",
    "dz",
    "ec",
    "edu",
    "ee",
    "eg",
    "email",
    "er",
    "es",
    "et",
    "eu",
    "example",
    "fi",
    "fj",
    "fk",
    "fm",
    "fo",
    "fr",
    "fun",
    "ga",
    "gb",
    "gd",
    "ge",
    "gf",
    "gg",
    "gh",
    "gi",
    "gl",
    "global",
    "gm",
    "gn",
    "gov",
    "gp",
    "gq",
    "gr",
    "group",
    "gs",
    "gt",
    "gu",
    "gw",
    "gy",
    "help",
    "hk",
    "hm",
    "hn",
    "host",
    "hr",
    "ht",
    "hu",
    "icu",
    "id",
    "ie",
    "il",
    "im",
    "in",
    "info",
    "int",
    "invalid",
    "io",
    "iq",
    "ir",
    "is",
    "it",
    "je",
    "jm",
    "jo",
    "jobs",
    "jp",
    "ke",
    "kg",
    "kh",
    "ki",
    "km",
    "kn",
    "kp",
    "kr",
    "kw",
    "ky",
    "kz",
    "la",
    "lb",
    "lc",
    "li",
    "life",
    "link",
    "live",
    "lk",
    "loan",
    "localhost",
    "lol",
    "lr",
    "ls",
    "lt",
    "ltd",
    "lu",
    "lv",
    "ly",
    "ma",
    "mc",
    "md",
    "me",
    "men",
    "mg",
    "mh",
    "mil",
    "mk",
    "ml",
    "mm",
    "mn",
    "mo",
    "mobi",
    "monster",
    "mov",
    "mp",
    "mq",
    "mr",
    "ms",
    "mt",
    "mu",
    "museum",
    "mv",
    "mw",
    "mx",
    "my",
    "mz",
    "na",
    "name",
    "nc",
    "ne",
    "net",
    "network",
    "news",
    "nf",
    "ng",
    "ni",
    "nl",
    "no",
    "np",
    "nr",
    "nu",
    "nz",
    "om",
    "one",
    "onion",
    "online",
    "org",
    "pa",
    "page",
    "pe",
    "pf",
    "pg",
    "ph",
    "pk",
    "pl",
    "pm",
    "pn",
    "post",
    "pr",
    "press",
    "pro",
    "ps",
    "pt",
    "pw",
    "py",
    "qa",
    "quest",
    "re",
    "rest",
    "ro",
    "rs",
    "ru",
    "run",
    "rw",
    "sa",
    "sb",
    "sbs",
    "sc",
    "sd",
    "se",
    "services",
    "sg",
    "sh",
    "shop",
    "si",
    "site",
    "sk",
    "sl",
    "sm",
    "sn",
    "so",
    "solutions",
    "space",
    "sr",
    "ss",
    "st",
    "store",
    "su",
    "support",
    "sv",
    "sx",
    "sy",
    "systems",
    "sz",
    "tc",
    "td",
    "tech",
    "tel",
    "test",
    "tf",
    "tg",
    "th",
    "tj",
    "tk",
    "tl",
    "tm",
    "tn",
    "to",
    "today",
    "top",
    "tr",
    "travel",
    "tt",
    "tv",
    "tw",
    "tz",
    "ua",
    "ug",
    "uk",
    "us",
    "uy",
    "uz",
    "va",
    "vc",
    "ve",
    "vg",
    "vi",
    "vip",
    "vn",
    "vu",
    "website",
    "wf",
    "win",
    "work",
    "world",
    "ws",
    "xin",
    "xxx",
    "xyz",
    "ye",
    "yt",
    "za",
    "zip",
    "zm",
    "zw",
];

/// Whether `label` (lower-case) is a top-level domain in [`TLDS`].
fn is_tld(label: &str) -> bool {
    TLDS.binary_search(&label).is_ok()
}

/// URL schemes GitHub's autolinker turns into links, longest first.
const SCHEMES: &[&str] = &["https", "http", "ftps", "ftp"];

/// Whether `word` (a run of letters, digits, `-`, `_` and `.`) is a domain
/// name the defanger rewrites: a dot between two non-empty labels and a last
/// label that is a top-level domain ([`TLDS`]).
pub fn is_domain(word: &[char]) -> bool {
    let mut labels = word.split(|c| *c == '.').filter(|l| !l.is_empty());
    let Some(last) = labels.next_back() else {
        return false;
    };
    let has_inner_dot = word
        .windows(3)
        .any(|w| w[1] == '.' && w[0] != '.' && w[2] != '.');
    if !has_inner_dot || last.len() < 2 || !last.iter().all(char::is_ascii_alphabetic) {
        return false;
    }
    let lower: String = last.iter().map(char::to_ascii_lowercase).collect();
    is_tld(&lower)
}

/// Whether a dotted digit run is an IPv4 address: four groups of one to
/// three digits, each at most 255 (`7.21.20108.0`, a version, is not).
pub fn is_ipv4(groups: &[&[char]]) -> bool {
    groups.len() == 4
        && groups.iter().all(|g| {
            (1..=3).contains(&g.len())
                && g.iter()
                    .fold(0u32, |n, d| n * 10 + d.to_digit(10).unwrap_or(0))
                    <= 255
        })
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
/// whether `://` follows it, `path` whether it is a path component (after a
/// `\`, or a single `/`): a file or folder name there is not a domain.
pub(super) fn word_flags(word: &[char], scheme: bool, path: bool, flags: &mut Vec<Flags>) {
    flags.clear();
    flags.resize(word.len(), Flags::default());
    let n = word.len();
    // `www.` anywhere, whatever follows.
    for i in 0..n.saturating_sub(3) {
        if word[i..i + 3].iter().all(|c| c.eq_ignore_ascii_case(&'w')) && word[i + 3] == '.' {
            flags[i + 3].defang_dot = true;
        }
    }
    // Dotted digit runs that are IPv4 addresses: the third dot.
    let mut i = 0;
    while i < n {
        if word[i].is_ascii_digit() && (i == 0 || !word[i - 1].is_ascii_digit()) {
            let mut j = i;
            let mut groups: Vec<&[char]> = Vec::new();
            let mut third = None;
            loop {
                let start = j;
                while j < n && word[j].is_ascii_digit() {
                    j += 1;
                }
                groups.push(&word[start..j]);
                if j + 1 < n && word[j] == '.' && word[j + 1].is_ascii_digit() {
                    if groups.len() == 3 {
                        third = Some(j);
                    }
                    j += 1;
                } else {
                    break;
                }
            }
            if let (true, Some(k)) = (is_ipv4(&groups), third) {
                flags[k].defang_dot = true;
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
    if path {
        return;
    }
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
/// prefix would read as a domain (`evil.exe` cut to `evil.ex`) or an IPv4
/// address (`0.1.2.3.4` cut to `0.1.2.3`): the same tests as [`is_domain`]
/// and [`is_ipv4`], kept up to date one character at a time.
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
    /// The dotted digit run being written.
    ip: IpRun,
}

#[derive(Default)]
struct IpRun {
    /// Groups so far (0: not in a run).
    groups: u32,
    len: u32,
    value: u32,
    /// Every group so far has one to three digits and is at most 255.
    ok: bool,
    /// The previous character was a digit of the run.
    digit: bool,
    /// The previous character was a dot after a digit of the run.
    dot: bool,
}

impl IpRun {
    fn push(&mut self, c: char) {
        match c.to_digit(10) {
            Some(d) => {
                if !self.digit {
                    if self.dot {
                        self.groups += 1;
                    } else {
                        *self = IpRun {
                            groups: 1,
                            ok: true,
                            ..IpRun::default()
                        };
                    }
                    self.len = 0;
                    self.value = 0;
                }
                self.len += 1;
                self.value = self.value.saturating_mul(10).saturating_add(d);
                self.ok &= self.len <= 3 && self.value <= 255;
                (self.digit, self.dot) = (true, false);
            }
            None if c == '.' && self.digit => (self.digit, self.dot) = (false, true),
            None => *self = IpRun::default(),
        }
    }

    /// The run so far, shown whole, would read as an IPv4 address.
    fn live(&self) -> bool {
        self.groups == 4 && self.ok
    }
}

#[derive(Default, Clone)]
struct Label {
    len: usize,
    alpha: bool,
    lower: String,
}

impl Label {
    fn push(&mut self, c: char) {
        self.alpha = (self.len == 0 || self.alpha) && c.is_ascii_alphabetic();
        self.len += 1;
        if self.len <= 24 {
            self.lower.push(c.to_ascii_lowercase());
        }
    }

    /// Could end a domain name: a top-level domain.
    fn tld_like(&self) -> bool {
        self.alpha && self.len >= 2 && self.len <= 24 && is_tld(&self.lower)
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
        self.ip.push(c);
        let last = if self.label.len > 0 {
            &self.label
        } else {
            &self.last
        };
        !(self.ip.live() || (self.inner_dot && last.tld_like()))
    }
}
