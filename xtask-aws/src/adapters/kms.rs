//! The KMS calls of the release (JSON protocol): grants on the customer-managed keys
//! that encrypt shared AMIs, so the accounts that may launch them can decrypt them.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use xtask::domain::images::access::EBS_GRANT_OPERATIONS;

use crate::adapters::sigv4_http::{Call, SignedClient};

/// Grants asked for per ListGrants page (KMS allows 100 at most).
const PAGE_SIZE: u32 = 100;
/// Grants the xtask made carry this prefix; others are never touched.
pub const GRANT_PREFIX: &str = "readyset-ami-access-";

#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub name: String,
    pub grantee: String,
}

pub struct Kms<'a> {
    pub client: &'a SignedClient,
}

impl Kms<'_> {
    pub async fn call(&self, region: &str, action: &str, body: Value) -> Result<Value> {
        let call = Call {
            service: "kms",
            region,
            what: format!("KMS {action} in {region}"),
            content_type: "application/x-amz-json-1.1",
            target: Some(format!("TrentService.{action}")),
            body: serde_json::to_vec(&body)?,
        };
        let answer = self.client.send(&call).await?;
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        if answer.status != 200 {
            let code = value["__type"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default().to_owned();
            let message = value["message"].as_str().or(value["Message"].as_str()).unwrap_or_default();
            if answer.status == 403 || code.starts_with("AccessDenied") {
                bail!(
                    "{} was refused (HTTP {}{}): the credentials in use lack kms:{action} on that key. The policy of \
                     each pipeline queue is printed by `cargo xtask iam-policy ops|release`; compare the role's \
                     policy with it",
                    call.what,
                    answer.status,
                    if code.is_empty() { String::new() } else { format!(", {code}") }
                );
            }
            bail!("{} was refused (HTTP {}): {code}: {message}", call.what, answer.status);
        }
        Ok(value)
    }

    /// The grants this xtask made on a key, every page of them (KMS answers at most
    /// `Limit` grants at a time).
    pub async fn grants(&self, region: &str, key: &str) -> Result<Vec<Grant>> {
        let mut grants = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut body = json!({ "KeyId": key, "Limit": PAGE_SIZE });
            if let Some(marker) = &marker {
                body["Marker"] = json!(marker);
            }
            let listed = self.call(region, "ListGrants", body).await?;
            let page = listed["Grants"].as_array().context("ListGrants answered without Grants")?;
            grants.extend(page.iter().filter_map(grant).filter(|grant| grant.name.starts_with(GRANT_PREFIX)));
            match (listed["Truncated"].as_bool(), listed["NextMarker"].as_str()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => return Ok(grants),
            }
        }
    }

    pub async fn grant_account(&self, region: &str, key: &str, account: &str) -> Result<()> {
        let body = json!({
            "KeyId": key,
            "GranteePrincipal": format!("arn:aws:iam::{account}:root"),
            "Operations": EBS_GRANT_OPERATIONS,
            "Name": format!("{GRANT_PREFIX}{account}"),
        });
        self.call(region, "CreateGrant", body).await.map(drop)
    }

    pub async fn revoke(&self, region: &str, key: &str, grant: &Grant) -> Result<()> {
        self.call(region, "RevokeGrant", json!({ "KeyId": key, "GrantId": grant.id })).await.map(drop)
    }
}

fn grant(listed: &Value) -> Option<Grant> {
    Some(Grant {
        id: listed["GrantId"].as_str()?.to_owned(),
        name: listed["Name"].as_str()?.to_owned(),
        grantee: listed["GranteePrincipal"].as_str().unwrap_or_default().to_owned(),
    })
}
