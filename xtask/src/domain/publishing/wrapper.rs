//! Rendering the two scripts customers run: the `curl | sh` wrapper of one release (the
//! template `installer/readyset-orchestrator.sh` with the tag, the download URL and one
//! SHA-256 per published installer filled in), and the check of what it installs
//! (`installer/readyset-check.sh`, with the download URLs filled in).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::domain::{names::tag::ReleaseTag, publishing::layout::WRAPPER_KEY};

pub const TEMPLATE_PATH: &str = "installer/readyset-orchestrator.sh";
pub const CHECK_TEMPLATE_PATH: &str = "installer/readyset-check.sh";

/// The command customers are told to run, as README.md, RELEASE.md, the build
/// annotation and the wrapper's own hint print it and as the tests run it. The
/// `-s -- <arguments>` form passes arguments to the installer.
pub fn customer_command(public_base_url: &str) -> String {
    format!("curl -fsSL {public_base_url}/{WRAPPER_KEY} | sh")
}

const MARK: &str = "@@";

/// `checksums` maps every configured published name to its SHA-256, or to `None` for
/// a target left out of this release (the wrapper then says it has no installer for
/// that platform).
pub fn render(
    template: &str,
    tag: &ReleaseTag,
    public_base_url: &str,
    checksums: &BTreeMap<String, Option<String>>,
) -> Result<String> {
    let mut script = Filling { path: TEMPLATE_PATH, text: template.to_owned() };
    script.fill("READYSET_TAG", tag.as_str())?;
    script.fill("PUBLIC_BASE_URL", public_base_url)?;
    script.fill("CUSTOMER_COMMAND", &customer_command(public_base_url))?;
    for (name, sha256) in checksums {
        script.fill(&format!("SHA256:{name}"), sha256.as_deref().unwrap_or(""))?;
    }
    script.finish(
        "READYSET_TAG, PUBLIC_BASE_URL, CUSTOMER_COMMAND and SHA256:<published name> for each configured target",
    )
}

/// The customer's check with the installer bucket's public URL and the public template
/// bucket's filled in. It names no release: the signed pointer says which is current.
pub fn render_check_script(template: &str, public_base_url: &str, template_base_url: &str) -> Result<String> {
    let mut script = Filling { path: CHECK_TEMPLATE_PATH, text: template.to_owned() };
    script.fill("PUBLIC_BASE_URL", public_base_url)?;
    script.fill("TEMPLATE_BASE_URL", template_base_url)?;
    script.finish("PUBLIC_BASE_URL and TEMPLATE_BASE_URL only")
}

/// A template being filled: each value must have its placeholder, and no placeholder
/// may be left.
struct Filling {
    path: &'static str,
    text: String,
}

impl Filling {
    fn fill(&mut self, name: &str, value: &str) -> Result<()> {
        let placeholder = format!("{MARK}{name}{MARK}");
        if !self.text.contains(&placeholder) {
            bail!("{} has no placeholder {placeholder}; add it where the script needs that value", self.path);
        }
        self.text = self.text.replace(&placeholder, value);
        Ok(())
    }

    fn finish(self, filled: &str) -> Result<String> {
        if let Some((offset, placeholder)) = first_placeholder(&self.text) {
            let line = self.text[..offset].matches('\n').count() + 1;
            bail!("{} line {line}: {placeholder} is left unfilled; the publish fills {filled}", self.path);
        }
        Ok(self.text)
    }
}

/// The first `@@NAME@@` in the text, with its byte offset. A lone `@@` (the template
/// mentions its marks in a comment and tests for them) is not a placeholder.
fn first_placeholder(text: &str) -> Option<(usize, &str)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-');
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find(MARK) {
        let start = search_from + found;
        let name_start = start + MARK.len();
        let name_len = text[name_start..].find(|c: char| !is_name(c)).unwrap_or(text.len() - name_start);
        if name_len > 0 && text[name_start + name_len..].starts_with(MARK) {
            return Some((start, &text[start..name_start + name_len + MARK.len()]));
        }
        search_from = name_start;
    }
    None
}

/// The release a rendered wrapper serves, read from its `readyset_tag="..."` line.
pub fn served_tag(rendered: &str) -> Option<&str> {
    rendered.lines().find_map(|line| line.strip_prefix("readyset_tag=\"")?.strip_suffix('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../../installer/readyset-orchestrator.sh");

    fn checksums(entries: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        entries.iter().map(|(name, sha)| (name.to_string(), sha.map(String::from))).collect()
    }

    fn all_three() -> BTreeMap<String, Option<String>> {
        checksums(&[
            ("x86_64-unknown-linux-gnu", Some(&"a".repeat(64))),
            ("x86_64-apple-darwin", Some(&"b".repeat(64))),
            ("aarch64-apple-darwin", None),
        ])
    }

    #[test]
    fn fills_every_placeholder_of_the_real_template() {
        let tag = ReleaseTag::parse("v9").unwrap();
        let rendered = render(TEMPLATE, &tag, "https://launch.example", &all_three()).unwrap();
        assert_eq!(first_placeholder(&rendered), None);
        assert!(rendered.contains("readyset_tag=\"v9\"\n"));
        assert!(rendered.contains("${READYSET_INSTALLER_BASE_URL:-https://launch.example}"));
        assert!(rendered.contains(&format!("x86_64-unknown-linux-gnu) echo \"{}\" ;;", "a".repeat(64))));
        assert!(rendered.contains("aarch64-apple-darwin) echo \"\" ;;"));
        let hint =
            "READYSET_INSTALLER_COMMAND=\"curl -fsSL https://launch.example/readyset-orchestrator.sh | sh -s --\"";
        assert!(rendered.contains(hint));
        assert_eq!(served_tag(&rendered), Some("v9"));
        assert_eq!(served_tag(TEMPLATE), Some("@@READYSET_TAG@@"));
    }

    #[test]
    fn the_check_script_gets_both_urls_and_nothing_else() {
        let template = include_str!("../../../../installer/readyset-check.sh");
        let rendered = render_check_script(template, "https://launch.example", "https://cfn.example").unwrap();
        assert_eq!(first_placeholder(&rendered), None);
        assert!(rendered.contains("base_url=\"${READYSET_CHECK_BASE_URL:-https://launch.example}\""));
        assert!(rendered.contains("template_base_url=\"${READYSET_CHECK_TEMPLATE_BASE_URL:-https://cfn.example}\""));
        let error = render_check_script("@@PUBLIC_BASE_URL@@\n@@TEMPLATE_BASE_URL@@\n@@TAG@@\n", "a", "b")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 3: @@TAG@@ is left unfilled"), "{error}");
        let error = render_check_script("@@PUBLIC_BASE_URL@@\n", "a", "b").unwrap_err().to_string();
        assert!(error.contains("installer/readyset-check.sh has no placeholder @@TEMPLATE_BASE_URL@@"), "{error}");
    }

    #[test]
    fn a_target_the_template_does_not_know_is_an_error() {
        let tag = ReleaseTag::parse("v9").unwrap();
        let mut sums = all_three();
        sums.insert("riscv64gc-unknown-linux-musl".into(), Some("c".repeat(64)));
        let error = render(TEMPLATE, &tag, "https://x", &sums).unwrap_err().to_string();
        assert!(error.contains("no placeholder @@SHA256:riscv64gc-unknown-linux-musl@@"), "{error}");
    }

    #[test]
    fn a_placeholder_left_unfilled_is_an_error_naming_it() {
        let tag = ReleaseTag::parse("v9").unwrap();
        let error = render(TEMPLATE, &tag, "https://x", &checksums(&[("x86_64-unknown-linux-gnu", Some("a"))]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("@@SHA256:x86_64-apple-darwin@@ is left unfilled"), "{error}");
        let template = "readyset_tag=\"@@READYSET_TAG@@\"\n@@PUBLIC_BASE_URL@@\n@@CUSTOMER_COMMAND@@\n@@TYPO@@\n";
        let error = render(template, &tag, "https://x", &BTreeMap::new()).unwrap_err().to_string();
        assert!(error.contains("line 4: @@TYPO@@ is left unfilled"), "{error}");
    }
}
