//! Tests of the escaping functions: exact outputs for the classic attacks,
//! and properties over arbitrary and hostile strings. The checkers (`check.rs`) read
//! the output the way GitHub does (a small Markdown inline decoder), so the
//! properties test what a reader sees, not how the escaper is written.

mod check;

use super::*;
use check::*;
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "@",
    "@octocat",
    "@org/team",
    "a@b",
    "#",
    "#1",
    "#12 ",
    "GH-12",
    "gh-7",
    "owner/repo#3",
    "`",
    "``",
    "```",
    "````",
    "~~~",
    "<",
    ">",
    "&",
    "&lt;",
    "&#64;",
    "<script>alert(1)</script>",
    "<!--",
    "-->",
    "<img src=x onerror=y>",
    "[",
    "]",
    "(",
    ")",
    "[x](http://e.x)",
    "![a](",
    "<http://a.b>",
    "http://",
    "HTTPS://",
    "hTtP://",
    "ftp://",
    "www.",
    "WWW.",
    "evil.example",
    "evil.zip",
    "powershell.exe",
    "1.2.3.4",
    "10.0.0.1:445",
    "::1",
    ".",
    "..",
    "10",
    "\u{202E}",
    "\u{202D}",
    "\u{200B}",
    "\u{200D}",
    "\u{2066}",
    "\u{FEFF}",
    "\u{00AD}",
    "\u{E0041}",
    "\0",
    "\r",
    "\n",
    "\r\n",
    "\t",
    " ",
    "    ",
    "falconry:",
    "FALCONRY:fingerprint=",
    "falconry",
    ":",
    "\\",
    "\\|",
    "|",
    "*",
    "_",
    "$",
    "=",
    "-",
    "+",
    "~",
    "{",
    "}",
    "^",
    "!",
    "1.",
    "1)",
    "- ",
    "> ",
    "# ",
    "é",
    "日本",
    "\u{1F600}",
    "\u{0085}",
    "\u{2028}",
    "x",
];

fn hostile() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        6 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
        2 => any::<char>().prop_map(String::from),
        2 => "[a-zA-Z0-9.]{1,8}",
    ];
    prop::collection::vec(frag, 0..40).prop_map(|v| v.concat())
}

/// The schemes the round trip restores cannot be told from input text that
/// already reads `hxxp://`.
fn restorable(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    !lower.contains("hxxp") && !lower.contains("fxp")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn text_is_safe_and_lossless(s in hostile()) {
        prop_assume!(restorable(&s));
        let out = text(&s, 1 << 20);
        prop_assert_eq!(check_text(&s, 1 << 20, &out), Ok(()));
        let out = cell(&s, 1 << 20);
        prop_assert!(!out.is_empty());
        if !s.is_empty() {
            prop_assert_eq!(check_text(&s, 1 << 20, &out), Ok(()));
        }
    }

    #[test]
    fn text_caps_hold(s in hostile(), cap in 0usize..200) {
        let out = text(&s, cap);
        prop_assert_eq!(check_text(&s, cap, &out), Ok(()));
    }

    #[test]
    fn arbitrary_strings_text(s in any::<String>(), cap in 0usize..400) {
        prop_assume!(restorable(&s));
        prop_assert_eq!(check_text(&s, cap, &text(&s, cap)), Ok(()));
        prop_assert_eq!(check_plain(&s, cap, &plain(&s, cap)), Ok(()));
        prop_assert_eq!(check_code(&s, cap, &code_span(&s, cap), false), Ok(()));
        prop_assert_eq!(check_fence(&s, cap, &fence(&s, "txt", cap)), Ok(()));
    }

    #[test]
    fn plain_is_safe(s in hostile(), cap in 0usize..300) {
        prop_assert_eq!(check_plain(&s, cap, &plain(&s, cap)), Ok(()));
    }

    #[test]
    fn code_spans_hold(s in hostile(), cap in 0usize..300) {
        prop_assert_eq!(check_code(&s, cap, &code_span(&s, cap), false), Ok(()));
        prop_assert_eq!(check_code(&s, cap, &code_cell(&s, cap), true), Ok(()));
        prop_assert_eq!(check_code(&s, 1 << 20, &code_span(&s, 1 << 20), false), Ok(()));
    }

    #[test]
    fn fences_hold(s in hostile(), cap in 0usize..400, lang in "[a-z`~ {}]{0,6}") {
        prop_assert_eq!(check_fence(&s, cap, &fence(&s, &lang, cap)), Ok(()));
        prop_assert_eq!(check_fence(&s, 1 << 20, &fence(&s, &lang, 1 << 20)), Ok(()));
    }
}

#[test]
fn checkers_catch_unsafe_output() {
    // The checkers must fail on what the escaper must never produce;
    // otherwise the properties above prove nothing.
    assert!(check_text("@a", 100, "@a").is_err());
    assert!(check_text("#1", 100, "\\#1").is_err());
    assert!(check_text("[x](y)", 100, "[x](y)").is_err());
    assert!(check_text("http://a.b", 100, "http://a[.]b").is_err());
    assert!(check_text("1.2.3.4", 100, "1\\.2.3.4").is_err());
    assert!(check_text("evil.example", 100, "evil.example").is_err());
    assert!(check_text("ab", 100, "a").is_err());
    assert!(check_text("a\u{202E}", 100, "a\u{202E}").is_err());
    assert!(check_text("GH-1", 100, "GH\\-1").is_err());
    assert!(check_code("a`b", 100, "`a`b`", false).is_err());
    assert!(check_code("a|b", 100, "`a|b`", true).is_err());
    assert!(check_fence("```", 100, "```\n```\n```").is_err());
    assert!(check_code("<!--", 100, "`<!--`", false).is_err());
    assert!(check_plain("x", 100, &"x".repeat(60)).is_err());
}

#[test]
fn classic_attacks() {
    let b = BREAK;
    assert_eq!(text("@octocat", 100), format!("@{b}octocat"));
    assert_eq!(text("@org/team", 100), format!("@{b}org/team"));
    assert_eq!(text("see #12", 100), format!("see \\#{b}12"));
    assert_eq!(text("GH-12", 100), format!("GH\\-{b}12"));
    assert_eq!(text("owner/repo#3", 100), format!("owner/repo\\#{b}3"));
    assert_eq!(text("[x](http://e.x)", 100), "\\[x\\]\\(hxxp://e.x\\)");
    assert_eq!(text("![a](b)", 100), "\\!\\[a\\]\\(b\\)");
    assert_eq!(text("<!-- x -->", 100), "&lt;\\!\\-\\- x \\-\\-&gt;");
    assert_eq!(text("<script>", 100), "&lt;script&gt;");
    assert_eq!(
        text("https://evil.example/a", 100),
        "hxxps://evil[.]example/a"
    );
    assert_eq!(text("1.2.3.4", 100), "1\\.2.3[.]4");
    assert_eq!(text("go to 10.0.0.1:445", 100), "go to 10.0.0[.]1:445");
    assert_eq!(text("www.x", 100), "www[.]x");
    assert_eq!(text("powershell.exe", 100), "powershell.exe");
    assert_eq!(
        text("invoice.pdf\u{202E}exe.zip", 100),
        "invoice.pdf&lt;U\\+202E&gt;exe[.]zip"
    );
    assert_eq!(text("a\nb\r\nc", 100), "a b  c");
    assert_eq!(text(" indented", 100), "&#32;indented");
    assert_eq!(text("1. item", 100), "1\\. item");
    assert_eq!(
        text("falconry:fingerprint=ab", 100),
        format!("falconry{b}:fingerprint\\=ab")
    );
    assert_eq!(cell("", 100), "—");
    assert_eq!(cell("a|b", 100), "a\\|b");
    assert_eq!(
        plain("@x #1 http://e.example", 100),
        format!("@{b}x #{b}1 hxxp://e[.]example")
    );
    assert_eq!(code_span("a`b", 100), "``a`b``");
    assert_eq!(code_span("`a", 100), "`` `a ``");
    assert_eq!(code_span(" a ", 100), "`  a  `");
    assert_eq!(code_span("a\nb", 100), "`a b`");
    assert_eq!(code_span("", 100), "");
    assert_eq!(code_cell("", 100), "—");
    assert_eq!(code_cell("a|b", 100), "`a\\|b`");
    assert_eq!(code_span("x\u{202E}y", 100), "`x<U+202E>y`");
    assert_eq!(fence("a\n````\nb", "sh", 100), "`````sh\na\n````\nb\n`````");
    assert_eq!(fence("", "", 100), "```\n```");
    assert_eq!(fence("a\rb\r\n", "json", 100), "```json\na\nb\n```");
}

/// What responders read (#12.18): names, versions and paths are left as
/// they are; what could become a link or a lookup is defanged.
#[test]
fn names_versions_and_paths_are_not_defanged() {
    assert_eq!(text("t.ferreira", 100), "t.ferreira");
    assert_eq!(plain("login by t.ferreira", 100), "login by t.ferreira");
    assert_eq!(text("sensor 7.21.20108.0", 100), "sensor 7.21.20108.0");
    assert_eq!(cell("10.20.30.42", 100), "10.20.30[.]42");
    assert_eq!(cell("7.21.20108.0", 100), "7.21.20108.0");
    assert_eq!(
        text("C:\\Users\\t.ferreira\\Downloads\\invoice.zip", 100),
        "C:\\\\Users\\\\t.ferreira\\\\Downloads\\\\invoice.zip"
    );
    assert_eq!(text("/home/ops/notes.io", 100), "/home/ops/notes.io");
    // Still defanged: domains, URLs (their host after `//`), e-mail domains, IPv4.
    assert_eq!(text("evil.com", 100), "evil[.]com");
    assert_eq!(
        text("see //cdn.evil.ru/x.zip", 100),
        "see //cdn[.]evil[.]ru/x.zip"
    );
    assert_eq!(
        text("t.ferreira@corp.example.com", 100),
        format!("t.ferreira@{BREAK}corp[.]example[.]com")
    );
    assert_eq!(
        text("not 256.1.1.1 but 1.1.1.1", 100),
        "not 256.1.1.1 but 1.1.1[.]1"
    );
}

#[test]
fn truncation_notes() {
    let s = "a".repeat(100);
    let out = text(&s, 60);
    assert_eq!(out, format!("{} … \\(+57 chars\\)", "a".repeat(43)));
    assert!(out.chars().count() <= 60);
    let out = code_span(&s, 60);
    assert!(out.starts_with("`aaa"), "{out}");
    assert!(out.ends_with("` … (+59 chars)"), "{out}");
    let out = fence(&"line\n".repeat(100), "", 60);
    assert!(out.ends_with("… truncated 470 chars\n```"), "{out}");
}

#[test]
fn caps_never_leave_a_domain_behind() {
    // A cut inside `fdp.exe` must not show `fdp.ex` (a live-looking domain).
    let s = "see fdp.exe or www.x or 10.1.2.3 ".repeat(20);
    for cap in MIN_CAP..300 {
        assert_eq!(check_text(&s, cap, &text(&s, cap)), Ok(()), "text {cap}");
        assert_eq!(check_plain(&s, cap, &plain(&s, cap)), Ok(()), "plain {cap}");
    }
}

#[test]
fn hostile_corpus() {
    let megabyte = "powershell -enc ".to_owned() + &"A".repeat(1 << 20);
    let ticks = "`".repeat(1 << 19) + "x" + &"`".repeat(1 << 19);
    let fences = "```\n~~~\n".repeat(1 << 16);
    let mut corpus: Vec<String> = FRAGMENTS
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    corpus.extend([
        "@octocat please look at #1 and GH-2 and octo/repo#3".to_owned(),
        "[click](http://evil.example/x) ![img](https://evil.example/i.png) <http://a.b>".to_owned(),
        "<script>alert(1)</script><!-- --><details><summary>x</summary>".to_owned(),
        "cmd.exe /c \u{202E}fdp.exe & whoami | more".to_owned(),
        "\0\0\r\r\n\u{2066}\u{2069}\u{200E}\u{200F}".to_owned(),
        "| a | b |\n|---|---|".to_owned(),
        "# heading\n- list\n> quote\n    code\n===".to_owned(),
        "-->falconry:fingerprint=deadbeef<!--".to_owned(),
        // Cases proptest found while this was written.
        "awww.".to_owned(),
        "a.www.A".to_owned(),
        "\u{7f}\u{e0100}".to_owned(),
        "¹GH-12".to_owned(),
        "cmd.exe /c \u{202E}fdp.exe".to_owned(),
        "`<!--:\revil.zip:http://\u{202e}aa0.A0evil.examplepowershell.exe@@@@@@@@@@@@@@@@".to_owned(),
        "(\\[owner/repo#3.a@b:powershell.exe::1\r\r```a@b![a](\u{85}[x](http://e.x)#12 \u{85}aA0.AaGH-12\u{202e}".to_owned(),
        megabyte,
        ticks,
        fences,
    ]);
    for s in &corpus {
        for cap in [0, 48, 60, 100, 141, 4000] {
            if restorable(s) {
                assert_eq!(check_text(s, cap, &text(s, cap)), Ok(()), "text {cap}");
            }
            assert_eq!(check_plain(s, cap, &plain(s, cap)), Ok(()), "plain {cap}");
            assert_eq!(
                check_code(s, cap, &code_span(s, cap), false),
                Ok(()),
                "code {cap}"
            );
            assert_eq!(
                check_code(s, cap, &code_cell(s, cap), true),
                Ok(()),
                "cell {cap}"
            );
            assert_eq!(
                check_fence(s, cap, &fence(s, "sh", cap)),
                Ok(()),
                "fence {cap}"
            );
        }
    }
}
