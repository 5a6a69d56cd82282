//! A minimal Debian 12 root for running the images' provisioning scripts, made with
//! mmdebstrap once and kept under target/root-tests/ (it takes half a minute or more,
//! and the scripts never change it: each test works on a copy). It is kept by a key
//! of what it holds (tool, suite, variant, packages), so a change to the package list
//! makes a new one instead of testing against a stale root. Debian's own mirror is
//! mmdebstrap's default.
//!
//! Everything here needs root: as root, or as root of a user namespace that maps the
//! user's subordinate IDs (`cargo xtask ci` runs these tests so without root). That is
//! why the root has no device nodes (a user namespace may not make them): each copy
//! binds the few a script uses from the host.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Mutex,
};

use xtask::domain::publishing::digest::sha256_hex;

use super::{expect_success, system_tool, text, workspace};

/// What the official Debian 12 AMIs have that the scripts touch: systemd, OpenSSH's
/// server, cloud-init (and python3-cffi-backend, which it needs at run time).
const PACKAGES: &str = "systemd,systemd-sysv,openssh-server,cloud-init,python3-cffi-backend,ca-certificates";
const SUITE: &str = "bookworm";
/// Device nodes the provisioning scripts use, bound from the host into each copy.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];
const VARIANT: &str = "minbase";
/// Written last, so a root that a killed run left half made is made again.
const COMPLETE: &str = ".xtask-root-complete";

static MAKING: Mutex<()> = Mutex::new(());

/// The cached root, made first if needed.
pub fn root() -> PathBuf {
    let _one = MAKING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = &sha256_hex(format!("mmdebstrap {SUITE} {VARIANT} {PACKAGES}").as_bytes())[..12];
    let dir = root_tests_dir().join(format!("debian-12-root-{key}"));
    if dir.join(COMPLETE).exists() {
        return dir;
    }
    require_root();
    let mmdebstrap = system_tool("mmdebstrap", "mmdebstrap");
    if dir.exists() {
        unmount_below(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let output = Command::new(mmdebstrap)
        .args(["--mode=root", "--skip=output/dev", &format!("--variant={VARIANT}"), &format!("--include={PACKAGES}")])
        .arg(SUITE)
        .arg(&dir)
        .output()
        .unwrap();
    unmount_below(&dir);
    expect_success("mmdebstrap of a Debian 12 root", &output);
    std::fs::write(dir.join(COMPLETE), SUITE).unwrap();
    dir
}

/// A writable copy of the root for one test, so the cached root is never written. A
/// plain copy (about two seconds): an overlay mounted in a user namespace cannot rename
/// a directory of its lower layer, which dpkg does ("Invalid cross-device link"). Its
/// devices are unbound and it is removed on drop, also when the test fails.
pub struct RootCopy {
    pub root: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Drop for RootCopy {
    fn drop(&mut self) {
        for device in DEVICES {
            let _ = Command::new("umount").arg(self.root.join("dev").join(device)).status();
        }
    }
}

pub fn copy_of_root() -> RootCopy {
    let cached = root();
    let scratch = tempfile::Builder::new().prefix("provision-").tempdir_in(root_tests_dir()).unwrap();
    let root = scratch.path().join("root");
    let output = Command::new("cp").arg("--archive").arg(&cached).arg(&root).output().unwrap();
    expect_success("copying the Debian root", &output);
    let copy = RootCopy { root, _scratch: scratch };
    for device in DEVICES {
        let (host, inside) = (Path::new("/dev").join(device), copy.root.join("dev").join(device));
        // As root mmdebstrap may make some nodes itself; a bind needs something there.
        if std::fs::symlink_metadata(&inside).is_err() {
            std::fs::write(&inside, "").unwrap();
        }
        let output = Command::new("mount").arg("--bind").arg(&host).arg(&inside).output().unwrap();
        expect_success(&format!("binding {} into the copy", host.display()), &output);
    }
    copy
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
        "the provisioning tests need root or a user namespace (mmdebstrap, bind mounts, chroot): run them with `cargo xtask ci`, which gives them one"
    );
}

/// mmdebstrap mounts /proc (and more) inside the root while it works; nothing below
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
