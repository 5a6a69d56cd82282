//! SHA-256 as the release uses it: lowercase hex everywhere, and the line format
//! `sha256sum -c` reads.

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A line `sha256sum -c` accepts: the hash, two spaces (text mode) and the file name.
pub fn checksum_line(sha256: &str, file_name: &str) -> String {
    format!("{sha256}  {file_name}\n")
}

/// Whether `text` is a lowercase hex SHA-256.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_line_is_in_sha256sum_format() {
        let hash = sha256_hex(b"abc");
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(is_sha256_hex(&hash) && !is_sha256_hex(&hash.to_uppercase()) && !is_sha256_hex("ab"));
        assert_eq!(checksum_line(&hash, "x86_64-unknown-linux-gnu"), format!("{hash}  x86_64-unknown-linux-gnu\n"));
    }
}
