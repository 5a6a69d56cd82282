//! CloudFormation templates: filling their AMI region maps from the AMIs of a stage.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::domain::images::packer::AmiTable;

pub const SOURCE_DIR: &str = "ops/cfn";

const MARK: &str = "@@";

/// A placeholder `@@AMI:<image>:<region>@@` and where it starts.
struct AmiSlot<'a> {
    image: &'a str,
    region: &'a str,
    line: usize,
}

fn slots(text: &str) -> Vec<AmiSlot<'_>> {
    let mut found = Vec::new();
    let mut rest_at = 0;
    while let Some(offset) = text[rest_at..].find("@@AMI:") {
        let start = rest_at + offset;
        let body_start = start + "@@AMI:".len();
        let Some(end) = text[body_start..].find(MARK) else {
            break;
        };
        let body = &text[body_start..body_start + end];
        if let Some((image, region)) = body.split_once(':') {
            found.push(AmiSlot { image, region, line: text[..start].matches('\n').count() + 1 });
        }
        rest_at = body_start + end + MARK.len();
    }
    found
}

/// Fills every AMI entry of one template. Refuses (naming template, image and region)
/// an entry the AMIs do not have, a region Packer does not build, an image mapped for
/// only some regions, and any placeholder left over.
pub fn render(template: &str, text: &str, amis: &AmiTable, regions: &[String]) -> Result<String> {
    let slots = slots(text);
    let mut problems = Vec::new();
    let mut mapped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut rendered = text.to_owned();
    for slot in &slots {
        mapped.entry(slot.image).or_default().insert(slot.region);
        if !regions.iter().any(|r| r == slot.region) {
            problems.push(format!(
                "{template}.yaml line {}: maps {} in {}, a region Packer does not build (ami_regions: {})",
                slot.line,
                slot.image,
                slot.region,
                regions.join(", ")
            ));
            continue;
        }
        match amis.get(slot.image).and_then(|by_region| by_region.get(slot.region)) {
            Some(ami) => rendered = rendered.replace(&format!("@@AMI:{}:{}@@", slot.image, slot.region), ami),
            None => problems.push(format!(
                "{template}.yaml line {}: no AMI of {} in {} in the AMIs file",
                slot.line, slot.image, slot.region
            )),
        }
    }
    for (image, mapped_regions) in &mapped {
        for region in regions {
            if !mapped_regions.contains(region.as_str()) {
                problems.push(format!(
                    "{template}.yaml maps {image} without {region}, where Packer builds it; add it to the region map"
                ));
            }
        }
    }
    if problems.is_empty() {
        if let Some(at) = rendered.find(MARK) {
            let line = rendered[..at].matches('\n').count() + 1;
            let snippet: String = rendered[at..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
            problems.push(format!("{template}.yaml line {line}: placeholder {snippet} is left unfilled"));
        }
    }
    if !problems.is_empty() {
        bail!("cannot render {template}.yaml:\n  - {}", problems.join("\n  - "));
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "us-west-2".into()]
    }

    fn amis() -> AmiTable {
        let mut table = AmiTable::new();
        table.insert(
            "server".into(),
            [("us-east-1".into(), "ami-1".into()), ("us-west-2".into(), "ami-2".into())].into(),
        );
        table
    }

    const MAP: &str =
        "  us-east-1:\n    Ami: \"@@AMI:server:us-east-1@@\"\n  us-west-2:\n    Ami: \"@@AMI:server:us-west-2@@\"\n";

    #[test]
    fn fills_every_region_of_the_map() {
        let rendered = render("t", MAP, &amis(), &regions()).unwrap();
        assert_eq!(rendered, "  us-east-1:\n    Ami: \"ami-1\"\n  us-west-2:\n    Ami: \"ami-2\"\n");
        assert_eq!(render("vpc", "Resources: {}\n", &amis(), &regions()).unwrap(), "Resources: {}\n");
    }

    #[test]
    fn every_render_error_names_template_image_and_region() {
        let cases = [
            (
                MAP.replace("server:us-west-2", "bastion:us-west-2"),
                vec![
                    "line 4: no AMI of bastion in us-west-2",
                    "maps server without us-west-2",
                    "maps bastion without us-east-1",
                ],
            ),
            (
                format!("{MAP}  eu-west-1:\n    Ami: \"@@AMI:server:eu-west-1@@\"\n"),
                vec!["maps server in eu-west-1, a region Packer does not build (ami_regions: us-east-1, us-west-2)"],
            ),
            (
                MAP.replace("  us-west-2:\n    Ami: \"@@AMI:server:us-west-2@@\"\n", ""),
                vec!["t.yaml maps server without us-west-2"],
            ),
            (format!("{MAP}Description: \"@@TYPO@@\"\n"), vec!["line 5: placeholder @@TYPO@@ is left unfilled"]),
        ];
        for (text, phrases) in cases {
            let error = render("t", &text, &amis(), &regions()).unwrap_err().to_string();
            for phrase in phrases {
                assert!(error.contains(phrase), "expected {phrase:?} in {error}");
            }
        }
        let mut partial = amis();
        partial.get_mut("server").unwrap().remove("us-west-2");
        let error = render("t", MAP, &partial, &regions()).unwrap_err().to_string();
        assert!(error.contains("no AMI of server in us-west-2"), "{error}");
    }
}
