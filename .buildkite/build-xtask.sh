#!/usr/bin/env bash
# The pipeline's "Build the xtask" step: builds the xtask-aws binary that the later steps
# of this build run (it runs every command, the lean ones too), and records its SHA-256
# in the build's meta-data, which .buildkite/xtask.sh checks before running it. A dev
# build: quick, and it shares the checks' build cache.
set -euo pipefail
cargo build --locked --package xtask-aws
mkdir -p target/pipeline
cp "${CARGO_TARGET_DIR:-target}/debug/xtask-aws" target/pipeline/xtask-aws
if command -v sha256sum >/dev/null; then
  sum=$(sha256sum target/pipeline/xtask-aws)
else
  sum=$(shasum -a 256 target/pipeline/xtask-aws)
fi
sum=${sum%% *}
buildkite-agent meta-data set xtask-aws-sha256 "$sum"
echo "target/pipeline/xtask-aws: sha256 $sum"
