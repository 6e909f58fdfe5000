//! A string that must never reach a log line, an error message or an issue
//! body: API keys, AWS secret keys, OAuth client secrets, tokens.
//!
//! `Debug` and `Display` print a fixed placeholder; the value is only reachable
//! through [`Secret::expose`], which makes each use easy to find in review.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret value read from configuration or the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is handed to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"<redacted>\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Secrets come from the environment too, where an all-digit value is
        /// read as a number: accept numbers and keep their text.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            S(String),
            I(i64),
        }
        Ok(match Text::deserialize(d)? {
            Text::S(s) => Secret(s),
            Text::I(i) => Secret(i.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("AKIA-very-secret-value");
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(!format!("{s}").contains("very-secret"));
        assert_eq!(s.expose(), "AKIA-very-secret-value");
    }
}
