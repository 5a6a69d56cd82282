//! Handing an AWS command to the `xtask-aws` binary. The lean `xtask` never links the
//! AWS SDK, so `cargo xtask release` builds in seconds; a command that talks to AWS runs
//! the same command line in `xtask-aws`, which cargo builds the first time it is needed.

use std::{ffi::OsString, process::Command};

use anyhow::Result;

use crate::adapters::workspace::Workspace;

/// Runs `xtask-aws` with these arguments in place of this process, so its output, exit
/// status and signals are the command's own. `XTASK_AWS_BINARY` names a prebuilt binary
/// (the pipeline's, checked by `.buildkite/xtask.sh`); otherwise `cargo run` builds the
/// one of this checkout, so it is never stale.
pub fn hand_over(workspace: &Workspace, args: &[OsString]) -> Result<()> {
    // A plain process rather than xshell: the child replaces this process (exec), which
    // xshell does not do.
    let mut command = match &workspace.env.aws_binary {
        Some(binary) => Command::new(binary),
        None => {
            let mut cargo = Command::new(&workspace.env.cargo);
            cargo.arg("run").arg("--package").arg("xtask-aws").arg("--manifest-path");
            cargo.arg(workspace.root.join("Cargo.toml")).arg("--");
            cargo
        }
    };
    command.args(args).current_dir(std::env::current_dir()?);
    exec(command)
}

#[cfg(unix)]
fn exec(mut command: Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    anyhow::bail!("cannot run {:?} for this AWS command: {error}", command.get_program())
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> Result<()> {
    use anyhow::Context;
    let status = command.status().with_context(|| format!("cannot run {:?}", command.get_program()))?;
    std::process::exit(status.code().unwrap_or(1))
}
