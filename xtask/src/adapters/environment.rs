//! The process environment, read once when the xtask starts. Commands take what they
//! need from here; nothing else calls `std::env::var`, so what the xtask depends on is
//! listed in one place (the AWS SDK reads its own variables: credentials, endpoint).

use std::{ffi::OsString, path::PathBuf};

use anyhow::Result;

#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Set when the xtask runs as a Buildkite step (`BUILDKITE=true`).
    pub buildkite: Option<Buildkite>,
    /// The cargo that runs the xtask (`CARGO`, set by `cargo run`), else `cargo`.
    pub cargo: String,
    pub cargo_target_dir: Option<PathBuf>,
    /// `CARGO_HOME`, else `$HOME/.cargo`: where dependency sources sit, a path that must
    /// not end up in an installer.
    pub cargo_home: Option<PathBuf>,
    /// Names of the set variables that add compiler flags (`RUSTFLAGS`,
    /// `CARGO_ENCODED_RUSTFLAGS`, `CARGO_BUILD_RUSTFLAGS`, `CARGO_TARGET_<triple>_RUSTFLAGS`):
    /// an installer built with them would differ from every other machine's.
    pub rustflags_variables: Vec<String>,
    /// `RUSTC`, `STRIP` and `PACKER`: the programs to run, else their usual names.
    pub rustc: String,
    pub strip: String,
    pub packer: String,
    /// `XTASK_PYTHON`: the Python that has moto (the tests' emulator).
    pub python: Option<PathBuf>,
    /// `XTASK_AWS_BINARY`: a prebuilt `xtask-aws` for the AWS commands (the pipeline's,
    /// checked against its recorded SHA-256); without it they run through cargo.
    pub aws_binary: Option<PathBuf>,
    /// `AWS_ENDPOINT_URL`: where every AWS call goes instead of AWS (an emulator).
    pub aws_endpoint: Option<String>,
    /// Names of every `AWS_*` variable set, so a child that must talk to an emulator
    /// only can be given none of them (a profile, a token, a service endpoint).
    pub aws_variables: Vec<String>,
    /// `AWS_PROFILE` and the files it is read from (`AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`).
    pub aws_profile: Option<String>,
    pub aws_config_file: Option<PathBuf>,
    pub aws_credentials_file: Option<PathBuf>,
    /// `AWS_MAX_ATTEMPTS` and `AWS_POLL_DELAY_SECONDS` with their values: how long
    /// Packer's amazon plugin waits for an image, which an agent may tune.
    pub packer_polling: Vec<(String, String)>,
    /// `RUSTUP_HOME`, else `$HOME/.rustup`: where the toolchain is, which a user that
    /// CI runs the checks as must be let through to.
    pub rustup_home: Option<PathBuf>,
    pub path: OsString,
    pub home: Option<PathBuf>,
}

/// What a Buildkite agent tells a step about the build.
#[derive(Debug, Clone, Default)]
pub struct Buildkite {
    pub branch: String,
    /// `BUILDKITE_COMMIT`, parsed where a command needs it (it may be `HEAD`).
    pub commit: Option<String>,
    pub agent_name: Option<String>,
    pub build_number: Option<String>,
    /// The build's page, recorded in the release lock.
    pub build_url: Option<String>,
}

impl Environment {
    pub fn capture() -> Result<Environment> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let buildkite = match var("BUILDKITE").as_deref() {
            Some("true") => Some(Buildkite {
                branch: var("BUILDKITE_BRANCH").unwrap_or_default(),
                commit: var("BUILDKITE_COMMIT"),
                agent_name: var("BUILDKITE_AGENT_NAME"),
                build_number: var("BUILDKITE_BUILD_NUMBER"),
                build_url: var("BUILDKITE_BUILD_URL"),
            }),
            _ => None,
        };
        Ok(Environment {
            buildkite,
            cargo: var("CARGO").unwrap_or_else(|| "cargo".into()),
            cargo_target_dir: var("CARGO_TARGET_DIR").map(PathBuf::from),
            cargo_home: var("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cargo"))),
            rustflags_variables: std::env::vars_os()
                .filter_map(|(name, value)| (!value.is_empty()).then_some(name.into_string().ok()?))
                .filter(|name| name == "RUSTFLAGS" || name.starts_with("CARGO_") && name.ends_with("_RUSTFLAGS"))
                .collect(),
            rustc: var("RUSTC").unwrap_or_else(|| "rustc".into()),
            strip: var("STRIP").unwrap_or_else(|| "strip".into()),
            packer: var("PACKER").unwrap_or_else(|| "packer".into()),
            python: var("XTASK_PYTHON").map(PathBuf::from),
            aws_binary: var("XTASK_AWS_BINARY").map(PathBuf::from),
            aws_endpoint: var("AWS_ENDPOINT_URL"),
            aws_variables: std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .filter(|name| name.starts_with("AWS_"))
                .collect(),
            aws_profile: var("AWS_PROFILE"),
            aws_config_file: var("AWS_CONFIG_FILE").map(PathBuf::from),
            aws_credentials_file: var("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
            packer_polling: ["AWS_MAX_ATTEMPTS", "AWS_POLL_DELAY_SECONDS"]
                .into_iter()
                .filter_map(|name| Some((name.to_owned(), var(name)?)))
                .collect(),
            rustup_home: var("RUSTUP_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".rustup"))),
            path: std::env::var_os("PATH").unwrap_or_default(),
            home: var("HOME").map(PathBuf::from),
        })
    }

    /// The first file called `program` on PATH.
    pub fn which(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path).map(|dir| dir.join(program)).find(|path| path.is_file())
    }

    /// Whether `program` (a name looked up on PATH, or a path) exists.
    pub fn has_program(&self, program: &str) -> bool {
        if program.contains('/') {
            std::path::Path::new(program).is_file()
        } else {
            self.which(program).is_some()
        }
    }
}
