//! What a template asks of the customer before it can launch: the vocabulary shared by
//! the constants (which template asks what) and the guide that turns it into steps.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// `DeploymentName`: the link fills it in from the stack name.
    DeploymentName,
    /// `UpstreamDatabaseSecretArn`: a Secrets Manager secret holding the URL of a
    /// database of this kind.
    UpstreamSecret(Database),
    /// `KeyName`: an EC2 key pair in the region.
    KeyPair,
    /// `SshCidr`: the addresses allowed to SSH to the bastion.
    SshCidr,
    /// The stack creates an IAM role (the adapter's), so it needs `CAPABILITY_IAM`.
    IamCapability,
}

/// The upstream database an adapter speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Database {
    MySql,
    Postgres,
}

impl Database {
    /// The form of the URL the adapter reads from the secret, for the example command.
    pub(crate) fn example_url(self) -> &'static str {
        match self {
            Database::MySql => "mysql://user:password@host:3306/database",
            Database::Postgres => "postgresql://user:password@host:5432/database",
        }
    }
}
