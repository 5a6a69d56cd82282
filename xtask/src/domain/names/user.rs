//! The local account CI's own machine runs the checks as when it shows that the
//! pipeline's unprivileged step passes (`cargo xtask ci --unprivileged-as`).

use std::fmt;

/// A local user name `useradd` accepts everywhere: a lowercase letter or `_`, then up
/// to 31 lowercase letters, digits, `_` or `-`. Never `root`: a run as root would show
/// nothing about an agent without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser(String);

impl LocalUser {
    pub fn parse(text: &str) -> Result<LocalUser, String> {
        let mut bytes = text.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !(first_ok && rest_ok && text.len() <= 32) {
            return Err(format!(
                "{text:?} is not a local user name: expected a lowercase letter or '_', then up to 31 lowercase \
                 letters, digits, '_' or '-' (for example xtask-ci)"
            ));
        }
        if text == "root" {
            return Err("the unprivileged run cannot be root: name a user without root (for example xtask-ci)".into());
        }
        Ok(LocalUser(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for LocalUser {
    type Err = String;
    fn from_str(text: &str) -> Result<LocalUser, String> {
        LocalUser::parse(text)
    }
}

impl fmt::Display for LocalUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_is_what_useradd_takes_and_never_root() {
        for good in ["xtask-ci", "_ci", "buildkite-agent", "a1_b-2", &"a".repeat(32)] {
            assert_eq!(LocalUser::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Root", "1ci", "-ci", "ci user", "ci/../x", "ci:x", "ci\n", &"a".repeat(33)] {
            assert!(LocalUser::parse(bad).unwrap_err().contains("not a local user name"), "{bad:?}");
        }
        assert!(LocalUser::parse("root").unwrap_err().contains("cannot be root"));
    }
}
