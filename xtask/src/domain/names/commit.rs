//! Git commits as the release names them: in AMI tags, template prefixes and build
//! records. Parsed once where they enter (a flag, `BUILDKITE_COMMIT`, `git rev-parse`).

use std::fmt;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// A git commit SHA: 7 to 40 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitId(String);

impl CommitId {
    pub fn parse(text: &str) -> Result<CommitId> {
        if (7..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(CommitId(text.to_owned()))
        } else {
            bail!("{text:?} does not look like a git commit: expected 7 to 40 lowercase hex digits, as `git rev-parse HEAD` prints")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first eight digits, as AMI names carry them.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(8)]
    }

    /// Whether two spellings name the same commit (one may be abbreviated).
    pub fn same_as(&self, other: &CommitId) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }
}

impl std::str::FromStr for CommitId {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<CommitId> {
        CommitId::parse(text)
    }
}

impl TryFrom<String> for CommitId {
    type Error = anyhow::Error;
    fn try_from(text: String) -> Result<CommitId> {
        CommitId::parse(&text)
    }
}

impl From<CommitId> for String {
    fn from(commit: CommitId) -> String {
        commit.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_must_look_like_git_shas() {
        for good in ["0123abc", "0123456789abcdef0123456789abcdef01234567"] {
            assert_eq!(CommitId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "abc", "0123ABC", "../../etc", "0123456789abcdef0123456789abcdef012345678", "main", "v1.2.3"] {
            assert!(CommitId::parse(bad).unwrap_err().to_string().contains("7 to 40 lowercase hex"), "{bad:?}");
        }
        let full = CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
        assert_eq!(full.short(), "01234567");
        assert!(full.same_as(&CommitId::parse("0123456").unwrap()));
        assert!(!full.same_as(&CommitId::parse("1123456").unwrap()));
        let json = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<CommitId>(&json).unwrap(), full);
        assert!(serde_json::from_str::<CommitId>("\"HEAD\"").unwrap_err().to_string().contains("git commit"));
    }
}
