//! Every IAM policy the release defines, through an IAM analyser (parliament, from
//! PyPI, with its community auditors: privilege escalation among them): the agents'
//! and the test-stack role's policies as `iam-policy` prints them, the boundary of the
//! roles test stacks make, the roles' policies in the templates customers launch, and
//! the release infrastructure's resource policies (the buckets' and the signing key's).
//! Parliament reads actions, not conditions, so a finding the policy's conditions
//! answer is accepted only here, each with the condition that answers it; any other
//! finding of medium severity or more fails, and so does an acceptance no finding needs.

use std::{collections::BTreeMap, process::Command};

use serde_json::{json, Value};
use xtask::domain::{
    pipeline::{
        queues::{self, Queue},
        test_stack_role,
    },
    release_infra,
};

use crate::support::{config, image_keys, text, venv_tool, workspace_root};

/// (file, issue, privilege escalation type or "", why the policy is safe anyway).
const ACCEPTED: &[(&str, &str, &str, &str)] = &[
    (
        "queue-ops.json",
        "PRIVILEGE_ESCALATION",
        "PassExistingRoleToCloudFormation",
        "ops may pass one role, the test-stack role, to CloudFormation only (iam:PassedToService), and every role \
         that role makes must carry the instance boundary (iam:PermissionsBoundary)",
    ),
    (
        "queue-ops.json",
        "PRIVILEGE_ESCALATION",
        "CreateEC2WithExistingIP",
        "ops's one iam:PassRole is conditioned on iam:PassedToService cloudformation.amazonaws.com: it cannot hand \
         a role to an instance it runs",
    ),
    (
        "test-stacks.json",
        "PRIVILEGE_ESCALATION",
        "CreateEC2WithExistingIP",
        "it passes only smoke-test roles, to EC2 only, and makes those roles only under the instance boundary",
    ),
    (
        "test-stacks.json",
        "PRIVILEGE_ESCALATION",
        "PassExistingRoleToCloudFormation",
        "its iam:PassRole is conditioned on iam:PassedToService ec2.amazonaws.com; cloudformation:CreateStack is for \
         the smoke stacks' nested stacks",
    ),
    (
        "queue-ops.json",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "",
        "sharing images and their snapshots with the allowed accounts (ModifySnapshotAttribute, and with image keys \
         KMS grants, for EBS operations only: kms:GrantOperations) is what alpha promotion does; iam:PassRole is the \
         test-stack role's, as above",
    ),
    (
        "queue-release.json",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "",
        "sharing release images and their snapshots with customers (ModifySnapshotAttribute, and with image keys KMS \
         grants, for EBS operations only: kms:GrantOperations) is what release promotion and `customers sync` do",
    ),
    (
        "queue-release.json",
        "UNKNOWN_CONDITION_FOR_ACTION",
        "",
        "KMS documents kms:ResourceAliases for Sign and GetPublicKey (aliases in access control); parliament 1.6.4's \
         action table predates the key",
    ),
    (
        "test-stacks.json",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "",
        "making the smoke stacks' instance roles is what the role is for; the role-changing actions require the \
         instance boundary",
    ),
    (
        "release-infra-SigningKey.json",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "",
        "the account administers the key (its policy, its deletion), as AWS's default key policy lets it, or no one \
         could manage the key again; the administrators are not given kms:Sign and the policy denies kms:CreateGrant \
         to everyone, so only the release role signs unless an administrator first changes the key policy",
    ),
];

/// Every policy document, by the file name the findings name.
fn policies() -> BTreeMap<String, Value> {
    let config = config();
    let mut documents = BTreeMap::new();
    // As configured, and as they become once the images are encrypted with
    // customer-managed keys (ami_kms_key_ids), which adds the KMS statements.
    let sample_keys: BTreeMap<String, String> = [("us-east-2", "arn:aws:kms:us-east-2:111122223333:key/1234abcd")]
        .map(|(region, key)| (region.to_owned(), key.to_owned()))
        .into();
    for queue in [Queue::Ops, Queue::Release] {
        let document = |keys| serde_json::to_value(queues::policy(queue, config, keys)).unwrap();
        documents.insert(format!("queue-{queue}.json"), document(image_keys()));
        documents.insert(format!("queue-{queue}-with-image-keys.json"), document(&sample_keys));
    }
    documents.insert("test-stacks.json".into(), serde_json::to_value(test_stack_role::policy(config)).unwrap());
    documents.insert(
        "test-stack-instance-boundary.json".into(),
        serde_json::to_value(test_stack_role::instance_boundary()).unwrap(),
    );
    for template in ["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter"] {
        for (name, document) in template_policies(template) {
            documents.insert(format!("{template}-{name}.json"), document);
        }
    }
    documents.extend(release_resource_policies());
    documents
}

/// The release infrastructure's resource policies: the three buckets' and the signing
/// key's. Its roles' policies and their boundaries are the queue and test-stack
/// documents above (`tests/it/release_infra.rs` holds the template to them).
fn release_resource_policies() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(workspace_root().join(release_infra::TEMPLATE_PATH)).unwrap();
    let template: Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    for (logical, resource) in template["Resources"].as_object().unwrap() {
        let document = match resource["Type"].as_str().unwrap() {
            "AWS::S3::BucketPolicy" => &resource["Properties"]["PolicyDocument"],
            "AWS::KMS::Key" => &resource["Properties"]["KeyPolicy"],
            _ => continue,
        };
        found.push((format!("release-infra-{logical}.json"), resolve(document)));
    }
    assert_eq!(found.len(), 4, "three bucket policies and one key policy: {found:?}");
    found
}

/// The policies of a customer template's roles, with its references replaced by values
/// of the shape CloudFormation would give them.
fn template_policies(template: &str) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(workspace_root().join(format!("ops/cfn/{template}.yaml"))).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let resolved = resolve(&serde_json::to_value(strip_tags(&yaml)).unwrap());
    let mut found = Vec::new();
    for (logical, resource) in resolved["Resources"].as_object().unwrap() {
        for policy in resource["Properties"]["Policies"].as_array().into_iter().flatten() {
            found.push((policy["PolicyName"].as_str().unwrap().to_owned(), policy["PolicyDocument"].clone()));
        }
        if resource["Type"] == "AWS::IAM::Policy" {
            found.push((logical.clone(), resource["Properties"]["PolicyDocument"].clone()));
        }
    }
    assert!(!found.is_empty(), "{template} declares no role policy");
    found
}

/// YAML short-form tags (`!Ref X`) as CloudFormation's long form (`{"Ref": "X"}`).
fn strip_tags(value: &serde_yaml_ng::Value) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let name = if tag == "Ref" { "Ref".to_owned() } else { format!("Fn::{tag}") };
            let mut map = serde_yaml_ng::Mapping::new();
            map.insert(Y::String(name), strip_tags(&tagged.value));
            Y::Mapping(map)
        }
        Y::Mapping(map) => Y::Mapping(map.iter().map(|(k, v)| (k.clone(), strip_tags(v))).collect()),
        Y::Sequence(items) => Y::Sequence(items.iter().map(strip_tags).collect()),
        other => other.clone(),
    }
}

fn resolve(value: &Value) -> Value {
    let sample: BTreeMap<&str, &str> = [
        ("AWS::StackId", "arn:aws:cloudformation:us-east-2:123456789012:stack/shop-Server-1A2B/0f1e2d3c"),
        ("AWS::Region", "us-east-2"),
        ("AWS::AccountId", "123456789012"),
        ("Distribution", "E2ABCDEFGHIJKL"),
        ("UpstreamDatabaseSecretArn", "arn:aws:secretsmanager:us-east-2:123456789012:secret:shop-db-AbCdEf"),
        (
            "UpstreamDatabaseSecretKmsKeyArn",
            "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
    ]
    .into();
    // The long form, as the release infrastructure's JSON template has it, where a
    // policy takes only roles' ARNs.
    if let Some(logical) = value.get("Fn::GetAtt").and_then(|attribute| attribute.get(0)).and_then(Value::as_str) {
        return json!(format!("arn:aws:iam::123456789012:role/{logical}"));
    }
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
            json!(sample.get(map["Ref"].as_str().unwrap()).copied().unwrap_or("reference-not-in-a-policy"))
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
            let mut text = map["Fn::Sub"].as_str().unwrap_or_default().to_owned();
            for (name, value) in &sample {
                text = text.replace(&format!("${{{name}}}"), value);
            }
            json!(text)
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(resolve).collect()),
        other => other.clone(),
    }
}

/// Parliament's command line, except that its own log goes nowhere. It writes
/// `/tmp/parliament.log` whatever it is asked, so where another user ran it first (CI's
/// unprivileged run after a run as root, or two agents sharing a machine) it failed
/// with "Permission denied". Only that one path is redirected, and only in its module.
const PARLIAMENT_WITHOUT_ITS_LOG: &str = r#"
import os, sys
import parliament.cli as cli
def open_but_the_log(path, *args, **kwargs):
    return open(os.devnull if path == "/tmp/parliament.log" else path, *args, **kwargs)
cli.open = open_but_the_log
sys.exit(cli.main(sys.argv))
"#;

#[test]
fn every_policy_passes_the_iam_analyser_or_its_finding_is_answered_by_a_condition() {
    let dir = tempfile::tempdir().unwrap();
    let documents = policies();
    for (name, document) in &documents {
        std::fs::write(dir.path().join(name), serde_json::to_string_pretty(document).unwrap()).unwrap();
    }
    let output = Command::new(venv_tool("python3", "parliament"))
        .args(["-c", PARLIAMENT_WITHOUT_ITS_LOG])
        .args([
            "--include-community-auditors",
            "--json",
            "--minimum_severity",
            "MEDIUM",
            "--include_policy_extension",
            ".json",
            "--directory",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    // Parliament exits 1 when it finds anything; anything else is a failure of its own.
    let said = text(&output.stdout);
    assert!(
        matches!(output.status.code(), Some(0 | 1)) && !text(&output.stderr).contains("Traceback"),
        "parliament failed ({}):\n{}{}",
        output.status,
        said,
        text(&output.stderr)
    );
    let mut unexplained = Vec::new();
    let mut used = vec![false; ACCEPTED.len()];
    for line in said.lines().filter(|line| !line.trim().is_empty()) {
        let finding: Value = serde_json::from_str(line).unwrap();
        let file = finding["location"]["filepath"].as_str().unwrap_or_default().rsplit('/').next().unwrap().to_owned();
        let (issue, kind) = (finding["issue"].as_str().unwrap(), finding["location"]["type"].as_str().unwrap_or(""));
        // A queue's policy with image keys is judged as the queue's policy: the KMS
        // statements they add must bring no finding of their own.
        let judged_as = file.replace("-with-image-keys", "");
        match ACCEPTED.iter().position(|(f, i, k, _)| *f == judged_as && *i == issue && *k == kind) {
            Some(index) => used[index] = true,
            None => unexplained.push(format!("{file}: {} {issue} {kind} {}", finding["severity"], finding["detail"])),
        }
    }
    assert!(unexplained.is_empty(), "findings no condition answers:\n{}", unexplained.join("\n"));
    let stale: Vec<_> = ACCEPTED.iter().zip(used).filter(|(_, used)| !used).map(|(a, _)| (a.0, a.1, a.2)).collect();
    assert!(stale.is_empty(), "accepted findings parliament no longer makes (remove them): {stale:?}");
    assert!(documents.len() >= 10, "every policy is analysed: {:?}", documents.keys().collect::<Vec<_>>());
}

/// AWS's Service Authorization Reference as parliament ships it: for each action, the
/// resource types it takes (a trailing `*` marks a required one), and each type's ARN.
struct Reference {
    actions: BTreeMap<String, Vec<String>>,
    arns: BTreeMap<String, String>,
}

fn service_authorization_reference() -> Reference {
    let python = venv_tool("python3", "parliament");
    let output = Command::new(python)
        .args(["-c", "import os, parliament; print(os.path.dirname(parliament.__file__))"])
        .output()
        .unwrap();
    assert!(output.status.success(), "parliament is not importable: {}", text(&output.stderr));
    let path = std::path::Path::new(text(&output.stdout).trim()).join("iam_definition.json");
    let services: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut reference = Reference { actions: BTreeMap::new(), arns: BTreeMap::new() };
    for service in services.as_array().unwrap() {
        let prefix = service["prefix"].as_str().unwrap();
        for privilege in service["privileges"].as_array().unwrap() {
            let types = privilege["resource_types"].as_array().unwrap().iter();
            let types = types.filter_map(|t| t["resource_type"].as_str().filter(|t| !t.is_empty()));
            let action = format!("{prefix}:{}", privilege["privilege"].as_str().unwrap()).to_lowercase();
            reference.actions.insert(action, types.map(str::to_owned).collect());
        }
        for resource in service["resources"].as_array().unwrap() {
            let kind = format!("{prefix}:{}", resource["resource"].as_str().unwrap());
            reference.arns.insert(kind, resource["arn"].as_str().unwrap().to_owned());
        }
    }
    reference
}

/// Whether `arn` (of a policy) can name a resource of the type whose ARN template is
/// `template`: the same service, and the resource part starts as the template's does
/// up to its first variable.
fn names_type(arn: &str, template: &str) -> bool {
    let parts = |arn: &str| arn.splitn(6, ':').map(str::to_owned).collect::<Vec<_>>();
    let (ours, theirs) = (parts(arn), parts(template));
    let literal = theirs[5].split("${").next().unwrap().to_owned();
    ours[2] == theirs[2] && (ours[5].starts_with(&literal) || ours[5] == "*")
}

/// Every write of the agents' and the test-stack role's policies names the resource
/// types it acts on: `*` only for actions AWS lists with no resource type at all, and
/// every resource type an action requires among the statement's ARNs (a missing one
/// would refuse the call in AWS, which the emulator would not notice). The boundary of
/// the instances' roles is judged the same way.
#[test]
fn every_action_names_its_resource_types_as_aws_lists_them() {
    let reference = service_authorization_reference();
    let mut faults = Vec::new();
    for (file, document) in
        policies().iter().filter(|(file, _)| file.starts_with("queue-") || file.starts_with("test-stack"))
    {
        for statement in document["Statement"].as_array().unwrap().iter().filter(|s| s["Effect"] == "Allow") {
            let resources: Vec<&str> =
                statement["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            for action in statement["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()) {
                let Some(types) = reference.actions.get(&action.to_lowercase()) else {
                    faults.push(format!("{file}: {action} is not in AWS's reference"));
                    continue;
                };
                let service = action.split(':').next().unwrap();
                if resources == ["*"] {
                    if !types.is_empty() {
                        faults.push(format!("{file}: {action} on * takes resources: {}", types.join(", ")));
                    }
                    continue;
                }
                for required in types.iter().filter_map(|t| t.strip_suffix('*')) {
                    let template = &reference.arns[&format!("{service}:{required}")];
                    if !resources.iter().any(|arn| names_type(arn, template)) {
                        faults.push(format!(
                            "{file}: {action} requires a {required} ({template}), not among {resources:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(faults.is_empty(), "actions whose resources differ from AWS's reference:\n{}", faults.join("\n"));
}
