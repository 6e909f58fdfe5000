//! The part of the STIX 2.1 patterning language an indicator list needs: an
//! observation (`[...]`) holding one equality comparison, comparisons joined
//! by `OR` inside one observation, and observations joined by `OR`. Every
//! other construct (`AND`, `FOLLOWEDBY`, qualifiers, `LIKE`, `MATCHES`,
//! `IN`, `!=`, object paths falconry cannot read) is *unsupported*, reported
//! as such, never guessed at.

use super::indicator::Kind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// Valid STIX, but not a simple comparison falconry hunts.
    Unsupported(String),
    /// Not a pattern.
    Bad(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
    Str(String),
    Eq,
    Other(String),
}

fn tokens(p: &str) -> Result<Vec<Token>, PatternError> {
    let b = p.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'[' => {
                out.push(Token::Open);
                i += 1;
            }
            b']' => {
                out.push(Token::Close);
                i += 1;
            }
            b'=' => {
                out.push(Token::Eq);
                i += 1;
            }
            b'\'' => {
                let mut s = String::new();
                i += 1;
                let mut closed = false;
                let mut chars = p[i..].char_indices();
                while let Some((off, ch)) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some((_, e @ ('\'' | '\\'))) => s.push(e),
                            _ => return Err(PatternError::Bad("bad escape in a string".into())),
                        },
                        '\'' => {
                            i += off + 1;
                            closed = true;
                            break;
                        }
                        other => s.push(other),
                    }
                }
                if !closed {
                    return Err(PatternError::Bad("unterminated string".into()));
                }
                out.push(Token::Str(s));
            }
            b'!' | b'<' | b'>' => {
                let end = p[i..]
                    .find(|ch: char| !matches!(ch, '!' | '<' | '>' | '='))
                    .map_or(p.len(), |e| i + e);
                out.push(Token::Other(p[i..end].to_owned()));
                i = end;
            }
            _ => {
                // A word: an object path (which may hold quoted parts, as in
                // `file:hashes.'SHA-256'`) or a keyword.
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b' ' | b'\t' | b'\r' | b'\n' | b'[' | b']' | b'=' | b'!' | b'<' | b'>' => {
                            break;
                        }
                        b'\'' if i > start && b[i - 1] == b'.' => {
                            // A quoted path step: to its closing quote.
                            match p[i + 1..].find('\'') {
                                Some(e) => i += e + 2,
                                None => {
                                    return Err(PatternError::Bad("unterminated path step".into()));
                                }
                            }
                        }
                        b'\'' => break,
                        _ => i += 1,
                    }
                }
                if start == i {
                    return Err(PatternError::Bad(format!("unexpected {:?}", c as char)));
                }
                out.push(Token::Word(p[start..i].to_owned()));
            }
        }
    }
    Ok(out)
}

/// The indicator type an object path names.
fn path_kind(path: &str) -> Option<Kind> {
    let (object, property) = path.split_once(':')?;
    let property = property.replace('\'', "").to_ascii_lowercase();
    match (object.to_ascii_lowercase().as_str(), property.as_str()) {
        ("file", "hashes.sha-256" | "hashes.sha256") => Some(Kind::Sha256),
        ("file", "hashes.sha-1" | "hashes.sha1") => Some(Kind::Sha1),
        ("file", "hashes.md5") => Some(Kind::Md5),
        ("file", "name") => Some(Kind::FileName),
        ("domain-name", "value") => Some(Kind::Domain),
        ("ipv4-addr", "value") => Some(Kind::Ipv4),
        ("ipv6-addr", "value") => Some(Kind::Ipv6),
        ("url", "value") => Some(Kind::Url),
        _ => None,
    }
}

/// The comparisons of a pattern that is an `OR` of simple equalities.
pub fn pattern(p: &str) -> Result<Vec<(Kind, String)>, PatternError> {
    let toks = tokens(p)?;
    let mut out = Vec::new();
    let mut i = 0;
    let word =
        |t: Option<&Token>, w: &str| matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    loop {
        if toks.get(i) != Some(&Token::Open) {
            return Err(match toks.get(i) {
                Some(Token::Word(w)) if w.starts_with('(') => {
                    PatternError::Unsupported("with parentheses".into())
                }
                _ => PatternError::Bad("an observation must start with [".into()),
            });
        }
        i += 1;
        loop {
            let Some(Token::Word(path)) = toks.get(i) else {
                return Err(PatternError::Bad("expected an object path".into()));
            };
            if word(toks.get(i), "NOT") {
                return Err(PatternError::Unsupported("with NOT".into()));
            }
            match toks.get(i + 1) {
                Some(Token::Eq) => {}
                Some(Token::Word(op)) => {
                    return Err(PatternError::Unsupported(format!(
                        "with {}",
                        op.to_ascii_uppercase()
                    )));
                }
                Some(Token::Other(op)) => {
                    return Err(PatternError::Unsupported(format!("with {op}")));
                }
                _ => return Err(PatternError::Bad("expected a comparison".into())),
            }
            let Some(Token::Str(value)) = toks.get(i + 2) else {
                return Err(PatternError::Unsupported(
                    "comparing with a non-string".into(),
                ));
            };
            let Some(kind) = path_kind(path) else {
                if !path.contains(':') {
                    return Err(PatternError::Bad(format!("{path:?} is not an object path")));
                }
                return Err(PatternError::Unsupported(format!("on {path}")));
            };
            out.push((kind, value.clone()));
            i += 3;
            match toks.get(i) {
                Some(Token::Close) => {
                    i += 1;
                    break;
                }
                t if word(t, "OR") => i += 1,
                t if word(t, "AND") => return Err(PatternError::Unsupported("with AND".into())),
                _ => return Err(PatternError::Bad("expected ], OR".into())),
            }
        }
        match toks.get(i) {
            None => return Ok(out),
            t if word(t, "OR") => i += 1,
            Some(Token::Word(w)) => {
                return Err(PatternError::Unsupported(format!(
                    "with {}",
                    w.to_ascii_uppercase()
                )));
            }
            _ => return Err(PatternError::Bad("expected OR between observations".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_comparisons() {
        assert_eq!(
            pattern("[file:hashes.'SHA-256' = 'ab']").unwrap(),
            vec![(Kind::Sha256, "ab".into())]
        );
        assert_eq!(
            pattern(
                "[file:hashes.MD5='x' OR file:name = 'it''s'] OR [url:value = 'http://a/\\'q']"
            )
            .err(),
            Some(PatternError::Bad("expected ], OR".into()))
        );
        assert_eq!(
            pattern("[file:hashes.MD5='x' OR file:name = 'it\\'s'] OR [url:value = 'http://a/']")
                .unwrap(),
            vec![
                (Kind::Md5, "x".into()),
                (Kind::FileName, "it's".into()),
                (Kind::Url, "http://a/".into())
            ]
        );
        assert_eq!(
            pattern("[domain-name:value = 'a.example']").unwrap(),
            vec![(Kind::Domain, "a.example".into())]
        );
    }

    #[test]
    fn the_rest_is_unsupported_or_bad() {
        let unsupported = [
            "[file:name = 'a' AND file:size = 3]",
            "[file:name LIKE 'a%']",
            "[file:name MATCHES '^a']",
            "[file:name != 'a']",
            "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [file:name = 'a']",
            "[file:name = 'a'] WITHIN 5 SECONDS",
            "[process:name = 'a']",
            "[file:size = 3]",
            "[file:name IN ('a', 'b')]",
        ];
        for p in unsupported {
            assert!(
                matches!(pattern(p), Err(PatternError::Unsupported(_))),
                "{p}: {:?}",
                pattern(p)
            );
        }
        for p in [
            "",
            "file:name = 'a'",
            "[file:name = 'a'",
            "[file:name = 'a]",
            "[= 'a']",
            "[x = 'a']",
        ] {
            assert!(
                matches!(pattern(p), Err(PatternError::Bad(_))),
                "{p}: {:?}",
                pattern(p)
            );
        }
    }
}
