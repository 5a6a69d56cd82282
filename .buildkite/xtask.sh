#!/usr/bin/env bash
# Runs the xtask binary that the pipeline's first step built and uploaded, downloading it
# once per agent checkout, so the AWS steps do not each rebuild the AWS SDK.
set -euo pipefail
binary=target/debug/xtask-aws
if [ ! -x "$binary" ]; then
  buildkite-agent artifact download "$binary" .
  chmod +x "$binary"
fi
exec "$binary" "$@"
