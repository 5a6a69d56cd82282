//! What `signing-key export` decides: whether KMS's key may sign releases, and what to
//! do with the committed public half. The bytes come from KMS and the file; nothing
//! here reads either.

use anyhow::{bail, Result};

use super::digest::sha256_hex;

/// The only key spec and usage a release signing key may have: ECDSA P-256 signatures,
/// which the committed PEM and customers' `openssl dgst -verify` check.
pub const KEY_SPEC: &str = "ECC_NIST_P256";
pub const KEY_USAGE: &str = "SIGN_VERIFY";

/// What KMS says about the key behind the alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKey {
    pub alias: String,
    pub key_id: String,
    pub spec: String,
    pub usage: String,
    /// The public half, DER (SubjectPublicKeyInfo), as GetPublicKey answers it.
    pub der: Vec<u8>,
}

impl KmsKey {
    /// Refuses a key that cannot sign releases, naming what it is and what is needed.
    pub fn require_release_signing(&self) -> Result<()> {
        if self.spec != KEY_SPEC || self.usage != KEY_USAGE {
            bail!(
                "the KMS key {} behind {} is {} for {}; release manifests are signed with an {KEY_SPEC} key for \
                 {KEY_USAGE}. Create such a key and point the alias at it (RELEASE.md, Signing key), then rerun",
                self.key_id,
                self.alias,
                self.spec,
                self.usage
            );
        }
        Ok(())
    }
}

/// What to do with the file the public half goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// The file is absent: write it.
    Create,
    /// The file holds this very key: nothing to write.
    Unchanged,
    /// The file holds another key and `--replace` was given (a rotation).
    Replace,
}

/// Decides from the file's current public key (its DER, if the file exists).
pub fn export(existing: Option<&[u8]>, key: &KmsKey, replace: bool, path: &str) -> Result<Export> {
    match existing {
        None => Ok(Export::Create),
        Some(der) if der == key.der.as_slice() => Ok(Export::Unchanged),
        Some(_) if replace => Ok(Export::Replace),
        Some(der) => bail!(
            "{path} holds another public key (SHA-256 of its DER {}) than the KMS key {} behind {} ({}). Releases \
             signed before a rotation verify only with the old key: keep it where customers find it (RELEASE.md, \
             Signing key), then rerun with --replace",
            sha256_hex(der),
            key.key_id,
            key.alias,
            sha256_hex(&key.der)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(spec: &str, usage: &str) -> KmsKey {
        KmsKey {
            alias: "alias/release".into(),
            key_id: "1234abcd".into(),
            spec: spec.into(),
            usage: usage.into(),
            der: vec![1, 2, 3],
        }
    }

    #[test]
    fn only_a_p256_signing_key_signs_releases() {
        assert!(key(KEY_SPEC, KEY_USAGE).require_release_signing().is_ok());
        let rsa = key("RSA_2048", KEY_USAGE).require_release_signing().unwrap_err().to_string();
        assert!(rsa.starts_with("the KMS key 1234abcd behind alias/release is RSA_2048 for SIGN_VERIFY;"), "{rsa}");
        assert!(key(KEY_SPEC, "ENCRYPT_DECRYPT").require_release_signing().is_err());
    }

    #[test]
    fn the_committed_key_is_written_once_and_replaced_only_when_asked() {
        let kms = key(KEY_SPEC, KEY_USAGE);
        assert_eq!(export(None, &kms, false, "k.pem").unwrap(), Export::Create);
        assert_eq!(export(Some(&[1, 2, 3]), &kms, false, "k.pem").unwrap(), Export::Unchanged);
        assert_eq!(export(Some(&[9]), &kms, true, "k.pem").unwrap(), Export::Replace);
        let refused = export(Some(&[9]), &kms, false, "k.pem").unwrap_err().to_string();
        assert!(refused.contains("k.pem holds another public key") && refused.ends_with("rerun with --replace"));
    }
}
