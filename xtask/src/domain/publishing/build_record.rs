//! What one build machine reports about an installer it built: the partial manifest
//! `<published-name>.json` that `build-installer` writes beside the binary and that the
//! publish step collects from every build machine.

use serde::{Deserialize, Serialize};

use crate::domain::{names::commit::CommitId, names::tag::ReleaseTag};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRecord {
    /// Rust target triple it was compiled for.
    pub target: String,
    /// File name it is published under.
    pub published_name: String,
    /// Size in bytes of the stripped binary.
    pub size: u64,
    /// Lowercase hex SHA-256 of the stripped binary.
    pub sha256: String,
    pub readyset_tag: ReleaseTag,
    pub cfn_version: ReleaseTag,
    /// Commit the build was made from, and whether the tree had uncommitted changes.
    pub commit: CommitId,
    pub dirty: bool,
    /// `rustc --version` of the compiler.
    pub rustc: String,
    /// Triple of the machine that built it (and the Buildkite agent, when there is one).
    pub build_host: String,
}

/// Whether `needle` occurs anywhere in `haystack`: how a build proves the binary
/// carries the release it claims.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::publishing::digest::sha256_hex;

    #[test]
    fn contains_finds_a_byte_string_anywhere() {
        assert!(contains(b"\0\0v2024.06.1\0", b"v2024.06.1"));
        assert!(contains(b"v1", b"v1"));
        assert!(!contains(b"v2024.06", b"v2024.06.1"));
        assert!(!contains(b"abc", b""));
    }

    #[test]
    fn a_record_round_trips_and_unknown_fields_and_bad_names_are_refused() {
        let record = BuildRecord {
            target: "x86_64-unknown-linux-musl".into(),
            published_name: "x86_64-unknown-linux-gnu".into(),
            size: 1234,
            sha256: sha256_hex(b"x"),
            readyset_tag: ReleaseTag::parse("v1").unwrap(),
            cfn_version: ReleaseTag::parse("v1").unwrap(),
            commit: CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap(),
            dirty: false,
            rustc: "rustc 1.95.0".into(),
            build_host: "x86_64-unknown-linux-gnu".into(),
        };
        let json = serde_json::to_string_pretty(&record).unwrap();
        assert_eq!(serde_json::from_str::<BuildRecord>(&json).unwrap(), record);
        let extra = json.replacen('{', "{\"signed\": true,", 1);
        let error = serde_json::from_str::<BuildRecord>(&extra).unwrap_err().to_string();
        assert!(error.contains("unknown field `signed`"), "{error}");
        let bad_tag = json.replace("\"readyset_tag\": \"v1\"", "\"readyset_tag\": \"v 1\"");
        let error = serde_json::from_str::<BuildRecord>(&bad_tag).unwrap_err().to_string();
        assert!(error.contains("release name \"v 1\" has the character ' '"), "{error}");
    }
}
