//! The rendered wrapper run by a real shell, downloading from the emulator's S3 over
//! HTTPS, as `curl | sh` runs it for a customer.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::support::{
    path_with,
    site::{commit_of, real_linux_build, write_build_of_commit, Site},
    system_tool, text, workspace, workspace_root,
};

/// A published release whose Linux installer is the real static build from
/// `build-installer` and whose macOS installers are small stand-ins (this host cannot
/// build them).
struct Published {
    site: Site,
    script: PathBuf,
    _scratch: tempfile::TempDir,
}

fn publish_real_installer() -> Published {
    let site = Site::new();
    let scratch = tempfile::tempdir().unwrap();
    let artifacts = scratch.path().join("artifacts");
    let tag = real_linux_build(&artifacts.join("linux-agent"));
    let commit = commit_of(&artifacts.join("linux-agent/x86_64-unknown-linux-gnu.json"));
    site.publish_templates(&tag);
    write_build_of_commit(
        &artifacts.join("mac-agent"),
        &tag,
        &commit,
        "x86_64-apple-darwin",
        "x86_64-apple-darwin",
        b"mac",
    );
    write_build_of_commit(
        &artifacts.join("mac-agent"),
        &tag,
        &commit,
        "aarch64-apple-darwin",
        "aarch64-apple-darwin",
        b"arm mac",
    );
    // The checkout may hold uncommitted work while developing; CI's clean clone does not.
    site.xtask_ok(&["publish-installer", &tag, "--artifacts", artifacts.to_str().unwrap(), "--allow-dirty"]);
    let script = scratch.path().join("readyset-orchestrator.sh");
    std::fs::write(&script, site.get("readyset-orchestrator.sh").unwrap()).unwrap();
    Published { site, script, _scratch: scratch }
}

impl Published {
    fn run(&self, path: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = Command::new("/bin/sh");
        command
            .arg(&self.script)
            .args(args)
            .env("READYSET_INSTALLER_BASE_URL", self.site.https_base_url())
            .env("TMPDIR", self.tmpdir());
        self.site.trust_https(&mut command, self._scratch.path());
        if let Some(path) = path {
            command.env("PATH", path);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    }

    fn tmpdir(&self) -> PathBuf {
        let dir = self._scratch.path().join("tmp");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(&self) -> usize {
        std::fs::read_dir(self.tmpdir()).unwrap().count()
    }
}

const BASICS: &[&str] = &["uname", "mktemp", "mkdir", "rm", "chmod", "curl", "cut", "sed", "grep"];

#[test]
fn the_wrapper_downloads_verifies_and_runs_the_installer() {
    let published = publish_real_installer();
    let output = published.run(None, &[], &["--version"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let tag = workspace().constants().unwrap().readyset_tag;
    assert!(text(&output.stdout).starts_with(&format!("readyset-installer {tag} ")), "{}", text(&output.stdout));
    assert_eq!(text(&output.stderr), "", "nothing to warn about");

    let failing = published.run(None, &[], &["launch", "--template", "nope", "--region", "us-east-2"]);
    assert_eq!(failing.status.code(), Some(2), "the installer's exit code comes through");
    assert!(text(&failing.stderr).contains("unknown template `nope`"));
    assert_eq!(published.leftovers(), 0, "the temporary directory is removed");
}

#[test]
fn a_tampered_binary_is_refused_before_it_runs() {
    let published = publish_real_installer();
    let key = published
        .site
        .keys()
        .into_iter()
        .find(|k| k.ends_with("/x86_64-unknown-linux-gnu") && k.matches('/').count() == 2)
        .unwrap();
    published.site.put(&key, b"#!/bin/sh\necho PWNED\n");
    let output = published.run(None, &[], &["--version"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!text(&output.stdout).contains("PWNED"));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("has SHA-256") && stderr.contains("not running it"), "{stderr}");
    assert_eq!(published.leftovers(), 0);
    let opted_out = published.run(None, &[("READYSET_INSTALLER_SKIP_CHECKSUM", "1")], &["--version"]);
    assert_eq!(opted_out.status.code(), Some(1), "the opt-out never overrides a mismatch");
}

#[test]
fn without_a_checksum_tool_it_refuses_unless_told_to_skip() {
    let published = publish_real_installer();
    let bin = path_with(&published._scratch.path().join("bin"), BASICS);
    let output = published.run(Some(&bin), &[], &["--version"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("none of sha256sum, shasum or openssl is installed"),
        "{}",
        text(&output.stderr)
    );
    let output = published.run(Some(&bin), &[("READYSET_INSTALLER_SKIP_CHECKSUM", "1")], &["--version"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("UNVERIFIED"));
    assert_eq!(published.leftovers(), 0);
}

#[test]
fn wget_downloads_when_curl_is_missing() {
    let published = publish_real_installer();
    let without_curl: Vec<&str> =
        BASICS.iter().copied().filter(|c| *c != "curl").chain(["wget", "sha256sum"]).collect();
    let bin = path_with(&published._scratch.path().join("bin-wget"), &without_curl);
    let output = published.run(Some(&bin), &[], &["--version"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let bin = path_with(&published._scratch.path().join("bin-neither"), &without_curl[..without_curl.len() - 2]);
    let output = published.run(Some(&bin), &[], &["--version"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("neither curl nor wget is installed"), "{}", text(&output.stderr));
}

#[test]
fn each_checksum_tool_is_used_when_it_is_the_only_one() {
    let published = publish_real_installer();
    for tool in ["sha256sum", "openssl"] {
        let bin = path_with(&published._scratch.path().join(format!("bin-{tool}")), &[BASICS, &[tool]].concat());
        let output = published.run(Some(&bin), &[], &["--version"]);
        assert!(output.status.success(), "{tool}: {}", text(&output.stderr));
    }
}

#[test]
fn an_unsupported_platform_is_refused_with_the_supported_list() {
    let published = publish_real_installer();
    let bin = path_with(
        &published._scratch.path().join("bin-freebsd"),
        &["mktemp", "rm", "chmod", "curl", "cut", "sed", "sha256sum"],
    );
    std::fs::write(bin.join("uname"), "#!/bin/sh\ncase \"$1\" in -s) echo FreeBSD ;; -m) echo amd64 ;; esac\n")
        .unwrap();
    std::fs::set_permissions(bin.join("uname"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = published.run(Some(&bin), &[], &["--version"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("unsupported platform: FreeBSD amd64"), "{stderr}");
    assert!(stderr.contains("Linux x86_64 (glibc or musl), macOS x86_64, macOS arm64"), "{stderr}");
}

/// The rendered script has no `.shellcheckrc` beside it (the wrapper has no shebang, so
/// the dialect is named the way `installer/.shellcheckrc` names it for the template).
#[test]
fn the_template_and_the_rendered_wrapper_pass_shellcheck() {
    let published = publish_real_installer();
    for script in [published.script.clone(), workspace_root().join("installer/readyset-orchestrator.sh")] {
        let output = Command::new(system_tool("shellcheck", "shellcheck"))
            .args(["--shell", "sh"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}: {}", script.display(), text(&output.stdout));
    }
}
