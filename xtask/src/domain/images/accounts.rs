//! AWS accounts: who may launch the AMIs of each stage. The lists live in the Packer
//! locals (`internal_account_ids`, `customer_account_ids`); nothing else names an account.

use std::{collections::BTreeSet, fmt};

use anyhow::{bail, Result};

use crate::domain::{
    images::packer::{local_list, LOCALS_FILE},
    names::stage::Audience,
};

/// An AWS account ID: exactly 12 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(text: &str) -> Result<AccountId> {
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(text.to_owned()))
        } else {
            bail!("{text:?} is not an AWS account ID: an account ID is exactly 12 digits, such as 123456789012")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for AccountId {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<AccountId> {
        AccountId::parse(text)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: AccountId,
    /// The comment after the ID on its line.
    pub note: String,
}

/// The accounts of a list in the locals, each with the comment on its line. An entry
/// that is not an account ID is an error naming it.
pub fn account_list(text: &str, name: &str) -> Result<Vec<Customer>> {
    local_list(LOCALS_FILE, text, name)?
        .items
        .into_iter()
        .map(|item| {
            let note = item.comment(text).to_owned();
            let id = AccountId::parse(&item.value).map_err(|e| anyhow::anyhow!("{LOCALS_FILE}, `{name}`: {e}"))?;
            Ok(Customer { id, note })
        })
        .collect()
}

/// The two account lists of the locals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    pub internal: Vec<AccountId>,
    pub customers: Vec<AccountId>,
}

impl Accounts {
    pub fn from_locals(text: &str) -> Result<Accounts> {
        let ids = |name| Ok::<_, anyhow::Error>(account_list(text, name)?.into_iter().map(|c| c.id).collect());
        Ok(Accounts { internal: ids("internal_account_ids")?, customers: ids("customer_account_ids")? })
    }

    /// Every account that may launch (and copy) a stage's AMIs.
    pub fn audience(&self, audience: Audience) -> BTreeSet<AccountId> {
        let customers = match audience {
            Audience::InternalAccounts => &[][..],
            Audience::InternalAccountsAndCustomers => &self.customers[..],
        };
        self.internal.iter().chain(customers).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCALS: &str = include_str!("../../../../ops/image-deploy/locals.pkr.hcl");

    #[test]
    fn account_ids_are_twelve_digits() {
        for bad in ["12345678901", "1234567890123", "12345678901a", "", " 123456789012", "１２３４５６７８９０１２"]
        {
            assert!(AccountId::parse(bad).unwrap_err().to_string().contains("exactly 12 digits"), "{bad:?}");
        }
    }

    #[test]
    fn internal_stages_reach_internal_accounts_only() {
        let accounts = Accounts::from_locals(LOCALS).unwrap();
        let internal = accounts.audience(Audience::InternalAccounts);
        let everyone = accounts.audience(Audience::InternalAccountsAndCustomers);
        assert_eq!(internal.len(), accounts.internal.len());
        assert!(accounts.customers.iter().all(|c| !internal.contains(c) && everyone.contains(c)));
        let broken = LOCALS.replace("\"888877776666\"", "\"8888-7777-6666\"");
        let error = Accounts::from_locals(&broken).unwrap_err().to_string();
        assert!(error.contains("`internal_account_ids`: \"8888-7777-6666\" is not an AWS account ID"), "{error}");
    }
}
