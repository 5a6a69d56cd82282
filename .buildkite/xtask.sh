#!/usr/bin/env bash
# Runs the xtask-aws binary that this build's "Build the xtask" step built (steps of the
# build and ops queues; release steps build their own with `cargo xtask`). Downloaded
# from that step by name into a fresh private directory (never a binary another job left
# in target/ or a shared /tmp), and run only if its SHA-256 is the one Buildkite
# recorded for that step's artifact, which no other job of the build can change.
set -euo pipefail
: "${BUILDKITE_BUILD_ID:?.buildkite/xtask.sh runs inside a Buildkite job; elsewhere run cargo xtask}"
artifact=target/pipeline/xtask-aws
dir=$(mktemp -d "${TMPDIR:-/tmp}/readyset-xtask.XXXXXXXX")
trap 'rm -rf "$dir"' EXIT
expected=$(buildkite-agent artifact shasum --sha256 --step xtask "$artifact")
buildkite-agent artifact download "$artifact" "$dir" --step xtask >&2
binary="$dir/$artifact"
if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$binary")
else
  actual=$(shasum -a 256 "$binary")
fi
actual=${actual%% *}
if [ "$actual" != "$expected" ]; then
  echo "refusing to run the xtask: the download of $artifact from step xtask has sha256 $actual, and Buildkite recorded $expected for that step's upload." >&2
  echo "Retry this step; if it fails again, retry the \"Build the xtask\" step." >&2
  exit 1
fi
chmod +x "$binary"
"$binary" "$@"
