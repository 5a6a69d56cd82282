//! The whole release path of the pipeline, rehearsed against the emulator.

mod support;

use std::{process::Command, sync::Mutex};

/// A rehearsal works in the checkout's target directory: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn the_release_path_of_the_pipeline_rehearses_end_to_end() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rehearse", "--no-install"])
        .current_dir(support::workspace_root())
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rehearse failed:\n{stdout}\n{stderr}");
    let report = stdout.split("Rehearsal report").nth(1).expect("a report");
    for step in [
        "Build the xtask",
        "Internal AMIs",
        "Internal templates",
        "Smoke test of the templates",
        "Release name matches the constants",
        "Release AMIs",
        "Release templates",
        "Installer for Linux",
        "Publish the installer",
        "Verify the release",
        "Run the installer through the published wrapper",
    ] {
        assert!(
            report.lines().any(|l| l.trim_start().starts_with("ok") && l.contains(step)),
            "{step} did not pass:\n{report}"
        );
    }
    assert!(
        report.lines().any(|l| l.trim_start().starts_with("skip") && l.contains("Installers for macOS")),
        "{report}"
    );
    assert!(
        report.contains("Not rehearsed (no macOS agent here): x86_64-apple-darwin, aarch64-apple-darwin"),
        "{report}"
    );
    assert!(stdout.contains("Release") && stdout.contains("verified"), "{stdout}");
}

#[test]
fn a_release_name_that_differs_from_the_constants_stops_the_rehearsal_at_the_check() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rehearse", "--no-install", "--release-name", "v-not-in-the-constants"])
        .current_dir(support::workspace_root())
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let report = stdout.split("Rehearsal report").nth(1).expect("a report");
    assert!(report.lines().any(|l| l.contains("FAIL") && l.contains("Release name matches the constants")), "{report}");
    assert!(
        report.lines().any(|l| l.trim_start().starts_with("not run") && l.contains("Publish the installer")),
        "{report}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not match release v-not-in-the-constants"));
}
