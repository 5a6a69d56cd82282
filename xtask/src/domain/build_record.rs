//! What one build machine reports about an installer it built: the partial manifest
//! `<published-name>.json` that `build-installer` writes beside the binary and that the
//! publish step collects from every build machine.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    pub readyset_tag: String,
    pub cfn_version: String,
    /// Commit the build was made from, and whether the tree had uncommitted changes.
    pub commit: String,
    pub dirty: bool,
    /// `rustc --version` of the compiler.
    pub rustc: String,
    /// Triple of the machine that built it (and the Buildkite agent, when there is one).
    pub build_host: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A line `sha256sum -c` accepts: the hash, two spaces (text mode) and the file name.
pub fn checksum_line(sha256: &str, file_name: &str) -> String {
    format!("{sha256}  {file_name}\n")
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_line_is_in_sha256sum_format() {
        let hash = sha256_hex(b"abc");
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(checksum_line(&hash, "x86_64-unknown-linux-gnu"), format!("{hash}  x86_64-unknown-linux-gnu\n"));
    }

    #[test]
    fn contains_finds_a_byte_string_anywhere() {
        assert!(contains(b"\0\0v2024.06.1\0", b"v2024.06.1"));
        assert!(contains(b"v1", b"v1"));
        assert!(!contains(b"v2024.06", b"v2024.06.1"));
        assert!(!contains(b"abc", b""));
    }

    #[test]
    fn a_record_round_trips_and_unknown_fields_are_refused() {
        let record = BuildRecord {
            target: "x86_64-unknown-linux-musl".into(),
            published_name: "x86_64-unknown-linux-gnu".into(),
            size: 1234,
            sha256: sha256_hex(b"x"),
            readyset_tag: "v1".into(),
            cfn_version: "v1".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            dirty: false,
            rustc: "rustc 1.95.0".into(),
            build_host: "x86_64-unknown-linux-gnu".into(),
        };
        let json = serde_json::to_string_pretty(&record).unwrap();
        assert_eq!(serde_json::from_str::<BuildRecord>(&json).unwrap(), record);
        let extra = json.replacen('{', "{\"signed\": true,", 1);
        assert!(serde_json::from_str::<BuildRecord>(&extra)
            .unwrap_err()
            .to_string()
            .contains("unknown field `signed`"));
    }
}
