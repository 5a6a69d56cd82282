//! Where this release's templates live and how the console is asked to launch one.

use std::fmt;

use crate::constants::{
    CFN_BUCKET_REGION, CFN_PUBLIC_BUCKET, CFN_VERSION, NESTING_TEMPLATES, PUBLIC_TEMPLATES, SUPPORTED_REGIONS,
};

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
        assert!(
            link.ends_with(&format!("&stackName=my-stack&param_TemplatePrefix={CFN_VERSION}%2Freadyset%2Ftemplates"))
        );
        let plain = launch_link("readyset-vpc", "us-east-2", &name("s")).unwrap();
        assert!(plain.ends_with("&stackName=s"), "{plain}");
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
