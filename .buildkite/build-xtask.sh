#!/usr/bin/env bash
# The pipeline's "Build the xtask" step: builds the xtask-aws binary that the later build
# and ops steps of this build run (it runs every command, the lean ones too). Buildkite
# records the SHA-256 of the artifact this step uploads; .buildkite/xtask.sh checks the
# download against that record. A dev build: quick, and it shares the checks' cache.
set -euo pipefail
cargo build --locked --package xtask-aws
mkdir -p target/pipeline
cp "${CARGO_TARGET_DIR:-target}/debug/xtask-aws" target/pipeline/xtask-aws
if command -v sha256sum >/dev/null; then
  sum=$(sha256sum target/pipeline/xtask-aws)
else
  sum=$(shasum -a 256 target/pipeline/xtask-aws)
fi
echo "target/pipeline/xtask-aws: sha256 ${sum%% *}"
