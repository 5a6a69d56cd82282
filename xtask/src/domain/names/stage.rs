//! The three stages a build goes through, and what each may do. AMIs and templates
//! share this one model: the stage decides the templates' bucket and prefix, whether
//! they are public and written once, and which accounts may launch the AMIs.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::domain::{names::commit::CommitId, names::tag::ReleaseTag};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Any branch, for the team: the only stage Packer builds.
    Internal,
    /// A commit shown to early customers: copies of the tested internal AMIs.
    Alpha,
    /// A named release for every customer: copies of the tested internal AMIs.
    Release,
}

/// Who may launch a stage's AMIs (and copy their snapshots). Never public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    InternalAccounts,
    InternalAccountsAndCustomers,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Internal, Stage::Alpha, Stage::Release];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Internal => "internal",
            Stage::Alpha => "alpha",
            Stage::Release => "release",
        }
    }

    /// Whether its templates go to the public bucket (internal-only templates never do).
    pub fn is_public(self) -> bool {
        self != Stage::Internal
    }

    /// Release prefixes are what customers launch from: written once, never replaced.
    pub fn is_immutable(self) -> bool {
        self == Stage::Release
    }

    pub fn audience(self) -> Audience {
        match self {
            Stage::Internal => Audience::InternalAccounts,
            Stage::Alpha | Stage::Release => Audience::InternalAccountsAndCustomers,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(text: &str) -> Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name() == text)
            .ok_or_else(|| format!("{text:?} is not a stage; the stages are internal, alpha and release"))
    }
}

/// A stage together with what names its artifacts: the commit for internal and alpha,
/// the release name for a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Internal(CommitId),
    Alpha(CommitId),
    Release(ReleaseTag),
}

impl Placement {
    pub fn stage(&self) -> Stage {
        match self {
            Placement::Internal(_) => Stage::Internal,
            Placement::Alpha(_) => Stage::Alpha,
            Placement::Release(_) => Stage::Release,
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::Internal(commit) => write!(f, "internal {commit}"),
            Placement::Alpha(commit) => write!(f, "alpha {commit}"),
            Placement::Release(name) => write!(f, "release {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_and_print_as_their_names() {
        for stage in Stage::ALL {
            assert_eq!(stage.name().parse::<Stage>(), Ok(stage));
            assert_eq!(serde_json::to_string(&stage).unwrap(), format!("\"{stage}\""));
        }
        assert!("beta".parse::<Stage>().unwrap_err().contains("internal, alpha and release"));
        assert_eq!(Stage::Internal.audience(), Audience::InternalAccounts);
        assert!(Stage::Release.is_immutable() && Stage::Release.is_public() && !Stage::Internal.is_public());
    }
}
