//! What the Packer templates in `ops/image-deploy/` declare (read with hcl-edit, so the
//! templates stay the one source for images, regions and accounts), and what a Packer
//! run reports in its manifest.

use std::{collections::BTreeMap, ops::Range};

use anyhow::{bail, Context, Result};
use hcl_edit::{expr::Expression, structure::Body, Span};
use serde::{Deserialize, Serialize};

use crate::domain::{names::commit::CommitId, names::stage::Stage, names::tag::ReleaseTag};

pub const TEMPLATE_DIR: &str = "ops/image-deploy";
pub const LOCALS_FILE: &str = "ops/image-deploy/locals.pkr.hcl";
pub const IMAGES_FILE: &str = "ops/image-deploy/images.pkr.hcl";

/// image → region → AMI ID.
pub type AmiTable = BTreeMap<String, BTreeMap<String, String>>;
/// The ReadySet packages installed in the images: file name → SHA-256.
pub type Packages = BTreeMap<String, String>;

/// Packages as the `packages` Packer variable and the `ReadySetPackages` tag write
/// them: `<file>=<sha256>`, separated by spaces.
pub fn packages_text(packages: &Packages) -> String {
    packages.iter().map(|(file, sha256)| format!("{file}={sha256}")).collect::<Vec<_>>().join(" ")
}

/// The AMIs file `amis build` and `amis promote` write, and `cfn render` and `amis
/// promote` read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmisFile {
    pub stage: Stage,
    pub commit: CommitId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseTag>,
    pub images: AmiTable,
    /// For promoted stages: the internal AMI each copy was made from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: AmiTable,
    /// The ReadySet packages in the images, as `amis build --package` hashed them;
    /// promoted files carry their source's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: Packages,
}

impl AmisFile {
    /// What such a file is, for the message when a file is not one.
    pub const WHAT: &'static str = "an AMIs file written by `cargo xtask amis build` or `cargo xtask amis promote`";

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an AMIs file serialises") + "\n"
    }
}

/// Whether a profile of an AWS config file signs in through IAM Identity Center (SSO),
/// which Packer 1.6 (aws-sdk-go 1.36) cannot read: its `sso_*` keys, or an
/// `sso_session` it names. A profile that is not in the file is not SSO.
pub fn profile_uses_sso(config: &str, profile: &str) -> bool {
    let wanted = if profile == "default" { "default".to_owned() } else { format!("profile {profile}") };
    let mut inside = false;
    for line in config.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            inside = section.trim() == wanted || (profile == "default" && section.trim() == "profile default");
        } else if inside && line.split('=').next().is_some_and(|key| key.trim().starts_with("sso_")) {
            return true;
        }
    }
    false
}

/// A string element of an HCL list, with where it sits in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub value: String,
    pub bytes: Range<usize>,
}

impl ListItem {
    /// The comment after the item on its line (`# ...` or `// ...`), trimmed; empty
    /// when there is none.
    pub fn comment<'a>(&self, text: &'a str) -> &'a str {
        let line_end = text[self.bytes.end..].find('\n').map_or(text.len(), |i| self.bytes.end + i);
        let rest = text[self.bytes.end..line_end].trim_start().trim_start_matches(',').trim_start();
        rest.strip_prefix('#').or_else(|| rest.strip_prefix("//")).unwrap_or("").trim()
    }
}

/// A list attribute of the `locals` block: its items and the byte range of `[ ... ]`.
#[derive(Debug, Clone)]
pub struct LocalList {
    pub items: Vec<ListItem>,
    pub bytes: Range<usize>,
}

fn parse(file: &str, text: &str) -> Result<Body> {
    hcl_edit::parser::parse_body(text).map_err(|error| anyhow::anyhow!("{file} does not parse as HCL: {error}"))
}

/// The expression assigned to `name` in any `locals` block.
fn local_value<'a>(body: &'a Body, file: &str, name: &str) -> Result<&'a Expression> {
    body.blocks()
        .filter(|block| block.ident.as_str() == "locals")
        .find_map(|block| block.body.get_attribute(name))
        .map(|attribute| &attribute.value)
        .with_context(|| format!("{file} has no `{name}` in a locals block"))
}

/// A list of plain strings assigned in a `locals` block.
pub fn local_list(file: &str, text: &str, name: &str) -> Result<LocalList> {
    let body = parse(file, text)?;
    let Expression::Array(array) = local_value(&body, file, name)? else {
        bail!("{file}: `{name}` is not a list of quoted strings");
    };
    let items = array
        .iter()
        .map(|element| match element {
            Expression::String(value) => {
                Ok(ListItem { value: value.value().clone(), bytes: value.span().context("hcl-edit gave no span")? })
            }
            _ => bail!("{file}: `{name}` has an element that is not a quoted string"),
        })
        .collect::<Result<_>>()?;
    Ok(LocalList { items, bytes: array.span().context("hcl-edit gave no span")? })
}

/// The values of a list of plain strings in a `locals` block (the AMI regions, the
/// account IDs).
pub fn local_strings(file: &str, text: &str, name: &str) -> Result<Vec<String>> {
    Ok(local_list(file, text, name)?.items.into_iter().map(|item| item.value).collect())
}

/// A map of plain strings assigned in a `locals` block (`{ "us-east-1" = "arn:..." }`).
pub fn local_string_map(file: &str, text: &str, name: &str) -> Result<BTreeMap<String, String>> {
    let body = parse(file, text)?;
    let Expression::Object(object) = local_value(&body, file, name)? else {
        bail!("{file}: `{name}` is not a map of quoted strings, such as {{ \"us-east-1\" = \"arn:aws:kms:...\" }}");
    };
    object
        .iter()
        .map(|(key, value)| {
            let key = match key {
                hcl_edit::expr::ObjectKey::Expression(Expression::String(key)) => key.value().clone(),
                hcl_edit::expr::ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                _ => bail!("{file}: a key of `{name}` is not a plain string"),
            };
            match value.expr() {
                Expression::String(value) => Ok((key, value.value().clone())),
                _ => bail!("{file}: `{name}` maps {key} to something that is not a quoted string"),
            }
        })
        .collect()
}

/// The version `packer version` prints (`Packer v1.6.6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackerVersion(pub u32, pub u32, pub u32);

impl PackerVersion {
    pub fn parse(output: &str) -> Result<PackerVersion> {
        let first = output.lines().next().unwrap_or_default().trim();
        let numbers: Option<Vec<u32>> = first
            .strip_prefix("Packer v")
            .map(|version| version.split(['.', '-', ' ']).take(3).map(|part| part.parse().ok()).collect())
            .and_then(|parts: Option<Vec<u32>>| parts);
        match numbers.as_deref() {
            Some([major, minor, patch]) => Ok(PackerVersion(*major, *minor, *patch)),
            _ => bail!(
                "`packer version` printed {first:?}, not `Packer v<major>.<minor>.<patch>`; check that PACKER (or \
                 `packer` on PATH) is HashiCorp Packer"
            ),
        }
    }

    /// Packer 1.7 brought `packer init` and `required_plugins`; 1.10 and later bundle no
    /// plugins at all, so the amazon plugin must be declared and installed. Packer 1.6
    /// refuses the declaration.
    pub fn declares_plugins(self) -> bool {
        (self.0, self.1) >= (1, 7)
    }
}

impl std::fmt::Display for PackerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The images the build block builds, by the `name` of each source.
pub fn images(text: &str) -> Result<Vec<String>> {
    let body = parse(IMAGES_FILE, text)?;
    let build = body
        .blocks()
        .find(|block| block.ident.as_str() == "build")
        .with_context(|| format!("{IMAGES_FILE} has no build block"))?;
    let images: Vec<String> = build
        .body
        .blocks()
        .filter(|block| block.ident.as_str() == "source")
        .filter_map(|source| match source.body.get_attribute("name").map(|a| &a.value) {
            Some(Expression::String(name)) => Some(name.value().clone()),
            _ => None,
        })
        .collect();
    if images.is_empty() {
        bail!("{IMAGES_FILE}: the build block names no images (source blocks with `name = \"...\"`)");
    }
    Ok(images)
}

#[derive(Deserialize)]
struct Manifest {
    builds: Vec<ManifestBuild>,
    last_run_uuid: String,
}

#[derive(Deserialize)]
struct ManifestBuild {
    name: String,
    artifact_id: String,
    packer_run_uuid: String,
    #[serde(default)]
    custom_data: Option<BTreeMap<String, String>>,
}

/// The AMIs of the last run recorded in a Packer manifest (Packer appends every run to
/// the same file). Every expected image must be there with an AMI in every region.
pub fn amis_of_last_run(manifest: &str, expected_images: &[String], regions: &[String]) -> Result<AmiTable> {
    let manifest: Manifest = serde_json::from_str(manifest).context("the Packer manifest is not valid")?;
    let mut table = AmiTable::new();
    for build in manifest.builds.iter().filter(|b| b.packer_run_uuid == manifest.last_run_uuid) {
        let image = build.custom_data.as_ref().and_then(|data| data.get("image")).unwrap_or(&build.name);
        let mut by_region = BTreeMap::new();
        for artifact in build.artifact_id.split(',') {
            let (region, ami) = artifact
                .split_once(':')
                .filter(|(region, ami)| !region.is_empty() && ami.starts_with("ami-"))
                .with_context(|| format!("the Packer manifest has a malformed artifact {artifact:?} for {image} (expected region:ami-...)"))?;
            by_region.insert(region.to_owned(), ami.to_owned());
        }
        if table.insert(image.clone(), by_region).is_some() {
            bail!("the Packer manifest's last run has two builds of {image}");
        }
    }
    let mut problems = Vec::new();
    for image in expected_images {
        match table.get(image) {
            None => problems.push(format!("no build of {image} in the last run")),
            Some(by_region) => {
                for region in regions {
                    if !by_region.contains_key(region) {
                        problems.push(format!("{image} has no AMI in {region}"));
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("the Packer run is incomplete: {}", problems.join("; "));
    }
    table.retain(|image, _| expected_images.contains(image));
    Ok(table)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_profile_signs_in_through_sso_when_its_section_has_sso_keys() {
        let config =
            "[default]\nregion = us-east-2\n\n[profile release]\nrole_arn = arn:aws:iam::111122223333:role/r\n\
                      source_profile = default\n\n[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\n\n\
                      [sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n";
        assert!(super::profile_uses_sso(config, "sso"));
        assert!(!super::profile_uses_sso(config, "release"), "a role profile Packer assumes itself");
        assert!(!super::profile_uses_sso(config, "default"));
        assert!(!super::profile_uses_sso(config, "absent"));
    }

    use super::*;

    const LOCALS: &str = include_str!("../../../../ops/image-deploy/locals.pkr.hcl");
    const IMAGES: &str = include_str!("../../../../ops/image-deploy/images.pkr.hcl");

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_regions_accounts_and_images_from_the_templates() {
        let regions = local_strings(LOCALS_FILE, LOCALS, "ami_regions").unwrap();
        assert_eq!(regions, strings(&["us-east-1", "us-east-2", "us-west-2"]));
        let customers = local_list(LOCALS_FILE, LOCALS, "customer_account_ids").unwrap();
        assert!(customers.items.iter().all(|item| item.value.len() == 12));
        assert_eq!(&LOCALS[customers.items[0].bytes.clone()], format!("\"{}\"", customers.items[0].value));
        assert_eq!(
            images(IMAGES).unwrap(),
            strings(&["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter", "readyset-bastion"])
        );
        let error = local_list(LOCALS_FILE, LOCALS, "ami_kms_key_ids").unwrap_err().to_string();
        assert!(error.contains("not a list of quoted strings"), "{error}");
        assert_eq!(local_string_map(LOCALS_FILE, LOCALS, "ami_kms_key_ids").unwrap(), BTreeMap::new());
        let keys = "locals {\n  keys = {\n    \"us-east-1\" = \"arn:k1\"\n    us-west-2 = \"arn:k2\"\n  }\n}\n";
        let map = local_string_map(LOCALS_FILE, keys, "keys").unwrap();
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            vec![("us-east-1".into(), "arn:k1".into()), ("us-west-2".into(), "arn:k2".into())]
        );
        let error = local_list(LOCALS_FILE, "locals {\n", "x").unwrap_err().to_string();
        assert!(error.contains("does not parse as HCL"), "{error}");
    }

    #[test]
    fn packer_versions_decide_whether_plugins_are_declared() {
        let old = PackerVersion::parse("Packer v1.6.6\n\nYour version of Packer is out of date!").unwrap();
        assert_eq!((old, old.declares_plugins()), (PackerVersion(1, 6, 6), false));
        let current = PackerVersion::parse("Packer v1.11.2\n").unwrap();
        assert!(current.declares_plugins() && PackerVersion(1, 7, 0).declares_plugins());
        assert!(PackerVersion::parse("packer 1.2").unwrap_err().to_string().contains("not `Packer v"));
    }

    fn build(image: &str, run: &str, artifacts: &str) -> String {
        format!(
            r#"{{"name":"readyset","builder_type":"amazon-ebs","build_time":1,"files":null,"artifact_id":"{artifacts}","packer_run_uuid":"{run}","custom_data":{{"image":"{image}"}}}}"#
        )
    }

    fn manifest(builds: &[String], last: &str) -> String {
        format!(r#"{{"builds":[{}],"last_run_uuid":"{last}"}}"#, builds.join(","))
    }

    #[test]
    fn takes_the_last_run_of_an_appended_manifest() {
        let text = manifest(
            &[
                build("server", "run-1", "us-east-1:ami-old1,us-west-2:ami-old2"),
                build("server", "run-2", "us-east-1:ami-new1,us-west-2:ami-new2"),
                build("bastion", "run-2", "us-east-1:ami-b1,us-west-2:ami-b2"),
            ],
            "run-2",
        );
        let table =
            amis_of_last_run(&text, &strings(&["server", "bastion"]), &strings(&["us-east-1", "us-west-2"])).unwrap();
        assert_eq!(table["server"]["us-east-1"], "ami-new1");
        assert_eq!(table["bastion"]["us-west-2"], "ami-b2");
        let only_server = amis_of_last_run(&text, &strings(&["server"]), &strings(&["us-east-1"])).unwrap();
        assert_eq!(only_server.keys().collect::<Vec<_>>(), vec!["server"]);
    }

    #[test]
    fn packer_1_7_manifests_name_the_build_itself() {
        let text = r#"{"builds":[{"name":"server","builder_type":"amazon-ebs","build_time":1,"files":null,"artifact_id":"us-east-1:ami-1","packer_run_uuid":"r"}],"last_run_uuid":"r"}"#;
        let table = amis_of_last_run(text, &strings(&["server"]), &strings(&["us-east-1"])).unwrap();
        assert_eq!(table["server"]["us-east-1"], "ami-1");
    }

    #[test]
    fn missing_builds_regions_and_garbage_are_named() {
        let regions = strings(&["us-east-1", "us-west-2"]);
        let cases = [
            (manifest(&[build("server", "r", "us-east-1:ami-1")], "r"), "server has no AMI in us-west-2"),
            (
                manifest(&[build("server", "old", "us-east-1:ami-1,us-west-2:ami-2")], "r"),
                "no build of server in the last run",
            ),
            (
                manifest(&[build("server", "r", "us-east-1-ami-1")], "r"),
                "malformed artifact \"us-east-1-ami-1\" for server",
            ),
            (manifest(&[build("server", "r", "us-east-1:i-123")], "r"), "malformed artifact"),
            ("not json".to_owned(), "the Packer manifest is not valid"),
            (r#"{"builds":[]}"#.to_owned(), "the Packer manifest is not valid"),
        ];
        for (text, phrase) in cases {
            let error = format!("{:#}", amis_of_last_run(&text, &strings(&["server"]), &regions).unwrap_err());
            assert!(error.contains(phrase), "expected {phrase:?} in {error:?}");
        }
    }
}
