//! ReadySet's Debian packages as the product's own build publishes them for the images:
//! for each `READYSET_TAG`, under the configured prefix of the internal bucket, the
//! `.deb` files and a `SHA256SUMS` that lists each (`sha256sum` format). This is the
//! contract the product build meets (RELEASE.md, What the images hold).

use anyhow::{bail, Result};

use crate::domain::{config::ReleaseConfig, names::tag::ReleaseTag};

pub const SUMS_FILE: &str = "SHA256SUMS";

/// The key prefix of a tag's packages in the internal bucket.
pub fn prefix(config: &ReleaseConfig, tag: &ReleaseTag) -> String {
    format!("{}{tag}/", config.packages_prefix)
}

/// Whether a file name is a Debian package with a plain name (names and hashes travel
/// as `<file>=<sha256>` words in tags and Packer variables).
pub fn is_package_name(name: &str) -> bool {
    name.ends_with(".deb")
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'))
}

/// The packages a `SHA256SUMS` lists, as (file name, SHA-256), in its order. Refused,
/// naming the line: a line that is not `<64 lowercase hex> <file>` (one or two spaces,
/// or `*` for binary mode), a name that is not a plain `.deb`, a name listed twice, and
/// a file that lists nothing.
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>> {
    let mut packages: Vec<(String, String)> = Vec::new();
    for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let number = index + 1;
        let Some((sha256, name)) = line.split_once(' ') else {
            bail!("{SUMS_FILE} line {number}: {line:?} is not `<sha256>  <file>`");
        };
        let name = name.trim_start_matches(' ').trim_start_matches('*');
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            bail!("{SUMS_FILE} line {number}: {sha256:?} is not a SHA-256 (64 lowercase hex digits)");
        }
        if !is_package_name(name) {
            bail!(
                "{SUMS_FILE} line {number}: {name:?} is not a Debian package file named like readyset_1.2.0_amd64.deb \
                 (letters, digits, '.', '_', '-', '+', '~', ending in .deb)"
            );
        }
        if packages.iter().any(|(listed, _)| listed == name) {
            bail!("{SUMS_FILE} line {number}: {name} is listed twice");
        }
        packages.push((name.to_owned(), sha256.to_owned()));
    }
    if packages.is_empty() {
        bail!("{SUMS_FILE} lists no package");
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::parse_sums;

    const SHA: &str = "4d2fcb0c7a4b8d0d3f9a7c9e1e7a0f5b6c8d2e4f6a8b0c2d4e6f8a0b2c4d6e8f";

    #[test]
    fn reads_sha256sum_output_and_names_each_bad_line() {
        let text = format!("{SHA}  readyset_1.2.0_amd64.deb\n{SHA} *readyset-server_1.2.0_amd64.deb\n\n");
        let listed = parse_sums(&text).unwrap();
        assert_eq!(
            listed.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
            ["readyset_1.2.0_amd64.deb", "readyset-server_1.2.0_amd64.deb"]
        );
        let refusals = [
            ("".to_owned(), "SHA256SUMS lists no package"),
            ("nonsense".to_owned(), "SHA256SUMS line 1: \"nonsense\" is not `<sha256>  <file>`"),
            (format!("{}  a.deb", &SHA[..63]), "line 1: \"4d2f"),
            (format!("{}  a.deb", SHA.to_uppercase()), "is not a SHA-256"),
            (format!("{SHA}  ../etc/passwd.deb"), "line 1: \"../etc/passwd.deb\" is not a Debian package file"),
            (format!("{SHA}  readyset.tar.gz"), "is not a Debian package file"),
            (format!("{SHA}  a.deb\n{SHA}  a.deb"), "SHA256SUMS line 2: a.deb is listed twice"),
        ];
        for (text, expected) in refusals {
            let error = parse_sums(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
