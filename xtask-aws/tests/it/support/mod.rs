//! Shared by the integration tests: the checkout, its configuration, the tools the
//! tests run, and a release site in an emulator of its own per test.

pub mod debian;
pub mod https;
pub mod images;
pub mod site;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use xtask::{
    adapters::{environment::Environment, toolchain, workspace::Workspace},
    domain::config::ReleaseConfig,
};

pub const REGION: &str = "us-east-2";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The checkout as the xtask sees it, with this process's environment.
pub fn workspace() -> Workspace {
    Workspace::at(&workspace_root(), Environment::capture().unwrap()).unwrap()
}

/// The repository's release configuration: the tests' one source for bucket names.
pub fn config() -> &'static ReleaseConfig {
    static CONFIG: OnceLock<ReleaseConfig> = OnceLock::new();
    CONFIG.get_or_init(|| workspace().config)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The xtask binary of this build, with every `AWS_*` variable of the test's own
/// environment removed: a developer's profile or endpoint must never reach a test.
pub fn xtask_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask-aws"));
    clear_aws_environment(&mut command);
    command
}

pub fn clear_aws_environment(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
}

/// Text for a snapshot with each distinct SHA-256 named by its order of appearance, so
/// the snapshot shows which objects hold the same bytes without changing whenever an
/// input (the wrapper template, a build) does.
pub fn number_hashes(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        out += &rest[..start];
        rest = &rest[start..];
        let len = rest.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(rest.len());
        let word = &rest[..len];
        if len == 64 && word.bytes().all(|b| !b.is_ascii_uppercase()) {
            let number = seen.iter().position(|s| s == word).unwrap_or_else(|| {
                seen.push(word.to_owned());
                seen.len() - 1
            });
            out += &format!("<sha256 #{}>", number + 1);
        } else {
            out += word;
        }
        rest = &rest[len..];
    }
    out + rest
}

/// `line` with each size of at most 72 bytes (a whole number before " bytes") as `<n>`.
fn signature_size_hidden(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(" bytes") {
        let digits = rest[..at].chars().rev().take_while(char::is_ascii_digit).count();
        let number = &rest[at - digits..at];
        out += &rest[..at - digits];
        out += if number.parse::<u32>().is_ok_and(|n| n <= 72) { "<n>" } else { number };
        out += " bytes";
        rest = &rest[at + " bytes".len()..];
    }
    out + rest
}

/// Text for a snapshot with the size of the manifest's signature (on its line or the
/// next) as `<n>`: an ECDSA P-256 signature in DER is at most 72 bytes, and shorter by
/// chance (70 to 72 mostly, 69 or less when r or s starts with zero bytes).
pub fn any_signature_size(text: &str) -> String {
    let mut after_signature = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let on = line.contains("manifest.json.sig");
        let mut line = line.to_owned();
        if on || after_signature {
            line = signature_size_hidden(&line);
        }
        after_signature = on;
        lines.push(line);
    }
    lines.join("\n") + if text.ends_with('\n') { "\n" } else { "" }
}

/// Text for a snapshot with each distinct ID of a kind (`ami-`, `snap-`) named by its
/// order of appearance: the emulator makes new ones every run.
pub fn number_ids(text: &str, prefix: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(prefix) {
        out += &rest[..start];
        let after = &rest[start + prefix.len()..];
        let len = after.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(after.len());
        let id = &rest[start..start + prefix.len() + len];
        let number = seen.iter().position(|s| s == id).unwrap_or_else(|| {
            seen.push(id.to_owned());
            seen.len() - 1
        });
        out += &format!("<{}#{}>", prefix, number + 1);
        rest = &after[len..];
    }
    out + rest
}

/// Invalidation IDs and the lines of waiting for one, whose count depends on timing.
pub fn without_waiting(text: &str, invalidations: &[String]) -> String {
    let mut text: String = text
        .lines()
        .filter(|line| !line.starts_with("  waiting for invalidation"))
        .map(|line| match line.find(" completed after ") {
            Some(at) => format!("{} completed after <time>", &line[..at]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    for id in invalidations {
        text = text.replace(id, "<invalidation>");
    }
    text
}

/// Fails the test with the command's output unless it succeeded; returns stdout.
pub fn expect_success(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A tool from the CI venv (moto, cfn-lint, the AWS CLI, check-jsonschema), else from
/// PATH; a clear failure saying how to install it when neither has it.
pub fn venv_tool(name: &str, package: &str) -> PathBuf {
    let venv = toolchain::ci_venv(&workspace()).join("bin").join(name);
    if venv.exists() {
        return venv;
    }
    workspace().env.which(name).unwrap_or_else(|| {
        panic!("{name} is not installed: run `cargo xtask ci` (it installs it into target/ci-venv) or `pip install {package}`")
    })
}

/// A system tool the tests need, or a failure that says how to install it.
pub fn system_tool(name: &str, package: &str) -> PathBuf {
    workspace().env.which(name).unwrap_or_else(|| {
        panic!("{name} is not installed: run `cargo xtask ci` as root, or `apt-get install {package}`")
    })
}

/// A PATH holding only the named commands, linked from the system.
pub fn path_with(dir: &Path, commands: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for command in commands {
        let real = workspace()
            .env
            .which(command)
            .unwrap_or_else(|| panic!("{command} is not installed; run `cargo xtask ci` as root"));
        std::os::unix::fs::symlink(real, dir.join(command)).unwrap();
    }
    dir.to_owned()
}

/// Runs git in `dir` with a fixed identity and `main` as the first branch; its output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The image keys the queues' policies name (`ami_kms_key_ids` of the Packer locals).
pub fn image_keys() -> &'static std::collections::BTreeMap<String, String> {
    static KEYS: OnceLock<std::collections::BTreeMap<String, String>> = OnceLock::new();
    KEYS.get_or_init(|| workspace().image_kms_keys().unwrap())
}

/// Text with every RFC 3339 time to the second (`2026-12-07T03:11:58Z`, as the xtask
/// prints them) replaced by `<time>`.
pub fn stable_times(text: &str) -> String {
    let shape = |window: &[u8]| {
        window.iter().zip(b"dddd-dd-ddTdd:dd:ddZ").all(|(b, s)| if *s == b'd' { b.is_ascii_digit() } else { b == s })
    };
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes.len() - at >= 20 && shape(&bytes[at..at + 20]) {
            out += "<time>";
            at += 20;
        } else {
            let next = text[at..].chars().next().unwrap();
            out.push(next);
            at += next.len_utf8();
        }
    }
    out
}
