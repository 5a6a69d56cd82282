//! Where `verify` downloads a release from. It checks what customers get, and their
//! scripts download over HTTPS only, so plain HTTP is accepted only to this machine (an
//! emulator), where nothing crosses a network that could change the bytes.

use std::fmt;

/// An `https://` URL, or an `http://` URL whose host is 127.0.0.1, localhost or [::1];
/// no user name or password in it. Kept without a trailing '/'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadBase(String);

impl DownloadBase {
    pub fn parse(text: &str) -> Result<DownloadBase, String> {
        let url = text.trim_end_matches('/');
        let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(format!("{text:?} is not a URL: expected https://<host>[/<path>]")),
        };
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let host = match authority.strip_prefix('[') {
            Some(bracketed) => &authority[..bracketed.find(']').map_or(authority.len(), |end| end + 2)],
            None => &authority[..authority.find(':').unwrap_or(authority.len())],
        };
        if host.is_empty() || authority.contains('@') || url.contains(char::is_whitespace) {
            return Err(format!(
                "{text:?} is not a URL to download from: expected https://<host>[/<path>], with no user name, \
                 password or spaces"
            ));
        }
        if !secure && !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(format!(
                "{text:?} is plain HTTP to another machine: verify checks what customers download, and their \
                 scripts refuse anything but HTTPS; use https://, or http:// only to 127.0.0.1, localhost or \
                 [::1] (an emulator on this machine)"
            ));
        }
        Ok(DownloadBase(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DownloadBase {
    type Err = String;
    fn from_str(text: &str) -> Result<DownloadBase, String> {
        DownloadBase::parse(text)
    }
}

impl fmt::Display for DownloadBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_plain_http_only_to_this_machine() {
        for good in [
            "https://downloads.example.com",
            "https://bucket.s3.us-east-2.amazonaws.com/prefix/",
            "https://127.0.0.1:8443",
            "http://127.0.0.1:5000",
            "http://localhost:5000/bucket",
            "http://[::1]:5000",
        ] {
            assert_eq!(DownloadBase::parse(good).unwrap().as_str(), good.trim_end_matches('/'));
        }
        for plain in
            ["http://downloads.example.com", "http://127.0.0.2", "http://localhost.example.com", "http://[::2]"]
        {
            assert!(DownloadBase::parse(plain).unwrap_err().contains("plain HTTP to another machine"), "{plain}");
        }
        for malformed in [
            "ftp://example.com",
            "example.com",
            "https://",
            "https://user@example.com",
            "http://127.0.0.1@evil.example",
            "https://a b",
        ] {
            assert!(DownloadBase::parse(malformed).unwrap_err().contains("is not a URL"), "{malformed}");
        }
    }
}
