//! What the emulator cannot check about the stacks customers launch, checked with the
//! tools made for it: AWS CloudFormation Guard's rules (ops/cfn-rules/) over the
//! templates as they were before the rules, and the test-stack role's policy against
//! AWS's own resource schemas.

use std::process::Command;

use expect_test::expect;
use xtask::{adapters::toolchain, domain::pipeline::test_stack_role};

use crate::support::{expect_success, text, workspace, workspace_root};

/// cfn-guard from target/ci-tools (where `cargo xtask ci` builds it) or PATH.
pub fn cfn_guard() -> std::path::PathBuf {
    let built = toolchain::ci_tools(&workspace()).join("bin/cfn-guard");
    if built.exists() {
        return built;
    }
    workspace().env.which("cfn-guard").unwrap_or_else(|| {
        panic!("cfn-guard is not installed: run `cargo xtask ci` (it builds it into target/ci-tools) or `cargo install cfn-guard`")
    })
}

/// Which rules each template (`.yaml`) of a directory fails, from cfn-guard's summary.
pub fn failed_rules(dir: &std::path::Path) -> String {
    let rules = workspace_root().join("ops/cfn-rules/readyset.guard");
    let mut command = Command::new(cfn_guard());
    command.args(["validate", "--show-summary", "fail", "-r"]).arg(&rules);
    let mut templates: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    templates.sort();
    assert!(!templates.is_empty(), "no templates in {}", dir.display());
    for template in &templates {
        command.arg("-d").arg(template);
    }
    let output = command.output().unwrap();
    let said = text(&output.stdout);
    let mut report = String::new();
    for line in said.lines() {
        if let Some((file, _)) = line.split_once(" Status = FAIL") {
            report += &format!("{}:", file.rsplit('/').next().unwrap());
        } else if let Some(rule) = line.strip_prefix("readyset.guard/").and_then(|l| l.strip_suffix("FAIL")) {
            report += &format!(" {}", rule.trim());
        } else if line.starts_with("---") && !report.is_empty() && !report.ends_with('\n') {
            report += "\n";
        }
    }
    let failed = !output.status.success();
    assert_eq!(failed, !report.is_empty(), "cfn-guard's status and summary disagree:\n{said}{}", text(&output.stderr));
    report
}

/// The rules pass the templates as they are (`cargo xtask ci` checks that too); here,
/// each rule that matters fails the templates as they were before the rules came in
/// (kept in ops/cfn-rules/fixtures/), so no rule passes everything.
#[test]
fn the_rules_fail_the_templates_as_they_were_and_pass_them_as_they_are() {
    assert_eq!(failed_rules(&workspace_root().join("ops/cfn")), "");
    expect![[r#"
        readyset-bastion.yaml: instances_require_imdsv2 volumes_are_encrypted
        readyset-benchmark.yaml: instances_require_imdsv2 volumes_are_encrypted
        readyset-mysql-adapter.yaml: instances_require_imdsv2 volumes_are_encrypted instances_with_a_unit_signal_their_stack
        readyset-postgres-adapter.yaml: instances_require_imdsv2 volumes_are_encrypted instances_with_a_unit_signal_their_stack
        readyset-server.yaml: instances_require_imdsv2 volumes_are_encrypted instances_with_a_unit_signal_their_stack
        readyset-vpc.yaml: subnets_have_a_way_out
    "#]]
    .assert_eq(&failed_rules(&workspace_root().join("ops/cfn-rules/fixtures")));
    let cases = Command::new(cfn_guard())
        .current_dir(workspace_root())
        .args(["test", "-r", "ops/cfn-rules/readyset.guard", "-t", "ops/cfn-rules/readyset.tests.yaml"])
        .output()
        .unwrap();
    expect_success("cfn-guard test (every rule's failing cases)", &cases);
}

/// The test-stack role grants exactly the permissions AWS's resource schemas give the
/// handlers of every resource type the templates use: a template that gains a type
/// fails here until `test_stack_role::HANDLER_PERMISSIONS` has its actions.
#[test]
fn the_test_stack_role_grants_what_each_resource_types_handlers_need() {
    let wheel = toolchain::resource_schemas(&workspace());
    assert!(
        wheel.exists(),
        "{} is missing: run `cargo xtask ci`, which downloads AWS's resource schemas there",
        wheel.display()
    );
    let templates: Vec<_> = std::fs::read_dir(workspace_root().join("ops/cfn"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    let output = Command::new(toolchain::python(&workspace()))
        .arg(workspace_root().join("xtask-aws/tests/it/support/handler_permissions.py"))
        .arg(&wheel)
        .args(&templates)
        .output()
        .unwrap();
    let derived: serde_json::Value = serde_json::from_str(&expect_success("handler_permissions.py", &output)).unwrap();
    let needed: Vec<&str> = derived["permissions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let listed = format!("{:#?}", needed);
    assert!(
        needed == test_stack_role::HANDLER_PERMISSIONS,
        "the resource types {} need these actions; put them in test_stack_role::HANDLER_PERMISSIONS:\n{listed}",
        derived["types"]
    );
}
