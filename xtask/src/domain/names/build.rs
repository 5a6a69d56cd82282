//! Buildkite builds as the release lock names them. Parsed once where they enter
//! (`--build "$BUILDKITE_BUILD_ID"`).

use std::fmt;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// A Buildkite build ID (a UUID), or any name of letters, digits and dashes that a
/// person gives a release run outside Buildkite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BuildId(String);

impl BuildId {
    pub fn parse(text: &str) -> Result<BuildId> {
        let valid = (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            bail!(
                "{text:?} is not a build ID: expected 1 to 64 letters, digits and dashes, such as Buildkite's \
                 $BUILDKITE_BUILD_ID"
            );
        }
        Ok(BuildId(text.to_owned()))
    }
}

impl std::str::FromStr for BuildId {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<BuildId> {
        BuildId::parse(text)
    }
}

impl TryFrom<String> for BuildId {
    type Error = anyhow::Error;
    fn try_from(text: String) -> Result<BuildId> {
        BuildId::parse(&text)
    }
}

impl From<BuildId> for String {
    fn from(id: BuildId) -> String {
        id.0
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_id_is_letters_digits_and_dashes() {
        assert!(BuildId::parse("0190a3c2-7e1b-4f7a-9c55-2b7f7e0d9a11").is_ok());
        for bad in ["", "../b42", "a b", &"x".repeat(65), "b42\n"] {
            let error = BuildId::parse(bad).unwrap_err().to_string();
            assert!(error.contains("is not a build ID"), "{bad:?}: {error}");
        }
    }
}
