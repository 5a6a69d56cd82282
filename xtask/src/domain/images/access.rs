//! Who may launch an AMI and copy its snapshots, compared with who should: the changes
//! that make an image's permissions exactly its stage's audience. Never public.

use std::{collections::BTreeSet, fmt};

use crate::domain::images::accounts::AccountId;

/// What the KMS grants on an image key let an allowed account do: use EBS volumes
/// encrypted with it (AWS's list for sharing encrypted AMIs). The grants
/// (`adapters/kms.rs`) and the queues' `kms:GrantOperations` condition both use it.
pub const EBS_GRANT_OPERATIONS: [&str; 6] =
    ["Decrypt", "DescribeKey", "CreateGrant", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"];

/// An image's (or a snapshot's) permissions as EC2 reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Account IDs, as EC2 lists them.
    pub users: BTreeSet<String>,
    /// Launchable by every AWS account (the group `all`).
    pub public: bool,
}

/// What must change for the permissions to be exactly the audience.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub add: Vec<AccountId>,
    pub remove: Vec<String>,
    pub make_private: bool,
}

impl Change {
    pub fn between(current: &Permissions, audience: &BTreeSet<AccountId>) -> Change {
        Change {
            add: audience.iter().filter(|id| !current.users.contains(id.as_str())).cloned().collect(),
            remove: current
                .users
                .iter()
                .filter(|user| !audience.iter().any(|id| id.as_str() == *user))
                .cloned()
                .collect(),
            make_private: current.public,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && !self.make_private
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.add.is_empty() {
            parts.push(format!("grant {}", self.add.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("revoke {}", self.remove.join(", ")));
        }
        if self.make_private {
            parts.push("make private (it is public)".to_owned());
        }
        if parts.is_empty() {
            parts.push("already exact".to_owned());
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> AccountId {
        AccountId::parse(text).unwrap()
    }

    #[test]
    fn grants_the_missing_revokes_the_rest_and_never_leaves_an_image_public() {
        let current = Permissions { users: ["111111111111".into(), "333333333333".into()].into(), public: true };
        let audience = [id("111111111111"), id("222222222222")].into();
        let change = Change::between(&current, &audience);
        assert_eq!(change.add, vec![id("222222222222")]);
        assert_eq!(change.remove, vec!["333333333333".to_owned()]);
        assert!(change.make_private);
        assert_eq!(change.to_string(), "grant 222222222222; revoke 333333333333; make private (it is public)");
        let exact = Permissions { users: ["111111111111".into(), "222222222222".into()].into(), public: false };
        assert!(Change::between(&exact, &audience).is_empty());
    }
}
