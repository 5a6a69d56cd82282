//! Release names. A name ends up in a Rust string literal, S3 keys, URLs, a shell
//! script, a git branch and a Buildkite field, so only characters that are inert in all
//! of them are allowed, and names that already mean something in the bucket layout are
//! reserved.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The rule, worded for the person who typed a refused name.
pub const RULE: &str = "a release name is 1 to 64 characters of ASCII letters, digits, \
    '.', '_' and '-', starts with a letter or digit, contains no '..', \
    does not end with '.' or '.lock' (git refuses such branch names), \
    and is not 'alpha' or 'latest'";

/// The same rule as one regular expression, for the Buildkite block step's `format`,
/// which browsers apply as an HTML `pattern` (JavaScript, anchored, `v` flag): hence no
/// inline flags and an escaped `-`. A test runs it in node against a table of names.
pub const PATTERN: &str = r"(?![Aa][Ll][Pp][Hh][Aa]$|[Ll][Aa][Tt][Ee][Ss][Tt]$)(?!.*\.\.)(?!.*\.$)(?!.*\.lock$)[A-Za-z0-9][A-Za-z0-9._\-]{0,63}";

const MAX_LEN: usize = 64;
const RESERVED: [&str; 2] = ["alpha", "latest"];

/// A validated release name, such as `v2024.06.1`. Holding one means the rules above
/// were checked; nothing else in the xtask re-validates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReleaseTag(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagError {
    Empty,
    TooLong { len: usize },
    BadCharacter { name: String, character: char, position: usize },
    BadStart { name: String, character: char },
    DoubleDot { name: String },
    BadEnd { name: String, end: &'static str },
    Reserved { name: String },
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagError::Empty => write!(f, "the release name is empty"),
            TagError::TooLong { len } => {
                write!(f, "the release name is {len} characters long, more than {MAX_LEN}")
            }
            TagError::BadCharacter { name, character, position } => write!(
                f,
                "release name {name:?} has the character {character:?} at position {position}, which is not allowed"
            ),
            TagError::BadStart { name, character } => {
                write!(f, "release name {name:?} starts with {character:?}; it must start with a letter or digit")
            }
            TagError::DoubleDot { name } => write!(f, "release name {name:?} contains '..'"),
            TagError::BadEnd { name, end } => {
                write!(f, "release name {name:?} ends with {end:?}, which git refuses in a branch name")
            }
            TagError::Reserved { name } => {
                write!(f, "release name {name:?} is reserved: it already names a part of the bucket layout")
            }
        }?;
        write!(f, " (rule: {RULE})")
    }
}

impl std::error::Error for TagError {}

impl ReleaseTag {
    pub fn parse(name: &str) -> Result<Self, TagError> {
        let first = name.chars().next().ok_or(TagError::Empty)?;
        let len = name.chars().count();
        if len > MAX_LEN {
            return Err(TagError::TooLong { len });
        }
        if let Some((position, character)) =
            name.chars().enumerate().find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(TagError::BadCharacter { name: name.into(), character, position: position + 1 });
        }
        if !first.is_ascii_alphanumeric() {
            return Err(TagError::BadStart { name: name.into(), character: first });
        }
        if name.contains("..") {
            return Err(TagError::DoubleDot { name: name.into() });
        }
        if let Some(end) = [".lock", "."].into_iter().find(|end| name.ends_with(end)) {
            return Err(TagError::BadEnd { name: name.into(), end });
        }
        if RESERVED.iter().any(|reserved| reserved.eq_ignore_ascii_case(name)) {
            return Err(TagError::Reserved { name: name.into() });
        }
        Ok(ReleaseTag(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReleaseTag {
    type Err = TagError;
    fn from_str(name: &str) -> Result<Self, TagError> {
        ReleaseTag::parse(name)
    }
}

impl TryFrom<String> for ReleaseTag {
    type Error = TagError;
    fn try_from(name: String) -> Result<Self, TagError> {
        ReleaseTag::parse(&name)
    }
}

impl From<ReleaseTag> for String {
    fn from(tag: ReleaseTag) -> String {
        tag.0
    }
}

impl fmt::Display for ReleaseTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_made_of_allowed_characters() {
        for name in [
            "v1",
            "2024.06.1",
            "v2024.06.1-rc.1",
            "beta_3",
            "a",
            "0",
            "Release-7",
            "alpha2",
            "latest-fix",
            "1.2.3",
            "v1.locker",
            "v1.LOCK",
            "f3c1a9e2b7d04c5e8a6b9d0c1e2f3a4b5c6d7e8f",
            &"x".repeat(64),
        ] {
            let tag = ReleaseTag::parse(name).unwrap_or_else(|e| panic!("{name:?} refused: {e}"));
            assert_eq!(tag.as_str(), name);
        }
    }

    #[test]
    fn refuses_names_that_break_a_rule_and_says_which() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("v 1", "' ' at position 2"),
            (" v1", "' ' at position 1"),
            ("v1 ", "' ' at position 3"),
            ("v\"1", "'\"' at position 2"),
            ("v'1", "'\\'' at position 2"),
            ("v\\1", "'\\\\' at position 2"),
            ("v/1", "'/' at position 2"),
            ("../v1", "'/' at position 3"),
            ("v1..2", "contains '..'"),
            ("v1..", "contains '..'"),
            ("v1.", "ends with \".\""),
            ("v1.lock", "ends with \".lock\""),
            ("vé", "'é' at position 2"),
            ("v1\u{7}", "'\\u{7}' at position 3"),
            ("v1\n", "'\\n' at position 3"),
            ("v1\t", "'\\t' at position 3"),
            (&"x".repeat(65), "65 characters long"),
            ("alpha", "reserved"),
            ("latest", "reserved"),
            ("ALPHA", "reserved"),
            ("-v1", "starts with '-'"),
            (".v1", "starts with '.'"),
            ("_v1", "starts with '_'"),
            ("v1;rm", "';' at position 3"),
            ("$(id)", "'$' at position 1"),
            ("v1*", "'*' at position 3"),
            ("v1?x=1", "'?' at position 3"),
            ("v1#", "'#' at position 3"),
            ("v1%20", "'%' at position 3"),
        ];
        for (name, reason) in cases {
            let error = ReleaseTag::parse(name).expect_err(name).to_string();
            assert!(error.contains(reason), "{name:?}: expected {reason:?} in {error:?}");
            assert!(error.ends_with(&format!("(rule: {RULE})")), "{error}");
        }
    }
}
