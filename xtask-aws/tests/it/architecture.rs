//! The invariants of ARCHITECTURE.md that a test can see in the code and its build.

use std::{collections::BTreeSet, process::Command};

use crate::support::{text, workspace_root};

/// The crates `xtask` links, following only normal dependencies (what `cargo xtask
/// release` compiles), as `cargo tree` resolves them for this platform.
fn lean_dependencies() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--package", "xtask", "--edges", "normal", "--prefix", "none", "--format", "{p}", "--locked"])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo tree: {}", text(&output.stderr));
    let names = text(&output.stdout).lines().filter_map(|line| line.split(' ').next().map(str::to_owned)).collect();
    let mut names: BTreeSet<String> = names;
    names.remove("xtask");
    names
}

#[test]
fn the_lean_xtask_never_links_an_aws_crate() {
    let dependencies = lean_dependencies();
    assert!(dependencies.contains("clap") && dependencies.contains("toml_edit"), "{dependencies:?}");
    let aws: Vec<&String> = dependencies
        .iter()
        .filter(|name| name.starts_with("aws-") || name.starts_with("hyper") || *name == "tokio")
        .collect();
    assert!(aws.is_empty(), "the lean xtask depends on {aws:?}; AWS code belongs in xtask-aws");
}

/// Every crate the lean build compiles, so adding one (and its seconds on a newcomer's
/// first `cargo xtask release`) is a change someone reviews. Measure the cold build
/// before accepting a new entry (README.md, "Build times").
#[test]
fn the_lean_xtask_links_only_these_crates() {
    let listed = lean_dependencies().into_iter().collect::<Vec<_>>().join("\n");
    expect_test::expect![[r#"
        anstream
        anstyle
        anstyle-parse
        anstyle-query
        anyhow
        bitflags
        block-buffer
        cfg-if
        clap
        clap_builder
        clap_derive
        clap_lex
        colorchoice
        const-oid
        cpufeatures
        crypto-common
        digest
        equivalent
        fastrand
        fnv
        getrandom
        hashbrown
        hcl-edit
        hcl-primitives
        heck
        hex
        humantime
        hybrid-array
        indexmap
        is_terminal_polyfill
        itoa
        libc
        linux-raw-sys
        memchr
        once_cell
        pratt
        proc-macro2
        quote
        rustix
        ryu
        same-file
        serde
        serde_core
        serde_derive
        serde_json
        serde_spanned
        sha2
        similar
        strsim
        syn
        tempfile
        terminal_size
        toml_datetime
        toml_edit
        toml_parser
        toml_writer
        typenum
        unicode-ident
        utf8parse
        vecmap-rs
        walkdir
        winnow
        xshell
        xshell-macros
        zmij"#]]
    .assert_eq(&listed);
}

#[test]
fn no_command_module_imports_another() {
    for dir in ["xtask/src/commands", "xtask-aws/src/commands"] {
        for entry in std::fs::read_dir(workspace_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            let offending: Vec<&str> = source.lines().filter(|line| line.contains("commands::")).collect();
            if path.file_name().unwrap() != "mod.rs" {
                assert!(offending.is_empty(), "{} imports a command module: {offending:?}", path.display());
            }
        }
    }
}

/// Output into a pipe that was closed ends the xtask quietly, with the shell's code for a
/// closed pipe, and no panic message.
#[test]
fn a_closed_stdout_ends_the_xtask_quietly() {
    let mut child = crate::support::xtask_command()
        .args(["rehearse", "--dry-run"])
        .current_dir(workspace_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(141), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "");
}

/// The tests that need a root file system are exactly `ci::ROOT_TESTS`: `ci` runs those
/// names in a user namespace when it is not root, so a test that makes a Debian root or
/// a copy of it and is not listed would fail on every unprivileged agent. A test's text
/// runs from its `#[test]` to the next one.
#[test]
fn the_tests_that_need_root_are_the_ones_ci_sets_apart() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("xtask-aws/tests/it")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for test in text.split("#[test]").skip(1) {
            let Some(rest) = test.trim_start().strip_prefix("fn ") else { continue };
            let name = rest.split('(').next().unwrap_or_default().trim();
            if test.contains("copy_of_root()") || test.contains("debian::root()") {
                found.push(format!("{module}::{name}"));
            }
        }
    }
    found.sort();
    assert!(!found.is_empty(), "no test makes a Debian root any more; is the search still right?");
    assert_eq!(found, xtask::commands::ci::ROOT_TESTS.to_vec());
}
