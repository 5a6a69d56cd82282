#!/usr/bin/env bash
# Runs the xtask-aws binary that this build's "Build the xtask" step built: downloaded
# into a directory of this build alone (never a binary another build left in target/),
# and run only if its SHA-256 is the one that step recorded.
set -euo pipefail
build=${BUILDKITE_BUILD_ID:?.buildkite/xtask.sh runs inside a Buildkite job; elsewhere run cargo xtask}
case "$build" in
  *[!A-Za-z0-9-]*) echo "BUILDKITE_BUILD_ID $build is not a build ID" >&2; exit 1 ;;
esac
dir="${TMPDIR:-/tmp}/readyset-xtask-$build"
binary="$dir/target/pipeline/xtask-aws"
expected=$(buildkite-agent meta-data get xtask-aws-sha256)
if [ ! -f "$binary" ]; then
  mkdir -p "$dir"
  buildkite-agent artifact download target/pipeline/xtask-aws "$dir"
fi
if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$binary")
else
  actual=$(shasum -a 256 "$binary")
fi
actual=${actual%% *}
if [ "$actual" != "$expected" ]; then
  echo "refusing to run $binary: its sha256 is $actual, and this build's xtask step recorded $expected." >&2
  echo "Delete $dir and retry the step; if it fails again, retry the \"Build the xtask\" step." >&2
  exit 1
fi
chmod +x "$binary"
exec "$binary" "$@"
