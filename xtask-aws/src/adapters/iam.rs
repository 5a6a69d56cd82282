//! IAM calls (Query protocol, API version 2010-05-08): one call, for preflight's reads
//! and the emulator's set-up, and for the rehearsal a user per agent queue with that
//! queue's policy, so each step runs with exactly the access its queue has in
//! production (only ever sent to the emulator).

use anyhow::{Context, Result};

use crate::adapters::sigv4_http::{first_text, Query, SignedClient};

const VERSION: &str = "2010-05-08";
/// IAM is global; its calls are signed for this region.
const REGION: &str = "us-east-1";

/// One IAM call, with its parameters; the answer's XML.
pub async fn call(client: &SignedClient, action: &str, params: Vec<(String, String)>) -> Result<String> {
    let what = format!("IAM {action}");
    client.query(&Query { service: "iam", region: REGION, version: VERSION, action, params: &params, what }).await
}

/// An access key: (key ID, secret).
pub type AccessKey = (String, String);

/// Creates a user with one inline policy and returns a new access key of it.
pub async fn user_with_policy(client: &SignedClient, user: &str, policy_json: &str) -> Result<AccessKey> {
    let call = |action: &'static str, params: Vec<(&str, &str)>| {
        let params: Vec<(String, String)> = params.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        async move {
            let what = format!("IAM {action} of {user}");
            client
                .query(&Query { service: "iam", region: REGION, version: VERSION, action, params: &params, what })
                .await
        }
    };
    call("CreateUser", vec![("UserName", user)]).await?;
    call("PutUserPolicy", vec![("UserName", user), ("PolicyName", "queue"), ("PolicyDocument", policy_json)]).await?;
    let text = call("CreateAccessKey", vec![("UserName", user)]).await?;
    let document = roxmltree::Document::parse(&text).context("IAM CreateAccessKey answered with malformed XML")?;
    let field = |name: &str| {
        first_text(document.root(), name).with_context(|| format!("IAM CreateAccessKey answered without {name}"))
    };
    Ok((field("AccessKeyId")?, field("SecretAccessKey")?))
}
