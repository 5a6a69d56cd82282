//! The images' provisioning, run the way Packer runs it on a Debian 12 build instance:
//! the provisioners `images.pkr.hcl` declares for each image, in its order, with its
//! uploads and environment, inside a copy of a Debian 12 root made with mmdebstrap (chroot).
//! A Packer build over SSH cannot run here (no EC2 instance exists in the emulator),
//! so this is where the scripts are proven. `sudo` is left out: the chroot runs as root.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use expect_test::expect;
use xtask::domain::{
    images::packer::IMAGES_FILE,
    images::provisioning::{self, Provisioner},
    publishing::digest::sha256_hex,
};

use crate::support::{
    debian::{chroot, chroot_ok, copy_of_root},
    expect_success, system_tool, text, workspace_root,
};

const STUB: &str = "readyset_1.0.0-stub_amd64.deb";

/// A stand-in for the ReadySet package: both programs the units start, printing their
/// arguments. Built with the real dpkg-deb; returns its directory and SHA-256.
fn stub_package(dir: &Path) -> (PathBuf, String) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: readyset\nVersion: 1.0.0-stub\nArchitecture: amd64\nMaintainer: ReadySet tests <tests@invalid>\n\
         Description: stand-in for ReadySet in the provisioning tests\n",
    )
    .unwrap();
    for program in ["readyset", "readyset-server"] {
        let path = tree.join("usr/bin").join(program);
        std::fs::write(&path, "#!/bin/sh\necho \"$0\" \"$@\"\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let packages = dir.join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let output = Command::new(system_tool("dpkg-deb", "dpkg"))
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(packages.join(STUB))
        .output()
        .unwrap();
    expect_success("dpkg-deb --build", &output);
    let sha256 = sha256_hex(&std::fs::read(packages.join(STUB)).unwrap());
    (packages, sha256)
}

/// What a booted build instance has that the image must not keep: Packer's key in
/// authorized_keys (root's and the login user's), cloud-init's record of this instance.
fn boot_like_a_build_instance(root: &Path) {
    for dir in ["root/.ssh", "home/admin/.ssh", "var/lib/cloud/instances/i-0build"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in ["root/.ssh/authorized_keys", "home/admin/.ssh/authorized_keys"] {
        std::fs::write(root.join(file), "ssh-ed25519 AAAA packer_build_key\n").unwrap();
    }
    std::os::unix::fs::symlink("/var/lib/cloud/instances/i-0build", root.join("var/lib/cloud/instance")).unwrap();
    chroot_ok(root, "ssh-keygen -A > /dev/null; systemd-machine-id-setup > /dev/null 2>&1");
}

/// Runs the image's provisioners in `root` as Packer would; stops at the first failure
/// and returns its output.
fn provision(root: &Path, image: &str, package_dir: &Path, packages: &str) -> Result<(), Output> {
    let text = std::fs::read_to_string(workspace_root().join(IMAGES_FILE)).unwrap();
    let template_dir = workspace_root().join("ops/image-deploy");
    let resolve = |value: &str| {
        value
            .replace("${path.root}", template_dir.to_str().unwrap())
            .replace("${var.package_dir}", package_dir.to_str().unwrap())
            .replace("${source.name}", image)
            .replace("${var.packages}", packages)
    };
    for provisioner in provisioning::for_image(&text, image).unwrap() {
        let output = match provisioner {
            Provisioner::Script { path, env } => {
                std::fs::copy(resolve(&path), root.join("tmp/packer-script.sh")).unwrap();
                let env: Vec<(String, String)> = env
                    .iter()
                    .map(|pair| pair.split_once('=').unwrap())
                    .map(|(name, value)| (name.to_owned(), resolve(value)))
                    .collect();
                let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                chroot(root, "sh -eu /tmp/packer-script.sh", &env)
            }
            Provisioner::Inline(commands) => chroot(root, &commands.join("\n"), &[]),
            Provisioner::Upload { source, destination } => {
                upload(&resolve(&source), &root.join(destination.trim_start_matches('/')));
                continue;
            }
        };
        if !output.status.success() {
            return Err(output);
        }
    }
    Ok(())
}

/// A file provisioner with a directory source ending in `/`: its contents go into the
/// destination, which must exist (as Packer requires).
fn upload(source: &str, destination: &Path) {
    assert!(source.ends_with('/'), "the tests upload directories' contents only: {source}");
    assert!(destination.is_dir(), "{} does not exist on the instance when Packer uploads to it", destination.display());
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), destination.join(entry.file_name())).unwrap();
    }
}

/// What an image holds after provisioning, as one text for a snapshot.
fn facts(root: &Path) -> String {
    chroot_ok(
        root,
        r#"
        say() { printf '%s: %s\n' "$1" "${2:-none}"; }
        say "user readyset" "$(getent passwd readyset | cut -d: -f1,6,7)"
        say "package" "$(dpkg-query -W -f '${Package} ${Version}' readyset 2>/dev/null)"
        say "/etc/readyset" "$(stat -c '%a %U:%G' /etc/readyset 2>/dev/null)"
        for unit in /etc/systemd/system/readyset-*.service; do
            [ -e "$unit" ] || continue
            name=${unit##*/}
            enabled=no; [ -L "/etc/systemd/system/multi-user.target.wants/$name" ] && enabled=yes
            say "unit $name" "enabled=$enabled $(grep -E '^(ConditionPathExists|ExecStart|User)=' "$unit" | paste -sd' ')"
        done
        say "authorized_keys left" "$(find /root /home -name authorized_keys | paste -sd' ')"
        say "host keys left" "$(find /etc/ssh -name 'ssh_host_*' | paste -sd' ')"
        say "machine-id bytes" "$(wc -c < /etc/machine-id)"
        say "cloud-init state" "$(ls /var/lib/cloud 2>/dev/null | paste -sd' ')"
        say "apt lists" "$(find /var/lib/apt/lists -type f | paste -sd' ')"
        say "cached packages" "$(find /var/cache/apt -name '*.deb' | paste -sd' ')"
        say "left in /tmp" "$(ls /tmp | grep -v packer-script | paste -sd' ')"
        say "aws cli" "$(command -v aws)"
        # As at first boot: new host keys, then the SSH server's effective settings.
        ssh-keygen -A > /dev/null
        mkdir -p /run/sshd
        say "sshd" "$(/usr/sbin/sshd -T | grep -E '^(passwordauthentication|permitrootlogin|kbdinteractiveauthentication) ' | sort | paste -sd' ')"
        "#,
    )
}

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-2:123456789012:secret:shop-db-AbCdEf";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-2:123456789012:stack/shop-Server-1A2B/0f1e2d3c";
/// What the template's UserData is given in these tests, for each `${...}` it names.
const LAUNCH_PARAMETERS: [(&str, &str); 5] = [
    ("AWS::Region", "us-east-2"),
    ("AWS::StackId", STACK_ID),
    ("DeploymentName", "shop-cache"),
    ("UpstreamDatabaseSecretArn", SECRET_ARN),
    ("ServerAddress", "10.0.1.23"),
];
/// The upstream URL in the secret: every character that is special in a double-quoted
/// value (shell's and systemd's EnvironmentFile's) is in the password.
const UPSTREAM_URL: &str = r#"mysql://app:p"w\d$x`y @db.internal:3306/shop"#;

/// The template's UserData with CloudFormation's `Fn::Sub` done, or `None` for a
/// template that has none. A name without a value here fails the test.
fn user_data(image: &str) -> Option<String> {
    let path = workspace_root().join("ops/cfn").join(format!("{image}.yaml"));
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let user_data = template["Resources"]["Instance"]["Properties"].get("UserData")?;
    let serde_yaml_ng::Value::Tagged(sub) = &user_data["Fn::Base64"] else {
        panic!("{image}: UserData is not Fn::Base64 of !Sub: {user_data:?}");
    };
    assert_eq!(sub.tag, "Sub", "{image}");
    let mut script = sub.value.as_str().unwrap().to_owned();
    for (name, value) in LAUNCH_PARAMETERS {
        script = script.replace(&format!("${{{name}}}"), value);
    }
    assert!(!script.contains("${"), "{image}: UserData names a parameter the test does not give:\n{script}");
    Some(script)
}

/// Stand-ins in /usr/local/bin, each reporting what it was asked: `aws` (the instance's
/// AWS CLI reads the secret and signals CloudFormation with the instance profile, which
/// no chroot has; the secret fails as many times as /tmp/aws-failures says first, and
/// each signal is appended to /tmp/signals), `systemctl` and `journalctl` (no systemd
/// runs in a chroot; `is-active` answers what /tmp/unit-state says) and `sleep` (so
/// retries take no time). cloud-init's record of the instance ID is written too.
fn install_launch_stand_ins(root: &Path) {
    let aws = format!(
        "#!/bin/sh\ncase \"$*\" in\n\
         'secretsmanager get-secret-value --region us-east-2 --secret-id {SECRET_ARN} --query SecretString --output text')\n\
         left=$(cat /tmp/aws-failures)\n\
         if [ \"$left\" -gt 0 ]; then echo $((left - 1)) > /tmp/aws-failures; \
         echo 'aws (stand-in): Unable to locate credentials' >&2; exit 253; fi\n\
         cat <<'URL'\n{UPSTREAM_URL}\nURL\n;;\n\
         'cloudformation signal-resource '*) echo \"aws $*\" >> /tmp/signals ;;\n\
         *) echo \"unexpected: aws $*\" >&2; exit 9 ;;\nesac\n"
    );
    let systemctl = "#!/bin/sh\necho \"systemctl $*\" >&2\n\
                     [ \"$1\" != is-active ] || [ \"$(cat /tmp/unit-state)\" = active ]\n";
    let journalctl = "#!/bin/sh\necho \"readyset[812]: error: cannot reach the upstream database (journalctl $*)\"\n";
    let sleep = "#!/bin/sh\necho \"sleep $*\" >&2\n";
    for (name, script) in
        [("aws", aws.as_str()), ("systemctl", systemctl), ("journalctl", journalctl), ("sleep", sleep)]
    {
        let path = root.join("usr/local/bin").join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    std::fs::create_dir_all(root.join("var/lib/cloud/data")).unwrap();
    std::fs::write(root.join("var/lib/cloud/data/instance-id"), "i-0123456789abcdef0\n").unwrap();
}

/// One launch: the UserData run as cloud-init runs it (as root, /usr/local/bin first in
/// PATH), with the secret failing `secret_failures` times and the unit in `unit_state`
/// once started. Returns its output and the signals it sent, in order.
fn launch(root: &Path, user_data: &str, secret_failures: u32, unit_state: &str) -> (Output, String) {
    std::fs::write(root.join("tmp/user-data"), user_data).unwrap();
    std::fs::write(root.join("tmp/aws-failures"), secret_failures.to_string()).unwrap();
    std::fs::write(root.join("tmp/unit-state"), unit_state).unwrap();
    std::fs::write(root.join("tmp/signals"), "").unwrap();
    let ran = chroot(root, "PATH=/usr/local/bin:$PATH; sh /tmp/user-data", &[]);
    let signals = std::fs::read_to_string(root.join("tmp/signals")).unwrap();
    (ran, signals.replace(STACK_ID, "<stack id>"))
}

/// An image that reads the secret is first launched with a secret it can never read: it
/// must give up with a message, write nothing, start nothing and signal FAILURE.
fn launch_without_the_secret(root: &Path, image: &str, user_data: &str) -> String {
    let (refused, signals) = launch(root, user_data, 99, "active");
    assert!(!refused.status.success(), "{image}: UserData without its secret succeeded");
    let written = std::fs::read_dir(root.join("etc/readyset")).unwrap().count();
    assert_eq!(written, 0, "{image}: nothing is written without the secret");
    let said = text(&refused.stderr);
    let tries = said.lines().filter(|line| line.starts_with("aws (stand-in)")).count();
    let waits: Vec<&str> = said.lines().filter_map(|line| line.strip_prefix("sleep ")).collect();
    assert_eq!((tries, waits.join(" ")), (6, "2 4 8 16 32".to_owned()), "{image}: the retries:\n{said}");
    assert!(!said.contains("systemctl start"), "{image}: started without its secret:\n{said}");
    let reason = said.lines().find(|line| line.contains("did not start")).unwrap_or_default();
    format!(
        "UserData without the secret: {} after {tries} tries; said: {reason}\n  signalled: {signals}",
        refused.status
    )
}

/// A unit that is not active after it was started: the UserData signals FAILURE and
/// puts the reason and the unit's last log lines on the console (its stderr).
fn launch_with_a_failing_unit(root: &Path, image: &str, user_data: &str) -> String {
    let (failed, signals) = launch(root, user_data, 0, "failed");
    assert!(!failed.status.success(), "{image}: UserData succeeded though the unit stopped");
    let stderr = text(&failed.stderr);
    let console: Vec<&str> =
        stderr.lines().filter(|l| !l.starts_with("systemctl ") && !l.starts_with("sleep ")).collect();
    format!(
        "UserData with a unit that stops: {}; console:\n{}\n  signalled: {signals}",
        failed.status,
        console.join("\n")
    )
}

/// Launches the provisioned image as its template configures it: without its secret
/// (where it reads one), with a unit that fails, then as it should go, with one failure
/// before the secret comes. Checks that it wrote the file the unit reads, with exactly
/// the keys the unit names, that the secret's value reads back unchanged, and that only
/// then did it signal SUCCESS; returns what it saw.
fn configure_at_launch(root: &Path, image: &str, user_data: &str) -> String {
    install_launch_stand_ins(root);
    let mut out = String::new();
    if user_data.contains("get-secret-value") {
        out += &launch_without_the_secret(root, image, user_data);
    }
    out += &launch_with_a_failing_unit(root, image, user_data);
    let (ran, signals) = launch(root, user_data, 1, "active");
    expect_success(&format!("{image}'s UserData"), &ran);

    let unit = std::fs::read_to_string(root.join("etc/systemd/system").join(format!("{image}.service"))).unwrap();
    let setting =
        |name: &str| unit.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("{image}: no {name}"));
    let env_file = setting("EnvironmentFile=");
    assert_eq!(setting("ConditionPathExists="), env_file, "{image}: the unit waits for the file it reads");
    let keys: BTreeSet<&str> = setting("# Keys: ").split_whitespace().collect();
    let written = std::fs::read_to_string(root.join(env_file.trim_start_matches('/'))).unwrap();
    let written_keys: Vec<&str> = written.lines().map(|l| l.split_once('=').unwrap().0).collect();
    assert_eq!(written_keys.len(), keys.len(), "{image}: each key written once:\n{written}");
    assert_eq!(written_keys.into_iter().collect::<BTreeSet<_>>(), keys, "{image}: exactly the keys the unit names");
    let mode = chroot_ok(root, &format!("stat -c '%a %U:%G' {env_file}"));
    let stderr = text(&ran.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("sleep 1")).collect();
    out += &format!("UserData wrote {env_file} ({}), saying:\n{}\n", mode.trim(), squeezed(&said));
    out += &written;
    out += &format!("  signalled: {signals}");
    if keys.contains(&"UPSTREAM_DB_URL") {
        let read_back = chroot_ok(root, &format!(". {env_file}; printf '%s' \"$UPSTREAM_DB_URL\""));
        assert_eq!(read_back, UPSTREAM_URL, "{image}: the URL reads back unchanged");
    }
    out
}

/// Lines with runs of the same line told once, with their count.
fn squeezed(lines: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let run = lines[index..].iter().take_while(|line| **line == lines[index]).count();
        out.push(if run > 1 { format!("{} ({run} times)", lines[index]) } else { lines[index].to_owned() });
        index += run;
    }
    out.join("\n")
}

/// Each template's UserData, as CloudFormation substitutes it, passes shellcheck (the
/// images' UserData runs under Debian's /bin/sh).
#[test]
fn every_user_data_passes_shellcheck() {
    let mut checked = Vec::new();
    for image in ["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter", "readyset-bastion"] {
        let Some(script) = user_data(image) else { continue };
        let mut shellcheck = Command::new(system_tool("shellcheck", "shellcheck"))
            .args(["--shell", "sh", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut shellcheck.stdin.take().unwrap(), script.as_bytes()).unwrap();
        let output = shellcheck.wait_with_output().unwrap();
        assert!(output.status.success(), "{image}'s UserData:\n{}", text(&output.stdout));
        checked.push(image);
    }
    assert_eq!(checked, ["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter"]);
}

/// How exposed `systemd-analyze security` rates a unit as installed in the image; the
/// issue that hardened the units asks for "OK" or "MEDIUM" at worst.
fn exposure(analyze: &Path, root: &Path, unit: &str) -> String {
    let installed = root.join("etc/systemd/system").join(unit);
    let rated = Command::new(analyze).args(["security", "--offline=true"]).arg(&installed).output().unwrap();
    let said = text(&rated.stdout);
    let verdict = said.lines().find_map(|line| line.split_once("Overall exposure level for ")).map(|(_, v)| v);
    let verdict = verdict.unwrap_or_else(|| panic!("{unit}: no exposure level in:\n{said}{}", text(&rated.stderr)));
    let rating = verdict.split_once(": ").unwrap().1.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let level = rating.split_whitespace().nth(1).unwrap_or_default();
    assert!(["PERFECT", "SAFE", "OK", "MEDIUM"].contains(&level), "{unit} is rated {rating}:\n{said}");
    rating
}

/// Every image as Packer provisions it, then what it holds; and every unit passes
/// `systemd-analyze verify` in the image it was installed into, without a warning, and
/// is rated "OK" or better by `systemd-analyze security`.
#[test]
fn every_image_is_provisioned_as_packer_runs_it_in_a_debian_12_root() {
    let scratch = tempfile::tempdir().unwrap();
    let (package_dir, sha256) = stub_package(scratch.path());
    let packages = format!("{STUB}={sha256}");
    let images = ["readyset-server", "readyset-mysql-adapter", "readyset-postgres-adapter", "readyset-bastion"];
    let analyze = system_tool("systemd-analyze", "systemd");
    let mut seen = String::new();
    for image in images {
        let copy = copy_of_root();
        let root = copy.root.clone();
        boot_like_a_build_instance(&root);
        if let Err(failed) = provision(&root, image, &package_dir, &packages) {
            panic!("provisioning {image} failed:\n{}\n{}", text(&failed.stdout), text(&failed.stderr));
        }
        seen += &format!("== {image}\n{}", facts(&root));
        let unit = format!("{image}.service");
        if root.join("etc/systemd/system").join(&unit).exists() {
            // A unit waits for its configuration: the image's template must write it.
            let user_data =
                user_data(image).unwrap_or_else(|| panic!("{image} has a unit but its template no UserData"));
            seen += &configure_at_launch(&root, image, &user_data);
            let installed = std::fs::read(root.join("etc/systemd/system").join(&unit)).unwrap();
            let source = std::fs::read(workspace_root().join("ops/image-deploy/units").join(&unit)).unwrap();
            assert_eq!(installed, source, "{unit} is installed as written");
            let verified = Command::new(&analyze)
                .arg(format!("--root={}", root.display()))
                .args(["verify", &unit])
                .output()
                .unwrap();
            seen += &format!("systemd-analyze verify {unit}: {}{}\n", verified.status, text(&verified.stderr));
            seen += &format!("systemd-analyze security {unit}: {}\n", exposure(&analyze, &root, &unit));
        }
    }
    expect![[r#"
        == readyset-server
        user readyset: readyset:/var/lib/readyset:/usr/sbin/nologin
        package: readyset 1.0.0-stub
        /etc/readyset: 750 root:readyset
        unit readyset-server.service: enabled=yes ConditionPathExists=/etc/readyset/readyset-server.env User=readyset ExecStart=/usr/bin/readyset-server
        authorized_keys left: none
        host keys left: none
        machine-id bytes: 0
        cloud-init state: none
        apt lists: none
        cached packages: none
        left in /tmp: none
        aws cli: /usr/bin/aws
        sshd: kbdinteractiveauthentication no passwordauthentication no permitrootlogin no
        UserData with a unit that stops: exit status: 1; console:
        readyset-server.service did not start: it stopped 1 s after starting. Its last log lines:
        readyset[812]: error: cannot reach the upstream database (journalctl --unit readyset-server.service --lines 20 --no-pager)
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status FAILURE
        UserData wrote /etc/readyset/readyset-server.env (640 root:readyset), saying:
        systemctl start readyset-server.service
        systemctl is-active --quiet readyset-server.service (10 times)
        DEPLOYMENT=shop-cache
        LISTEN_ADDRESS=0.0.0.0:5433
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status SUCCESS
        systemd-analyze verify readyset-server.service: exit status: 0
        systemd-analyze security readyset-server.service: 1.4 OK
        == readyset-mysql-adapter
        user readyset: readyset:/var/lib/readyset:/usr/sbin/nologin
        package: readyset 1.0.0-stub
        /etc/readyset: 750 root:readyset
        unit readyset-mysql-adapter.service: enabled=yes ConditionPathExists=/etc/readyset/readyset-mysql-adapter.env User=readyset ExecStart=/usr/bin/readyset --database-type mysql
        authorized_keys left: none
        host keys left: none
        machine-id bytes: 0
        cloud-init state: none
        apt lists: none
        cached packages: none
        left in /tmp: none
        aws cli: /usr/bin/aws
        sshd: kbdinteractiveauthentication no passwordauthentication no permitrootlogin no
        UserData without the secret: exit status: 1 after 6 tries; said: readyset-mysql-adapter.service did not start: cannot read the upstream database secret after 6 tries. Let the instance role read the secret (and decrypt it), and let the subnet reach Secrets Manager; then replace the instance. Its last log lines:
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status FAILURE
        UserData with a unit that stops: exit status: 1; console:
        readyset-mysql-adapter.service did not start: it stopped 1 s after starting. Its last log lines:
        readyset[812]: error: cannot reach the upstream database (journalctl --unit readyset-mysql-adapter.service --lines 20 --no-pager)
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status FAILURE
        UserData wrote /etc/readyset/readyset-mysql-adapter.env (640 root:readyset), saying:
        aws (stand-in): Unable to locate credentials
        reading the upstream database secret failed; trying again in 2 s
        sleep 2
        systemctl start readyset-mysql-adapter.service
        systemctl is-active --quiet readyset-mysql-adapter.service (10 times)
        DEPLOYMENT=shop-cache
        UPSTREAM_DB_URL="mysql://app:p\"w\\d\$x\`y @db.internal:3306/shop"
        SERVER_ADDRESS=10.0.1.23:5433
        LISTEN_ADDRESS=0.0.0.0:3306
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status SUCCESS
        systemd-analyze verify readyset-mysql-adapter.service: exit status: 0
        systemd-analyze security readyset-mysql-adapter.service: 1.4 OK
        == readyset-postgres-adapter
        user readyset: readyset:/var/lib/readyset:/usr/sbin/nologin
        package: readyset 1.0.0-stub
        /etc/readyset: 750 root:readyset
        unit readyset-postgres-adapter.service: enabled=yes ConditionPathExists=/etc/readyset/readyset-postgres-adapter.env User=readyset ExecStart=/usr/bin/readyset --database-type postgresql
        authorized_keys left: none
        host keys left: none
        machine-id bytes: 0
        cloud-init state: none
        apt lists: none
        cached packages: none
        left in /tmp: none
        aws cli: /usr/bin/aws
        sshd: kbdinteractiveauthentication no passwordauthentication no permitrootlogin no
        UserData without the secret: exit status: 1 after 6 tries; said: readyset-postgres-adapter.service did not start: cannot read the upstream database secret after 6 tries. Let the instance role read the secret (and decrypt it), and let the subnet reach Secrets Manager; then replace the instance. Its last log lines:
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status FAILURE
        UserData with a unit that stops: exit status: 1; console:
        readyset-postgres-adapter.service did not start: it stopped 1 s after starting. Its last log lines:
        readyset[812]: error: cannot reach the upstream database (journalctl --unit readyset-postgres-adapter.service --lines 20 --no-pager)
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status FAILURE
        UserData wrote /etc/readyset/readyset-postgres-adapter.env (640 root:readyset), saying:
        aws (stand-in): Unable to locate credentials
        reading the upstream database secret failed; trying again in 2 s
        sleep 2
        systemctl start readyset-postgres-adapter.service
        systemctl is-active --quiet readyset-postgres-adapter.service (10 times)
        DEPLOYMENT=shop-cache
        UPSTREAM_DB_URL="mysql://app:p\"w\\d\$x\`y @db.internal:3306/shop"
        SERVER_ADDRESS=10.0.1.23:5433
        LISTEN_ADDRESS=0.0.0.0:5432
          signalled: aws cloudformation signal-resource --region us-east-2 --stack-name <stack id> --logical-resource-id Instance --unique-id i-0123456789abcdef0 --status SUCCESS
        systemd-analyze verify readyset-postgres-adapter.service: exit status: 0
        systemd-analyze security readyset-postgres-adapter.service: 1.4 OK
        == readyset-bastion
        user readyset: none
        package: none
        /etc/readyset: none
        authorized_keys left: none
        host keys left: none
        machine-id bytes: 0
        cloud-init state: none
        apt lists: none
        cached packages: none
        left in /tmp: none
        aws cli: none
        sshd: kbdinteractiveauthentication no passwordauthentication no permitrootlogin no
    "#]].assert_eq(&seen.replace(&sha256, "<sha256>"));
}

/// A package whose bytes are not what `amis build` hashed is refused before anything is
/// installed: no user, no package, no unit.
#[test]
fn a_package_with_another_checksum_is_refused_before_anything_is_installed() {
    let scratch = tempfile::tempdir().unwrap();
    let (package_dir, sha256) = stub_package(scratch.path());
    let copy = copy_of_root();
    let root = copy.root.clone();
    boot_like_a_build_instance(&root);
    let wrong = format!("{STUB}={}", "0".repeat(64));
    let failed = provision(&root, "readyset-server", &package_dir, &wrong).expect_err("a wrong checksum is refused");
    assert_eq!(failed.status.code(), Some(1));
    expect![[r#"
        readyset.sh: readyset_1.0.0-stub_amd64.deb has sha256 <sha256>, but amis build recorded 0000000000000000000000000000000000000000000000000000000000000000; refusing to install it
    "#]].assert_eq(&text(&failed.stderr).replace(&sha256, "<sha256>"));
    let installed = chroot_ok(
        &root,
        "getent passwd readyset || echo no user; dpkg-query -W readyset 2>/dev/null || echo no package; \
         ls /etc/systemd/system/readyset-server.service 2>/dev/null || echo no unit",
    );
    expect![[r#"
        no user
        no package
        no unit
    "#]]
    .assert_eq(&installed);
}
