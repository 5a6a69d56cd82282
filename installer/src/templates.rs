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

/// The CloudFormation console's quick-create link for a template of this release.
pub fn quick_create_link(template: &str, region: &str, stack_name: &str) -> Result<String, LaunchError> {
    if !PUBLIC_TEMPLATES.contains(&template) {
        return Err(LaunchError::UnknownTemplate { given: template.to_owned() });
    }
    if !SUPPORTED_REGIONS.contains(&region) {
        return Err(LaunchError::UnsupportedRegion { given: region.to_owned() });
    }
    let mut link = format!(
        "https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/quickcreate?templateURL={}&stackName={}",
        percent_encode(&template_url(template)),
        percent_encode(stack_name)
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

    #[test]
    fn link_embeds_the_encoded_template_url() {
        let link = quick_create_link("readyset-mysql-super", "us-east-2", "my stack").unwrap();
        assert!(link.starts_with(
            "https://console.aws.amazon.com/cloudformation/home?region=us-east-2#/stacks/quickcreate?templateURL=https%3A%2F%2F"
        ));
        assert!(link.contains(&format!("%2F{CFN_VERSION}%2Freadyset%2Ftemplates%2Freadyset-mysql-super.yaml")));
        assert!(
            link.ends_with(&format!("&stackName=my%20stack&param_TemplatePrefix={CFN_VERSION}%2Freadyset%2Ftemplates"))
        );
        let plain = quick_create_link("readyset-vpc", "us-east-2", "s").unwrap();
        assert!(plain.ends_with("&stackName=s"), "{plain}");
    }

    #[test]
    fn unknown_inputs_are_refused_with_the_valid_choices() {
        let error = quick_create_link("nope", "us-east-2", "s").unwrap_err();
        assert_eq!(error, LaunchError::UnknownTemplate { given: "nope".into() });
        assert!(error.to_string().contains("readyset-mysql-super"));
        let error = quick_create_link("readyset-bastion", "mars-1", "s").unwrap_err();
        assert!(error.to_string().contains("us-east-1, us-east-2, us-west-2"));
    }
}
