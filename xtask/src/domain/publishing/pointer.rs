//! The signed pointer to the current release (`layout::POINTER_KEY`). The wrapper says
//! which release it installs, but anyone who can write the bucket can put back an older
//! release's wrapper, and an older wrapper is validly signed. The pointer is what the
//! release queue signed last: which release is current, its manifest's and wrapper's
//! SHA-256, a sequence number that only grows and the SHA-256 of the pointer it
//! replaced, so a reader who remembers a pointer can tell a stale one and follow the
//! chain.
//!
//! It is text, one `name value` line each, so a customer's shell checks it with `sed`
//! and `openssl` alone: the signature (ECDSA P-256 over SHA-256, DER, base64 on one
//! line) is the last line and covers every byte before it.

use std::fmt;

use anyhow::{bail, Context, Result};

use crate::domain::{
    names::tag::ReleaseTag,
    publishing::digest::{is_sha256_hex, sha256_hex},
};

/// The first line: what this file is and the version of its format.
const HEADER: &str = "readyset-release-pointer 1";
const SIGNATURE_FIELD: &str = "signature ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePointer {
    pub release: ReleaseTag,
    pub sequence: u64,
    pub manifest_sha256: String,
    pub wrapper_sha256: String,
    /// The SHA-256 of the whole pointer this one replaced (with its signature line);
    /// `None` for the first.
    pub previous_sha256: Option<String>,
}

/// A pointer as the bucket holds it: what it says, the bytes its signature covers, the
/// signature as written (base64), and the SHA-256 of the whole object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPointer {
    pub pointer: ReleasePointer,
    pub body: String,
    pub signature_base64: String,
    pub sha256: String,
}

/// What a publish or rollback does with the pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerChange {
    /// The current pointer already names this release, manifest and wrapper (a rerun).
    Keep,
    /// A new pointer, to be signed and written on the condition that the bucket still
    /// holds the one it follows.
    Write(ReleasePointer),
}

impl ReleasePointer {
    /// The lines the signature covers.
    pub fn body(&self) -> String {
        let previous = self.previous_sha256.as_deref().unwrap_or("none");
        format!(
            "{HEADER}\nrelease {}\nsequence {}\nmanifest-sha256 {}\nwrapper-sha256 {}\nprevious-sha256 {previous}\n",
            self.release, self.sequence, self.manifest_sha256, self.wrapper_sha256
        )
    }

    /// The whole object: the body, then its signature.
    pub fn render(&self, signature_base64: &str) -> String {
        format!("{}{SIGNATURE_FIELD}{signature_base64}\n", self.body())
    }
}

impl SignedPointer {
    /// The object as the bucket holds it.
    pub fn text(&self) -> String {
        format!("{}{SIGNATURE_FIELD}{}\n", self.body, self.signature_base64)
    }
}

impl fmt::Display for ReleasePointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pointer sequence {})", self.release, self.sequence)
    }
}

/// Whether `current` (the pointer the bucket holds, already checked to be signed by the
/// release key) must move to name `release` with these SHA-256s. A rollback is a new
/// pointer like a publish: an old one is never reused, so the sequence always grows.
pub fn change(
    current: Option<&SignedPointer>,
    release: &ReleaseTag,
    manifest_sha256: &str,
    wrapper_sha256: &str,
) -> PointerChange {
    if let Some(current) = current {
        let now = &current.pointer;
        if &now.release == release && now.manifest_sha256 == manifest_sha256 && now.wrapper_sha256 == wrapper_sha256 {
            return PointerChange::Keep;
        }
    }
    PointerChange::Write(ReleasePointer {
        release: release.clone(),
        sequence: current.map_or(1, |current| current.pointer.sequence + 1),
        manifest_sha256: manifest_sha256.to_owned(),
        wrapper_sha256: wrapper_sha256.to_owned(),
        previous_sha256: current.map(|current| current.sha256.clone()),
    })
}

/// Reads a pointer as written by [`ReleasePointer::render`]; anything else is refused
/// with the line at fault. The signature is not checked here (that needs the key).
pub fn parse(text: &str) -> Result<SignedPointer> {
    let (body, signature_line) = text
        .strip_suffix('\n')
        .and_then(|rest| rest.rsplit_once('\n'))
        .map(|(body, last)| (format!("{body}\n"), last))
        .context("a release pointer ends with its signature line and a newline")?;
    let signature_base64 = signature_line
        .strip_prefix(SIGNATURE_FIELD)
        .filter(|value| !value.is_empty())
        .with_context(|| format!("the last line of a release pointer is `{SIGNATURE_FIELD}<base64>`"))?;
    let mut lines = body.lines();
    if lines.next() != Some(HEADER) {
        bail!("a release pointer starts with the line `{HEADER}`");
    }
    let mut field = |name: &str| -> Result<String> {
        let line = lines.next().with_context(|| format!("the release pointer has no `{name}` line"))?;
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::to_owned)
            .with_context(|| format!("expected the release pointer's `{name}` line, found {line:?}"))
    };
    let release = ReleaseTag::parse(&field("release")?).map_err(|e| anyhow::anyhow!("the release pointer's {e}"))?;
    let sequence = field("sequence")?.parse().context("the release pointer's sequence is not a number")?;
    let (manifest_sha256, wrapper_sha256) = (hash(field("manifest-sha256")?)?, hash(field("wrapper-sha256")?)?);
    let previous = field("previous-sha256")?;
    let previous_sha256 = if previous == "none" { None } else { Some(hash(previous)?) };
    let pointer = ReleasePointer { release, sequence, manifest_sha256, wrapper_sha256, previous_sha256 };
    if pointer.body() != body {
        bail!("the release pointer has lines after previous-sha256 or is not in its one written form");
    }
    let signature_base64 = signature_base64.to_owned();
    Ok(SignedPointer { pointer, body, signature_base64, sha256: sha256_hex(text.as_bytes()) })
}

fn hash(value: String) -> Result<String> {
    if !is_sha256_hex(&value) {
        bail!("{value:?} in the release pointer is not a lowercase hex SHA-256");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(release: &str, sequence: u64, previous: Option<&str>) -> ReleasePointer {
        ReleasePointer {
            release: ReleaseTag::parse(release).unwrap(),
            sequence,
            manifest_sha256: "a".repeat(64),
            wrapper_sha256: "b".repeat(64),
            previous_sha256: previous.map(str::to_owned),
        }
    }

    #[test]
    fn a_rendered_pointer_parses_back_and_its_signature_covers_the_body() {
        let written = pointer("v2", 7, Some(&"c".repeat(64)));
        let text = written.render("MEUCIQ==");
        assert_eq!(
            text,
            format!(
                "readyset-release-pointer 1\nrelease v2\nsequence 7\nmanifest-sha256 {}\nwrapper-sha256 {}\n\
                 previous-sha256 {}\nsignature MEUCIQ==\n",
                "a".repeat(64),
                "b".repeat(64),
                "c".repeat(64)
            )
        );
        let read = parse(&text).unwrap();
        assert_eq!(read.pointer, written);
        assert_eq!(read.body, written.body());
        assert_eq!(read.signature_base64, "MEUCIQ==");
        assert_eq!(read.sha256, sha256_hex(text.as_bytes()));
        assert_eq!(read.text(), text);
        assert_eq!(parse(&pointer("v1", 1, None).render("x")).unwrap().pointer.previous_sha256, None);
    }

    #[test]
    fn anything_but_the_written_form_is_refused_naming_the_fault() {
        let good = pointer("v2", 7, None).render("sig");
        let cases = [
            (good.trim_end().to_owned(), "ends with its signature line and a newline"),
            (good.replace("signature sig", "signature "), "`signature <base64>`"),
            (good.replace("readyset-release-pointer 1", "readyset-release-pointer 2"), "starts with the line"),
            (good.replace("release v2", "release ../v2"), "the release pointer's release name"),
            (good.replace("sequence 7", "sequence -1"), "sequence is not a number"),
            (good.replace("sequence 7\n", ""), "expected the release pointer's `sequence` line"),
            (good.replace(&"a".repeat(64), &"A".repeat(64)), "not a lowercase hex SHA-256"),
            (good.replace("previous-sha256 none\n", "previous-sha256 none\nextra 1\n"), "one written form"),
            (good.replace("sequence 7", "sequence 07"), "one written form"),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", parse(&text).unwrap_err());
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn the_sequence_grows_by_one_and_chains_to_the_pointer_it_replaces() {
        let v2 = ReleaseTag::parse("v2").unwrap();
        let first = change(None, &v2, &"a".repeat(64), &"b".repeat(64));
        assert_eq!(first, PointerChange::Write(pointer("v2", 1, None)));

        let current = parse(&pointer("v1", 4, None).render("sig")).unwrap();
        let PointerChange::Write(next) = change(Some(&current), &v2, &"a".repeat(64), &"b".repeat(64)) else {
            panic!("v1 is served, so the pointer moves to v2");
        };
        assert_eq!(next, pointer("v2", 5, Some(&current.sha256)));

        let served = parse(&next.render("sig")).unwrap();
        assert_eq!(change(Some(&served), &v2, &"a".repeat(64), &"b".repeat(64)), PointerChange::Keep);
        let other_wrapper = change(Some(&served), &v2, &"a".repeat(64), &"d".repeat(64));
        assert!(matches!(other_wrapper, PointerChange::Write(ReleasePointer { sequence: 6, .. })));
    }
}
