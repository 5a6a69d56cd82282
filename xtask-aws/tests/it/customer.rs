//! The customer's first minute: the published command run by every shell a customer
//! may have, downloads over HTTPS by curl, GNU wget and BusyBox wget from a local
//! HTTPS server, a download cut at every byte, temporary directories that cannot run
//! programs, questions on the terminal, and the installer's `launch`.
//!
//! The Linux installer is the real static build; the two macOS installers are small
//! scripts standing in for binaries this host cannot build or run, reached with
//! stand-ins for `uname` and `sysctl`.

use std::{
    collections::BTreeMap,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use expect_test::expect;
use xtask::domain::{
    names::tag::ReleaseTag,
    publishing::digest::sha256_hex,
    publishing::wrapper::{self, customer_command},
};

use crate::support::{config, https::Https, path_with, site::real_linux_build, system_tool, text, workspace_root};

/// One release served over HTTPS, and a scratch home for the customer.
struct Served {
    server: Https,
    tag: String,
    linux_installer: PathBuf,
    scratch: tempfile::TempDir,
}

const MAC_STAND_INS: &[(&str, &str)] = &[
    ("x86_64-apple-darwin", "#!/bin/sh\necho \"macOS x86_64 installer: $*\"\n"),
    ("aarch64-apple-darwin", "#!/bin/sh\necho \"macOS arm64 installer: $*\"\n"),
];

fn served() -> Served {
    let server = Https::serve();
    let scratch = tempfile::tempdir().unwrap();
    let tag = real_linux_build(&scratch.path().join("build"));
    let linux_installer = scratch.path().join("build/x86_64-unknown-linux-gnu");
    let mut checksums = BTreeMap::new();
    let linux = std::fs::read(&linux_installer).unwrap();
    server.put(&format!("binaries/{tag}/x86_64-unknown-linux-gnu"), &linux);
    checksums.insert("x86_64-unknown-linux-gnu".to_owned(), Some(sha256_hex(&linux)));
    for (name, script) in MAC_STAND_INS {
        server.put(&format!("binaries/{tag}/{name}"), script.as_bytes());
        checksums.insert(name.to_string(), Some(sha256_hex(script.as_bytes())));
    }
    let template = std::fs::read_to_string(workspace_root().join(wrapper::TEMPLATE_PATH)).unwrap();
    let rendered =
        wrapper::render(&template, &ReleaseTag::parse(&tag).unwrap(), &server.base_url(), &checksums).unwrap();
    server.put("readyset-orchestrator.sh", rendered.as_bytes());
    std::fs::write(scratch.path().join("wrapper.sh"), &rendered).unwrap();
    for dir in ["home", "tmp"] {
        std::fs::create_dir_all(scratch.path().join(dir)).unwrap();
    }
    Served { server, tag, linux_installer, scratch }
}

impl Served {
    /// The rendered wrapper, as the server holds it.
    fn script(&self) -> Vec<u8> {
        self.server.get("readyset-orchestrator.sh")
    }

    /// The command the documentation gives, pointed at the test server.
    fn customer_command(&self) -> String {
        customer_command(&self.server.base_url())
    }

    /// `sh -c <line>` as a customer's session runs it, without a controlling terminal
    /// (`setsid`), in a scratch home and temporary directory, trusting the test server.
    fn command(&self, line: &str) -> Command {
        let mut command = Command::new(system_tool("setsid", "util-linux"));
        command.args(["-w", "/bin/sh", "-c", line]).stdin(Stdio::null());
        self.environment(&mut command);
        command
    }

    fn environment(&self, command: &mut Command) {
        command
            .env("HOME", self.scratch.path().join("home"))
            .env("TMPDIR", self.scratch.path().join("tmp"))
            .env_remove("XDG_CACHE_HOME")
            .env_remove("READYSET_INSTALLER_BASE_URL")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
        self.server.trust(command);
    }

    fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for dir in ["tmp", "home/.cache/readyset-installer"] {
            if let Ok(entries) = std::fs::read_dir(self.scratch.path().join(dir)) {
                found.extend(entries.map(|entry| entry.unwrap().path().display().to_string()));
            }
        }
        found
    }

    /// Output with the server's URLs, the scratch directory and the release name
    /// replaced by names, for a snapshot.
    fn normalise(&self, output: &Output) -> String {
        let both = format!(
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            output.status,
            text(&output.stdout),
            text(&output.stderr)
        );
        self.normalise_text(&both)
    }

    fn normalise_text(&self, text: &str) -> String {
        self.server
            .normalise(text)
            .replace(&self.scratch.path().display().to_string(), "<scratch>")
            .replace(&self.tag, "<tag>")
            .replace('\r', "")
    }
}

/// The shells the wrapper is run with: Debian's `sh` (dash), bash, mksh, posh and
/// BusyBox ash, each given as the argv that reads a script from standard input.
const SHELLS: &[&[&str]] = &[&["dash"], &["bash"], &["mksh"], &["posh"], &["busybox", "sh"]];

fn shell_program(shell: &[&str]) -> PathBuf {
    let package = if shell[0] == "dash" { "dash" } else { shell[0] };
    system_tool(shell[0], package)
}

#[test]
fn the_documented_command_shows_the_release_and_the_next_step_on_every_shell() {
    let served = served();
    let command = served.customer_command();
    let mut outputs = BTreeMap::new();
    for shell in SHELLS {
        let program = shell_program(shell).display().to_string();
        let line = format!(
            "{} {}",
            command.strip_suffix(" sh").unwrap(),
            [&[program.as_str()], &shell[1..]].concat().join(" ")
        );
        let output = served.command(&line).output().unwrap();
        outputs.insert(shell.join(" "), served.normalise(&output));
    }
    let dash = outputs["dash"].clone();
    for (shell, output) in &outputs {
        assert_eq!(output, &dash, "{shell} differs from dash");
    }
    assert_eq!(served.leftovers(), Vec::<String>::new());
    let base = served.server.base_url();
    assert_eq!(command, format!("curl -fsSL {base}/readyset-orchestrator.sh | sh"));
    expect![[r#"
        status: exit status: 0
        --- stdout
        ReadySet <tag> (CloudFormation templates <tag>)

        Templates of this release:
          readyset-mysql-super       https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-mysql-super.yaml
          readyset-vpc               https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-vpc.yaml
          readyset-server            https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-server.yaml
          readyset-mysql-adapter     https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-mysql-adapter.yaml
          readyset-postgres-adapter  https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-postgres-adapter.yaml
          readyset-bastion           https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-bastion.yaml

        Next: curl -fsSL <https>/readyset-orchestrator.sh | sh -s -- launch --template readyset-mysql-super --region <us-east-1|us-east-2|us-west-2>
        --- stderr
    "#]]
    .assert_eq(&dash);
}

#[test]
fn the_documentation_prints_the_command_the_tests_run() {
    let command = customer_command(&config().public_base_url);
    for document in ["README.md", "RELEASE.md"] {
        let body = std::fs::read_to_string(workspace_root().join(document)).unwrap();
        assert!(body.contains(&format!("`{command}`")), "{document} does not show `{command}`");
        let other: Vec<&str> = body
            .lines()
            .filter(|line| line.contains("| sh") && !line.contains(&command) && line.contains("curl -"))
            .collect();
        assert!(other.is_empty(), "{document} shows another customer command: {other:?}");
    }
}

/// Every prefix of the rendered wrapper, piped into each shell: none may run the
/// installer (which prints to standard output), exit 0 or leave a file behind. The
/// prefix that ends at the closing brace is the whole script; only it runs.
#[test]
fn a_download_cut_at_any_byte_runs_nothing() {
    let served = served();
    let script = served.script();
    let whole = script.iter().rposition(|byte| *byte == b'}').unwrap() + 1;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = SHELLS
            .iter()
            .map(|shell| {
                let (served, script) = (&served, &script);
                scope.spawn(move || cut_runs(served, shell, &script[..whole]))
            })
            .collect();
        runs.into_iter().flat_map(|run| run.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} prefixes misbehaved, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    assert_eq!(served.leftovers(), Vec::<String>::new());
    for shell in SHELLS {
        let output = run_with_stdin(&served, &shell_program(shell), &shell[1..], &script);
        assert!(
            output.status.success() && text(&output.stdout).starts_with("ReadySet "),
            "{}",
            served.normalise(&output)
        );
    }
}

fn cut_runs(served: &Served, shell: &[&str], script: &[u8]) -> Vec<String> {
    let program = shell_program(shell);
    (1..script.len())
        .filter_map(|length| {
            let output = run_with_stdin(served, &program, &shell[1..], &script[..length]);
            (output.status.success() || !output.stdout.is_empty()).then(|| {
                format!("{} with {length} bytes: {}, stdout {:?}", shell.join(" "), output.status, text(&output.stdout))
            })
        })
        .collect()
}

/// The shell reads `input` as `curl | sh` gives it. It runs without `setsid` (one
/// process less for each of the many cuts): were a cut to run the installer, the
/// installer would find no terminal in CI and print, which the test catches.
fn run_with_stdin(served: &Served, program: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut command = Command::new(program);
    command.args(args);
    served.environment(&mut command);
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A shell may stop reading at a syntax error before the input ends.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// The commands the wrapper needs besides a download tool and a SHA-256 tool.
const BASICS: &[&str] = &["uname", "mktemp", "mkdir", "rm", "chmod", "cut", "sed", "grep"];

/// Each download tool alone, over HTTPS from the test server, then with every download
/// redirected to plain HTTP and to FTP: curl refuses to follow, wget follows and the
/// wrapper refuses what it fetched (or failed to fetch); then a plain HTTP base URL,
/// refused before any request even with the checksum opt-out. In no case does the
/// installer run. The BusyBox case
/// has only BusyBox's applets on PATH, so its wget uses BusyBox's own TLS, which does
/// not check certificates (it says so); the published SHA-256 still guards the binary.
#[test]
fn downloads_use_https_only_with_curl_gnu_wget_and_busybox_wget() {
    let served = served();
    let bin = served.scratch.path().join("bin");
    let tools: [(&str, PathBuf, &[&str]); 3] = [
        ("curl", path_with(&bin.join("curl"), &[BASICS, &["curl", "sha256sum"]].concat()), &["dash"]),
        ("GNU wget", path_with(&bin.join("wget"), &[BASICS, &["wget", "sha256sum"]].concat()), &["dash"]),
        ("BusyBox wget", busybox_applets(&bin.join("busybox")), &["busybox", "sh"]),
    ];
    let mut report = String::new();
    for (tool, path, shell) in tools {
        let cases = [
            ("HTTPS", served.server.base_url()),
            ("redirect to HTTP", served.server.redirecting_base_url("http")),
            ("redirect to FTP", served.server.redirecting_base_url("ftp")),
            ("plain HTTP, checksum opt-out set", served.server.plain_base_url()),
        ];
        for (case, base) in cases {
            let before = served.server.requests().len();
            let mut command = Command::new(shell_program(shell));
            command.args(&shell[1..]).arg(served.scratch.path().join("wrapper.sh")).arg("--version");
            served.environment(&mut command);
            let output = command
                .env("PATH", &path)
                .env("READYSET_INSTALLER_BASE_URL", &base)
                .env("READYSET_INSTALLER_SKIP_CHECKSUM", "1")
                .output()
                .unwrap();
            report += &format!("## {tool}, {case}\n{}", served.normalise(&output));
            report += &format!("--- requests\n{}\n", served.normalise_text(&served.server.requests()[before..]));
        }
    }
    assert_eq!(served.leftovers(), Vec::<String>::new());
    expect![[r###"
        ## curl, HTTPS
        status: exit status: 0
        --- stdout
        readyset-installer <tag> (CloudFormation templates <tag>)
        --- stderr
        --- requests
        https "GET /binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 200 -

        ## curl, redirect to HTTP
        status: exit status: 1
        --- stdout
        --- stderr
        curl: (1) Protocol "http" not supported or disabled in libcurl
        readyset-orchestrator: error: could not download <https>/to-http/binaries/<tag>/x86_64-unknown-linux-gnu
        --- requests
        https "GET /to-http/binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 302 -

        ## curl, redirect to FTP
        status: exit status: 1
        --- stdout
        --- stderr
        curl: (1) Protocol "ftp" not supported or disabled in libcurl
        readyset-orchestrator: error: could not download <https>/to-ftp/binaries/<tag>/x86_64-unknown-linux-gnu
        --- requests
        https "GET /to-ftp/binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 302 -

        ## curl, plain HTTP, checksum opt-out set
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: READYSET_INSTALLER_BASE_URL is <http>, but the installer is downloaded over HTTPS only; set it to an https:// URL, or unset it to download from the published location
        --- requests

        ## GNU wget, HTTPS
        status: exit status: 0
        --- stdout
        readyset-installer <tag> (CloudFormation templates <tag>)
        --- stderr
        --- requests
        https "GET /binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 200 -

        ## GNU wget, redirect to HTTP
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: the server redirected the download of <https>/to-http/binaries/<tag>/x86_64-unknown-linux-gnu to <http>/binaries/<tag>/x86_64-unknown-linux-gnu, which is not HTTPS; refusing it. Report this to ReadySet
        --- requests
        https "GET /to-http/binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 302 -
        http "GET /binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 200 -

        ## GNU wget, redirect to FTP
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: the server redirected the download of <https>/to-ftp/binaries/<tag>/x86_64-unknown-linux-gnu to <ftp>/binaries/<tag>/x86_64-unknown-linux-gnu, which is not HTTPS; refusing it. Report this to ReadySet
        --- requests
        https "GET /to-ftp/binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 302 -

        ## GNU wget, plain HTTP, checksum opt-out set
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: READYSET_INSTALLER_BASE_URL is <http>, but the installer is downloaded over HTTPS only; set it to an https:// URL, or unset it to download from the published location
        --- requests

        ## BusyBox wget, HTTPS
        status: exit status: 0
        --- stdout
        readyset-installer <tag> (CloudFormation templates <tag>)
        --- stderr
        --- requests
        https "GET /binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 200 -

        ## BusyBox wget, redirect to HTTP
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: the server redirected the download of <https>/to-http/binaries/<tag>/x86_64-unknown-linux-gnu to <http>/binaries/<tag>/x86_64-unknown-linux-gnu, which is not HTTPS; refusing it. Report this to ReadySet
        --- requests
        https "GET /to-http/binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 302 -
        http "GET /binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 200 -

        ## BusyBox wget, redirect to FTP
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: the server redirected the download of <https>/to-ftp/binaries/<tag>/x86_64-unknown-linux-gnu to <ftp>/binaries/<tag>/x86_64-unknown-linux-gnu, which is not HTTPS; refusing it. Report this to ReadySet
        --- requests
        https "GET /to-ftp/binaries/<tag>/x86_64-unknown-linux-gnu HTTP/1.1" 302 -

        ## BusyBox wget, plain HTTP, checksum opt-out set
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: READYSET_INSTALLER_BASE_URL is <http>, but the installer is downloaded over HTTPS only; set it to an https:// URL, or unset it to download from the published location
        --- requests

    "###]].assert_eq(&report);
}

fn busybox_applets(dir: &Path) -> PathBuf {
    let busybox = system_tool("busybox", "busybox");
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for applet in text(&list.stdout).lines() {
        symlink(&busybox, dir.join(applet)).unwrap();
    }
    dir.to_owned()
}

/// macOS as the wrapper sees it through stand-ins for `uname` and `sysctl` (Rosetta
/// reports `sysctl.proc_translated` 1), with `shasum` (Perl's, as on macOS) as the
/// only SHA-256 tool.
#[test]
fn on_macos_the_native_installer_is_chosen_and_checked_with_shasum() {
    let served = served();
    let mut report = String::new();
    for (machine, translated) in [("x86_64", "0"), ("x86_64", "1"), ("arm64", "")] {
        let bin = path_with(
            &served.scratch.path().join(format!("bin-{machine}-{translated}")),
            &["mktemp", "mkdir", "rm", "chmod", "cut", "sed", "grep", "curl", "shasum"],
        );
        stand_in(&bin.join("uname"), &format!("case \"$1\" in -s) echo Darwin ;; -m) echo {machine} ;; esac"));
        let sysctl = if translated.is_empty() { "exit 1".to_owned() } else { format!("echo {translated}") };
        stand_in(&bin.join("sysctl"), &sysctl);
        let mut command = Command::new(shell_program(&["dash"]));
        command.arg(served.scratch.path().join("wrapper.sh")).args(["launch", "--region", "us-east-2"]);
        served.environment(&mut command);
        let output = command.env("PATH", &bin).output().unwrap();
        report += &format!("## uname -m {machine}, proc_translated {translated:?}\n{}", served.normalise(&output));
    }
    expect![[r###"
        ## uname -m x86_64, proc_translated "0"
        status: exit status: 0
        --- stdout
        macOS x86_64 installer: launch --region us-east-2
        --- stderr
        ## uname -m x86_64, proc_translated "1"
        status: exit status: 0
        --- stdout
        macOS arm64 installer: launch --region us-east-2
        --- stderr
        ## uname -m arm64, proc_translated ""
        status: exit status: 0
        --- stdout
        macOS arm64 installer: launch --region us-east-2
        --- stderr
    "###]]
    .assert_eq(&report);
}

fn stand_in(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A case's name, the command line and the environment it adds.
type Case = (&'static str, Vec<String>, Vec<(&'static str, PathBuf)>);

/// A `TMPDIR` that is missing or mounted `noexec` (in a private mount namespace made
/// with `unshare`) falls back to the user's cache directory with a note; when that is
/// unusable too, the wrapper stops and names the variable to set.
#[test]
fn a_temporary_directory_that_cannot_run_programs_falls_back_or_says_what_to_set() {
    let served = served();
    let scratch = served.scratch.path();
    let noexec = scratch.join("noexec");
    std::fs::create_dir_all(&noexec).unwrap();
    std::fs::write(scratch.join("not-a-directory"), "").unwrap();
    let wrapper = scratch.join("wrapper.sh").display().to_string();
    let unshare = system_tool("unshare", "util-linux").display().to_string();
    let dash = shell_program(&["dash"]).display().to_string();
    let cases: [Case; 3] = [
        (
            "TMPDIR missing",
            vec![dash.clone(), wrapper.clone(), "--version".into()],
            vec![("TMPDIR", scratch.join("gone"))],
        ),
        (
            "TMPDIR mounted noexec",
            vec![
                unshare,
                "-rm".into(),
                dash.clone(),
                "-c".into(),
                format!("mount -t tmpfs -o noexec tmpfs {} && exec {dash} {wrapper} --version", noexec.display()),
            ],
            vec![("TMPDIR", noexec.clone())],
        ),
        (
            "TMPDIR missing, cache unusable",
            vec![dash, wrapper, "--version".into()],
            vec![("TMPDIR", scratch.join("gone")), ("XDG_CACHE_HOME", scratch.join("not-a-directory"))],
        ),
    ];
    let mut report = String::new();
    for (case, argv, env) in cases {
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        served.environment(&mut command);
        command.envs(env);
        let output = command.output().unwrap();
        report += &format!("## {case}\n{}", served.normalise(&output));
    }
    assert_eq!(served.leftovers(), Vec::<String>::new());
    expect![[r#"
        ## TMPDIR missing
        status: exit status: 0
        --- stdout
        readyset-installer <tag> (CloudFormation templates <tag>)
        --- stderr
        readyset-orchestrator: note: TMPDIR=<scratch>/gone cannot hold a program that runs (missing, read-only or mounted noexec); using <scratch>/home/.cache/readyset-installer
        ## TMPDIR mounted noexec
        status: exit status: 0
        --- stdout
        readyset-installer <tag> (CloudFormation templates <tag>)
        --- stderr
        readyset-orchestrator: note: TMPDIR=<scratch>/noexec cannot hold a program that runs (missing, read-only or mounted noexec); using <scratch>/home/.cache/readyset-installer
        ## TMPDIR missing, cache unusable
        status: exit status: 1
        --- stdout
        --- stderr
        readyset-orchestrator: error: found no directory to run the installer from: TMPDIR=<scratch>/gone and <scratch>/not-a-directory/readyset-installer are missing, read-only or mounted noexec. Set TMPDIR to a writable directory on a filesystem that allows running programs, and run this again
    "#]].assert_eq(&report);
}

/// On a terminal (a pseudo-terminal from `script`), the installer run by
/// `curl ... | sh` asks on the terminal and reads the answers there, not from the pipe
/// that carried the script: an empty answer takes the offered template, a wrong region
/// is asked again.
#[test]
fn on_a_terminal_the_installer_asks_there_and_prints_the_console_link() {
    let served = served();
    let mut command = Command::new(system_tool("script", "bsdutils"));
    command.args(["--quiet", "--return", "--command", &served.customer_command(), "/dev/null"]);
    served.environment(&mut command);
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let screen = Screen::watch(child.stdout.take().unwrap());
    {
        use std::io::Write;
        let mut keyboard = child.stdin.take().unwrap();
        // Each answer is typed once its question is on the screen, as a person would:
        // the terminal echoes what is typed when it is typed.
        let region = "Region (us-east-1, us-east-2, us-west-2): ";
        for (question, seen, answer) in
            [("[readyset-mysql-super]: ", 1, "\n"), (region, 1, "mars-1\n"), (region, 2, "us-west-2\n")]
        {
            screen.wait_for(question, seen);
            keyboard.write_all(answer.as_bytes()).unwrap();
        }
        screen.wait_for("create the stack from this link", 1);
    }
    let mut output = child.wait_with_output().unwrap();
    output.stdout = screen.contents();
    assert_eq!(served.leftovers(), Vec::<String>::new());
    expect![[r#"
        status: exit status: 0
        --- stdout
        ReadySet <tag> (CloudFormation templates <tag>)

        Templates of this release:
          readyset-mysql-super       https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-mysql-super.yaml
          readyset-vpc               https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-vpc.yaml
          readyset-server            https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-server.yaml
          readyset-mysql-adapter     https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-mysql-adapter.yaml
          readyset-postgres-adapter  https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-postgres-adapter.yaml
          readyset-bastion           https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-bastion.yaml

        Template (readyset-mysql-super, readyset-vpc, readyset-server, readyset-mysql-adapter, readyset-postgres-adapter, readyset-bastion) [readyset-mysql-super]: 
        Region (us-east-1, us-east-2, us-west-2): mars-1
        `mars-1` is not one of them; type one as shown.
        Region (us-east-1, us-east-2, us-west-2): us-west-2
        Have ready:
          - a Secrets Manager secret in us-west-2 whose value is your database's URL; paste its ARN into UpstreamDatabaseSecretArn (only the adapter may read it; if a key of your own encrypts it, paste that key's ARN into UpstreamDatabaseSecretKmsKeyArn). To make one: aws secretsmanager create-secret --region us-west-2 --name readyset-upstream-db-url --secret-string 'mysql://user:password@host:3306/database'
          - an EC2 key pair in us-west-2 (KeyName), to reach the instances through the bastion; to make one: aws ec2 create-key-pair --region us-west-2 --key-name readyset --query KeyMaterial --output text > readyset.pem
          - your address as a CIDR for SshCidr, such as 203.0.113.7/32: only it may SSH to the bastion
          - on the review page, tick "I acknowledge that AWS CloudFormation might create IAM resources" (CAPABILITY_IAM): the server and each adapter get a role that may tell the stack whether ReadySet started, and an adapter's may also read that one secret
        Then create the stack from this link, signed in to the AWS account that will run ReadySet:
        https://console.aws.amazon.com/cloudformation/home?region=us-west-2#/stacks/create/review?templateURL=https%3A%2F%2Freadysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com%2F<tag>%2Freadyset%2Ftemplates%2Freadyset-mysql-super.yaml&stackName=readyset&param_TemplatePrefix=<tag>%2Freadyset%2Ftemplates&param_DeploymentName=readyset
        --- stderr
    "#]].assert_eq(&served.normalise(&output));
}

/// What a terminal showed, read as it arrives.
struct Screen {
    shown: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Screen {
    fn watch(mut from: impl std::io::Read + Send + 'static) -> Screen {
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = shown.clone();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(read @ 1..) = from.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
        });
        Screen { shown, reader: Some(reader) }
    }

    /// Waits (at most a minute) until `text` has been shown `times` times.
    fn wait_for(&self, text: &str, times: usize) {
        let started = std::time::Instant::now();
        while self.text().matches(text).count() < times {
            assert!(started.elapsed().as_secs() < 60, "the terminal never showed {text:?}:\n{}", self.text());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn text(&self) -> String {
        text(&self.shown.lock().unwrap())
    }

    /// Everything shown, once the program has ended.
    fn contents(mut self) -> Vec<u8> {
        self.reader.take().unwrap().join().unwrap();
        self.shown.lock().unwrap().clone()
    }
}

/// `launch` checks the stack name by CloudFormation's rule before making a link, and
/// `--json` gives scripts one object; `templates --json` an array.
#[test]
fn launch_checks_the_stack_name_and_speaks_json() {
    let served = served();
    let run = |args: &[&str]| served.normalise(&Command::new(&served.linux_installer).args(args).output().unwrap());
    let mut report = String::new();
    for args in [
        &["launch", "--template", "readyset-vpc", "--region", "us-east-2", "--stack-name", "9lives"][..],
        &["launch", "--template", "readyset-vpc", "--region", "us-east-2", "--stack-name", "my_stack"],
        &["launch", "--template", "readyset-mysql-super", "--region", "us-west-2", "--stack-name", "prod-1", "--json"],
    ] {
        report += &format!("## readyset-installer {}\n{}", args.join(" "), run(args));
    }
    let listed = Command::new(&served.linux_installer).args(["templates", "--json"]).output().unwrap();
    let templates: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = templates.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, crate::support::site::public_templates());
    expect![[r###"
        ## readyset-installer launch --template readyset-vpc --region us-east-2 --stack-name 9lives
        status: exit status: 2
        --- stdout
        --- stderr
        error: invalid value '9lives' for '--stack-name <STACK_NAME>': `9lives` is not a stack name CloudFormation accepts: it must start with a letter and hold only letters, digits and hyphens, at most 128 characters (for example `readyset-prod`)

        For more information, try '--help'.
        ## readyset-installer launch --template readyset-vpc --region us-east-2 --stack-name my_stack
        status: exit status: 2
        --- stdout
        --- stderr
        error: invalid value 'my_stack' for '--stack-name <STACK_NAME>': `my_stack` is not a stack name CloudFormation accepts: it must start with a letter and hold only letters, digits and hyphens, at most 128 characters (for example `readyset-prod`)

        For more information, try '--help'.
        ## readyset-installer launch --template readyset-mysql-super --region us-west-2 --stack-name prod-1 --json
        status: exit status: 0
        --- stdout
        {"capabilities":["CAPABILITY_IAM"],"console_url":"https://console.aws.amazon.com/cloudformation/home?region=us-west-2#/stacks/create/review?templateURL=https%3A%2F%2Freadysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com%2F<tag>%2Freadyset%2Ftemplates%2Freadyset-mysql-super.yaml&stackName=prod-1&param_TemplatePrefix=<tag>%2Freadyset%2Ftemplates&param_DeploymentName=prod-1","prepare":["a Secrets Manager secret in us-west-2 whose value is your database's URL; paste its ARN into UpstreamDatabaseSecretArn (only the adapter may read it; if a key of your own encrypts it, paste that key's ARN into UpstreamDatabaseSecretKmsKeyArn). To make one: aws secretsmanager create-secret --region us-west-2 --name readyset-upstream-db-url --secret-string 'mysql://user:password@host:3306/database'","an EC2 key pair in us-west-2 (KeyName), to reach the instances through the bastion; to make one: aws ec2 create-key-pair --region us-west-2 --key-name readyset --query KeyMaterial --output text > readyset.pem","your address as a CIDR for SshCidr, such as 203.0.113.7/32: only it may SSH to the bastion","on the review page, tick \"I acknowledge that AWS CloudFormation might create IAM resources\" (CAPABILITY_IAM): the server and each adapter get a role that may tell the stack whether ReadySet started, and an adapter's may also read that one secret"],"region":"us-west-2","stack_name":"prod-1","template":"readyset-mysql-super","template_url":"https://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/<tag>/readyset/templates/readyset-mysql-super.yaml"}
        --- stderr
    "###]].assert_eq(&report);
}
