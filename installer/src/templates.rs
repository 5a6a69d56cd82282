//! Where this release's templates live and how the console is asked to launch one.

use std::fmt;

use crate::asks::Ask;
use crate::constants::{
    CFN_BUCKET_REGION, CFN_PUBLIC_BUCKET, CFN_VERSION, NESTING_TEMPLATES, PUBLIC_TEMPLATES, SUPPORTED_REGIONS,
    TEMPLATE_ASKS,
};

/// What a template asks of the customer; nothing for a name this release does not have.
pub fn asks(template: &str) -> &'static [Ask] {
    TEMPLATE_ASKS.iter().find(|(name, _)| *name == template).map_or(&[], |(_, asks)| *asks)
}

/// The capabilities the console must be granted to create the stack.
pub fn capabilities(template: &str) -> Vec<&'static str> {
    if asks(template).contains(&Ask::IamCapability) {
        vec!["CAPABILITY_IAM"]
    } else {
        Vec::new()
    }
}

/// What the customer must have ready before opening the link, one line each, with the
/// command that makes it where there is one.
pub fn preparation(template: &str, region: &str) -> Vec<String> {
    asks(template)
        .iter()
        .filter_map(|ask| match ask {
            Ask::DeploymentName => None,
            Ask::KeyPair => Some(format!(
                "an EC2 key pair in {region} (KeyName), to reach the instances through the bastion; to make one: \
                 aws ec2 create-key-pair --region {region} --key-name readyset --query KeyMaterial --output text > readyset.pem"
            )),
            Ask::UpstreamSecret(database) => Some(format!(
                "a Secrets Manager secret in {region} whose value is your database's URL; paste its ARN into \
                 UpstreamDatabaseSecretArn (only the adapter may read it; if a key of your own encrypts it, paste \
                 that key's ARN into UpstreamDatabaseSecretKmsKeyArn). To make one: \
                 aws secretsmanager create-secret --region {region} --name readyset-upstream-db-url --secret-string '{}'",
                database.example_url()
            )),
            Ask::SshCidr => Some(
                "your address as a CIDR for SshCidr, such as 203.0.113.7/32: only it may SSH to the bastion".to_owned(),
            ),
            Ask::IamCapability => Some(
                "on the review page, tick \"I acknowledge that AWS CloudFormation might create IAM resources\" \
                 (CAPABILITY_IAM): the server and each adapter get a role that may tell the stack whether \
                 ReadySet started, and an adapter's may also read that one secret"
                    .to_owned(),
            ),
        })
        .collect()
}

/// The deployment name the link fills in: the stack name in the form the templates'
/// `DeploymentName` accepts (lowercase, at most 63 characters).
pub fn deployment_name(stack_name: &StackName) -> String {
    stack_name.as_str().chars().take(63).collect::<String>().to_ascii_lowercase()
}

/// The HTTPS URL of a published template of this release.
pub fn template_url(template: &str) -> String {
    format!(
        "https://{CFN_PUBLIC_BUCKET}.s3.{CFN_BUCKET_REGION}.amazonaws.com/{CFN_VERSION}/readyset/templates/{template}.yaml"
    )
}

#[derive(Debug, PartialEq, Eq)]
pub enum LaunchError {
    UnknownTemplate { given: String },
    UnsupportedRegion { given: String },
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::UnknownTemplate { given } => write!(
                f,
                "unknown template `{given}`; this release publishes: {}. \
                 Run `readyset-installer templates` to see their URLs.",
                PUBLIC_TEMPLATES.join(", ")
            ),
            LaunchError::UnsupportedRegion { given } => write!(
                f,
                "region `{given}` has no ReadySet images for this release; \
                 choose one of: {}.",
                SUPPORTED_REGIONS.join(", ")
            ),
        }
    }
}

/// A stack name CloudFormation accepts, checked before it goes into a link, where the
/// console would only reject it after the customer filled in every parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackName(String);

impl StackName {
    pub fn parse(name: &str) -> Result<StackName, String> {
        let mut chars = name.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if starts_with_letter && name.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(StackName(name.to_owned()));
        }
        Err(format!(
            "`{name}` is not a stack name CloudFormation accepts: it must start with a letter and hold only \
             letters, digits and hyphens, at most 128 characters (for example `readyset-prod`)"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The CloudFormation console link that opens the create-stack review page for a
/// template of this release: the quick-create form AWS documents
/// (`#/stacks/create/review?templateURL=...&stackName=...&param_<Name>=...`).
pub fn launch_link(template: &str, region: &str, stack_name: &StackName) -> Result<String, LaunchError> {
    if !PUBLIC_TEMPLATES.contains(&template) {
        return Err(LaunchError::UnknownTemplate { given: template.to_owned() });
    }
    if !SUPPORTED_REGIONS.contains(&region) {
        return Err(LaunchError::UnsupportedRegion { given: region.to_owned() });
    }
    let mut link = format!(
        "https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/create/review?templateURL={}&stackName={}",
        percent_encode(&template_url(template)),
        percent_encode(stack_name.as_str())
    );
    if NESTING_TEMPLATES.contains(&template) {
        link += &format!("&param_TemplatePrefix={}", percent_encode(&format!("{CFN_VERSION}/readyset/templates")));
    }
    if asks(template).contains(&Ask::DeploymentName) {
        link += &format!("&param_DeploymentName={}", percent_encode(&deployment_name(stack_name)));
    }
    Ok(link)
}

/// Encodes everything except RFC 3986 unreserved characters, so a URL can sit inside
/// another URL's query.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("https://x/y?z=1&w"), "https%3A%2F%2Fx%2Fy%3Fz%3D1%26w");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    fn name(text: &str) -> StackName {
        StackName::parse(text).unwrap()
    }

    #[test]
    fn link_embeds_the_encoded_template_url() {
        let link = launch_link("readyset-mysql-super", "us-east-2", &name("my-stack")).unwrap();
        assert!(link.starts_with(
            "https://console.aws.amazon.com/cloudformation/home?region=us-east-2#/stacks/create/review?templateURL=https%3A%2F%2F"
        ));
        assert!(link.contains(&format!("%2F{CFN_VERSION}%2Freadyset%2Ftemplates%2Freadyset-mysql-super.yaml")));
        assert!(link.ends_with(&format!(
            "&stackName=my-stack&param_TemplatePrefix={CFN_VERSION}%2Freadyset%2Ftemplates&param_DeploymentName=my-stack"
        )));
        let plain = launch_link("readyset-vpc", "us-east-2", &name("s")).unwrap();
        assert!(plain.ends_with("&stackName=s"), "{plain}");
    }

    #[test]
    fn the_deployment_is_named_after_the_stack_in_the_templates_form() {
        assert_eq!(deployment_name(&name("ReadySet-Prod")), "readyset-prod");
        assert_eq!(deployment_name(&name(&format!("a{}", "b".repeat(127)))).len(), 63);
        let link = launch_link("readyset-server", "us-east-2", &name("Shop")).unwrap();
        assert!(link.ends_with("&stackName=Shop&param_DeploymentName=shop"), "{link}");
    }

    #[test]
    fn only_templates_that_make_a_role_ask_for_the_iam_capability() {
        assert_eq!(capabilities("readyset-mysql-super"), ["CAPABILITY_IAM"]);
        assert!(capabilities("readyset-vpc").is_empty() && capabilities("readyset-bastion").is_empty());
        assert!(preparation("readyset-vpc", "us-east-2").is_empty());
        let postgres = preparation("readyset-postgres-adapter", "us-west-2").join("\n");
        assert!(postgres.contains("--region us-west-2 --name readyset-upstream-db-url --secret-string 'postgresql://"));
    }

    #[test]
    fn unknown_inputs_are_refused_with_the_valid_choices() {
        let error = launch_link("nope", "us-east-2", &name("s")).unwrap_err();
        assert_eq!(error, LaunchError::UnknownTemplate { given: "nope".into() });
        assert!(error.to_string().contains("readyset-mysql-super"));
        let error = launch_link("readyset-bastion", "mars-1", &name("s")).unwrap_err();
        assert!(error.to_string().contains("us-east-1, us-east-2, us-west-2"));
    }

    #[test]
    fn stack_names_follow_cloudformations_rule() {
        for good in ["a", "readyset", "ReadySet-2", &format!("a{}", "-".repeat(127))] {
            assert_eq!(StackName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "1abc", "-abc", "my stack", "my_stack", "ready.set", "é", &"a".repeat(129)] {
            let error = StackName::parse(bad).unwrap_err();
            assert!(error.contains("must start with a letter"), "{bad}: {error}");
        }
    }
}
