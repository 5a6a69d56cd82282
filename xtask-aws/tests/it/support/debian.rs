//! A minimal Debian 12 root for running the images' provisioning scripts, made with
//! debootstrap once and kept under target/root-tests/ (it takes a minute or more, and the scripts
//! never change it: each test works on an overlay). It is kept by a key of what it holds
//! (suite, variant, packages), so a change to the package list makes a new one instead
//! of testing against a stale root. Debian's own mirror is debootstrap's default.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Mutex,
};

use xtask::domain::publishing::digest::sha256_hex;

use super::{expect_success, system_tool, text, workspace};

/// What the official Debian 12 AMIs have that the scripts touch: systemd, OpenSSH's
/// server, cloud-init (and a dependency debootstrap does not resolve by itself).
const PACKAGES: &str = "systemd,systemd-sysv,openssh-server,cloud-init,python3-cffi-backend,ca-certificates";
const SUITE: &str = "bookworm";
const VARIANT: &str = "minbase";
/// Written last, so a root that a killed run left half made is made again.
const COMPLETE: &str = ".xtask-debootstrap-complete";

static MAKING: Mutex<()> = Mutex::new(());

/// The cached root, made first if needed.
pub fn root() -> PathBuf {
    let _one = MAKING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = &sha256_hex(format!("{SUITE} {VARIANT} {PACKAGES}").as_bytes())[..12];
    let dir = root_tests_dir().join(format!("debian-12-root-{key}"));
    if dir.join(COMPLETE).exists() {
        return dir;
    }
    require_root();
    let debootstrap = system_tool("debootstrap", "debootstrap");
    if dir.exists() {
        unmount_below(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let output = Command::new(debootstrap)
        .args([&format!("--variant={VARIANT}"), &format!("--include={PACKAGES}"), SUITE])
        .arg(&dir)
        .output()
        .unwrap();
    unmount_below(&dir);
    expect_success("debootstrap of a Debian 12 root", &output);
    std::fs::write(dir.join(COMPLETE), SUITE).unwrap();
    dir
}

/// A writable view of the root for one test: an overlay whose changes go to a scratch
/// directory, so the cached root is never written (copying it took a minute).
/// Unmounted and removed on drop, also when the test fails.
pub struct RootCopy {
    pub root: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Drop for RootCopy {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.root).status();
    }
}

pub fn copy_of_root() -> RootCopy {
    let lower = root();
    let scratch = tempfile::Builder::new().prefix("provision-").tempdir_in(root_tests_dir()).unwrap();
    let (upper, work, root) = (scratch.path().join("upper"), scratch.path().join("work"), scratch.path().join("root"));
    for dir in [&upper, &work, &root] {
        std::fs::create_dir(dir).unwrap();
    }
    let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    let output = Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(&root).output().unwrap();
    expect_success("mounting an overlay of the Debian root", &output);
    RootCopy { root, _scratch: scratch }
}

/// Runs a shell command inside `root` as root, with a clean environment.
pub fn chroot(root: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("chroot");
    command.arg(root).args(["/bin/sh", "-euc", script]).env_clear();
    command.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("LANG", "C.UTF-8").envs(env.iter().copied());
    command.output().unwrap()
}

pub fn chroot_ok(root: &Path, script: &str) -> String {
    expect_success(script, &chroot(root, script, &[]))
}

/// Never handed to the user of `cargo xtask ci --unprivileged-as`: the root's files
/// keep their owners.
fn root_tests_dir() -> PathBuf {
    let dir = workspace().output_dir().join(xtask::commands::ci::ROOT_TESTS_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn require_root() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        text(&uid.stdout).trim(),
        "0",
        "the provisioning tests need root (debootstrap, an overlay mount, chroot): run them as root with `cargo xtask ci --root-tests`, the pipeline's privileged step"
    );
}

/// debootstrap mounts /proc (and more) inside the root while it works; nothing below
/// the root may stay mounted before it is removed or kept.
fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let prefix = format!("{}/", dir.display());
    let mut below: Vec<&str> =
        mounts.lines().filter_map(|line| line.split(' ').nth(1)).filter(|point| point.starts_with(&prefix)).collect();
    below.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in below {
        let output = Command::new("umount").arg(point).output().unwrap();
        expect_success(&format!("umount {point}"), &output);
    }
}
