//! Each fact has one source; where another file keeps a copy, this proves they agree.

use syn::{Expr, Item, Lit};
use xtask::domain::config::Visibility;

use crate::support::{config, workspace_root};

/// The string values of a `&str` or `&[&str]` constant in installer/src/constants.rs.
fn installer_constant(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join("installer/src/constants.rs")).unwrap();
    let file = syn::parse_file(&text).unwrap();
    let expr = file
        .items
        .iter()
        .find_map(|item| match item {
            Item::Const(constant) if constant.ident == name => Some(&*constant.expr),
            _ => None,
        })
        .unwrap_or_else(|| panic!("installer/src/constants.rs defines {name}"));
    strings(expr)
}

fn strings(expr: &Expr) -> Vec<String> {
    match expr {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(literal), .. }) => vec![literal.value()],
        Expr::Reference(reference) => strings(&reference.expr),
        Expr::Array(array) => array.elems.iter().flat_map(strings).collect(),
        _ => panic!("installer constants are string literals or arrays of them"),
    }
}

#[test]
fn the_installer_points_at_the_configured_public_bucket_and_templates() {
    let config = config();
    assert_eq!(installer_constant("CFN_PUBLIC_BUCKET"), vec![config.cfn_public_bucket.clone()]);
    assert_eq!(installer_constant("CFN_BUCKET_REGION"), vec![config.region.clone()]);
    let public: Vec<String> =
        config.templates.iter().filter(|t| t.visibility == Visibility::Public).map(|t| t.name.clone()).collect();
    assert_eq!(installer_constant("PUBLIC_TEMPLATES"), public);
}

#[test]
fn the_wrapper_serves_every_configured_published_name() {
    let config = config();
    let template = std::fs::read_to_string(workspace_root().join("installer/readyset-orchestrator.sh")).unwrap();
    for target in config.targets.iter() {
        assert!(
            template.contains(&format!("{}) echo \"@@SHA256:{}@@\" ;;", target.published_name, target.published_name)),
            "the wrapper has no checksum line for {}",
            target.published_name
        );
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap()
}

#[test]
fn the_installer_supports_exactly_the_regions_packer_builds() {
    let locals = read(xtask::domain::images::packer::LOCALS_FILE);
    let regions = xtask::domain::images::packer::local_strings("locals", &locals, "ami_regions").unwrap();
    assert_eq!(installer_constant("SUPPORTED_REGIONS"), regions);
}

#[test]
fn the_test_stack_script_and_super_template_name_the_configured_buckets_and_role() {
    let config = config();
    let script = read("ops/cfn-test/create-mysql-super-stack.sh");
    assert!(script.contains(&format!("TEMPLATE_BUCKET=\"{}\"", config.cfn_internal_bucket)));
    assert!(script.contains(&format!("TEST_STACK_ROLE=\"{}\"", config.test_stack_role)));
    let boundary = xtask::domain::pipeline::test_stack_role::instance_boundary_name(config);
    let scripted = "policy/$TEST_STACK_ROLE-instance-boundary\"";
    assert_eq!(boundary, format!("{}-instance-boundary", config.test_stack_role), "the script's boundary name");
    assert!(script.contains(scripted), "the script passes the boundary {boundary}");
    assert!(script.contains(&format!("TEMPLATE_BUCKET_REGION=\"{}\"", config.region)));
    let super_stack = read("ops/cfn/readyset-mysql-super.yaml");
    assert!(super_stack.contains(&format!("    Default: {}\n", config.cfn_public_bucket)));
    assert!(
        super_stack.contains(&format!("  TemplateBucketRegion:\n    Type: String\n    Default: {}\n", config.region))
    );
}

#[test]
fn the_installer_fills_the_prefix_of_exactly_the_templates_that_nest_others() {
    let nesting: Vec<String> = std::fs::read_dir(workspace_root().join("ops/cfn"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| std::fs::read_to_string(path).unwrap().contains("\n  TemplatePrefix:\n"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(installer_constant("NESTING_TEMPLATES"), nesting);
}

/// `TEMPLATE_ASKS` in the installer, as (template, [ask]) with each ask's variant name
/// (and the variant it holds: `UpstreamSecret(MySql)`).
fn installer_asks() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(workspace_root().join("installer/src/constants.rs")).unwrap();
    let file = syn::parse_file(&text).unwrap();
    let Some(Expr::Reference(list)) = file.items.iter().find_map(|item| match item {
        Item::Const(constant) if constant.ident == "TEMPLATE_ASKS" => Some(&*constant.expr),
        _ => None,
    }) else {
        panic!("installer/src/constants.rs defines TEMPLATE_ASKS as &[...]");
    };
    let Expr::Array(entries) = &*list.expr else { panic!("TEMPLATE_ASKS is &[(template, &[Ask::...]), ...]") };
    fn variant(expr: &Expr) -> String {
        match expr {
            Expr::Path(path) => path.path.segments.last().unwrap().ident.to_string(),
            Expr::Call(call) if call.args.len() == 1 => format!("{}({})", variant(&call.func), variant(&call.args[0])),
            _ => panic!("an ask is Ask::<Variant> or Ask::<Variant>(<Kind>::<Variant>)"),
        }
    }
    let entry = |expr: &Expr| match expr {
        Expr::Tuple(pair) => match (&pair.elems[0], &pair.elems[1]) {
            (name, Expr::Reference(asks)) => match &*asks.expr {
                Expr::Array(asks) => (strings(name).remove(0), asks.elems.iter().map(variant).collect()),
                _ => panic!("the asks are &[Ask::...]"),
            },
            _ => panic!("an entry is (template, &[Ask::...])"),
        },
        _ => panic!("an entry is (template, &[Ask::...])"),
    };
    entries.elems.iter().map(entry).collect()
}

/// What each published template asks, read from its parameters and resources: a
/// template that nests another asks for the IAM capability when the nested one does,
/// and the database is the one the adapter (its own or a nested one) listens for.
fn template_asks(name: &str) -> Vec<String> {
    let text = read(&format!("ops/cfn/{name}.yaml"));
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let has = |parameter: &str| template["Parameters"].get(parameter).is_some();
    let nested: Vec<String> = config()
        .templates
        .iter()
        .filter(|other| text.contains(&format!("/{}.yaml", other.name)))
        .map(|other| read(&format!("ops/cfn/{}.yaml", other.name)))
        .collect();
    let with_nested = || std::iter::once(&text).chain(&nested);
    let makes_a_role = with_nested().any(|text| text.contains("Type: AWS::IAM::Role"));
    let listens = |port: &str| with_nested().any(|text| text.contains(&format!("LISTEN_ADDRESS=0.0.0.0:{port}")));
    let database = || match (listens("3306"), listens("5432")) {
        (true, false) => "MySql",
        (false, true) => "Postgres",
        both_or_neither => panic!("{name}: an adapter listening on 3306 xor 5432, not {both_or_neither:?}"),
    };
    [
        has("DeploymentName").then(|| "DeploymentName".to_owned()),
        has("UpstreamDatabaseSecretArn").then(|| format!("UpstreamSecret({})", database())),
        has("KeyName").then(|| "KeyPair".to_owned()),
        has("SshCidr").then(|| "SshCidr".to_owned()),
        makes_a_role.then(|| "IamCapability".to_owned()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn the_installer_asks_for_what_each_template_needs() {
    let from_templates: Vec<(String, Vec<String>)> =
        installer_constant("PUBLIC_TEMPLATES").into_iter().map(|name| (name.clone(), template_asks(&name))).collect();
    assert_eq!(installer_asks(), from_templates);
}

/// The smoke test's secret and key pair: named by the pipeline, described by the ops
/// policy and made by ops/release-infra (both derived from the same constants) and by
/// the rehearsal.
#[test]
fn the_pipeline_names_the_smoke_test_secret_and_key_pair_release_infra_makes() {
    use xtask::domain::pipeline::queues::{SMOKE_TEST_KEY_PAIR, SMOKE_TEST_SECRET};
    let pipeline = read(".buildkite/pipeline.yml");
    assert!(pipeline.contains(&format!(" -s {SMOKE_TEST_SECRET} ")));
    assert!(pipeline.contains(&format!(" -k {SMOKE_TEST_KEY_PAIR} ")));
    let infra = read(xtask::domain::release_infra::TEMPLATE_PATH);
    assert!(infra.contains(&format!("\"Name\": \"{SMOKE_TEST_SECRET}\"")));
    assert!(infra.contains(&format!("\"KeyName\": \"{SMOKE_TEST_KEY_PAIR}\"")));
}
